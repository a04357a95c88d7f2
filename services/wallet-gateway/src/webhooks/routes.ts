/**
 * A bank's webhook endpoints (docs/events.md): create, list, read, update (or disable), delete,
 * rotate the signing secret with an overlap, and the dead letters of an endpoint with their
 * redelivery. Endpoints live in the central database; dead letters in the database of their
 * event's shard. Every statement names the calling bank: another bank's endpoint is 404.
 *
 * A secret is shown once: in the answer that creates it. It is stored only sealed to the delivery
 * service (see @cbdc/shared/webhooks), and an Idempotency-Key replay of the request answers the
 * endpoint without it (the stored answer never holds it): a bank that lost the answer rotates.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf, type Transaction } from '@cbdc/http/idempotency';
import { problemResponses } from '@cbdc/http/openapi';
import { EVENT_TYPES, parseEventId } from '@cbdc/shared/events';
import { LIMITS } from '@cbdc/shared/limits';
import { ApiError } from '@cbdc/shared/problem';
import { textSchema } from '@cbdc/shared/schemas';
import { newWebhookSecret, sealSecret, webhookUrlProblem, type WebhookUrlPolicy } from '@cbdc/shared/webhooks';
import type { GatewayContext } from '../context.js';
import { eventWireSchema } from '../events/routes.js';

/** What the gateway needs for webhooks: the delivery service's sealing public key (none: endpoints cannot be created) and the URL rule. */
export interface GatewayWebhooks {
  sealingPublicKey: Buffer | null;
  urlPolicy: WebhookUrlPolicy;
}

interface EndpointRow {
  id: string;
  bank_id: string;
  url: string;
  description: string | null;
  event_types: string[] | null;
  enabled: boolean;
  previous_secret_expires_at_ms: bigint | null;
  created_at_ms: bigint;
  updated_at_ms: bigint;
}

interface DeadLetterRow {
  endpoint_id: string;
  shard: number;
  seq: bigint;
  type: string;
  payload: string;
  attempts: number;
  last_error: string;
  dead_at_ms: bigint;
  status: 'dead' | 'redelivery_requested' | 'redelivered';
  redelivery_requested_at_ms: bigint | null;
  redelivered_at_ms: bigint | null;
}

const COLUMNS = 'id, bank_id, url, description, event_types, enabled, previous_secret_expires_at_ms, created_at_ms, updated_at_ms';
const iso = (ms: bigint | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

const endpointSchema = z
  .object({
    id: z.string().meta({ example: 'we_4f1c2a9d0b7e6a5c3d2e1f00' }),
    url: z.string(),
    description: z.string().nullable(),
    eventTypes: z.array(z.string()).nullable().meta({ description: 'The types delivered; null: every type' }),
    enabled: z.boolean(),
    previousSecretExpiresAt: z.string().nullable().meta({ description: 'While a rotation overlaps: until when deliveries are signed with the previous secret too' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'WebhookEndpoint' });
const withSecretSchema = endpointSchema
  .extend({ secret: z.string().optional().meta({ description: 'The signing secret (whsec_...), shown only in the answer that creates it; absent from an Idempotency-Key replay', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }) })
  .meta({ id: 'WebhookEndpointWithSecret' });
const deadLetterSchema = z
  .object({
    eventId: z.string(),
    type: z.string(),
    attempts: z.number().int(),
    lastError: z.string(),
    deadAt: z.string(),
    status: z.enum(['dead', 'redelivery_requested', 'redelivered']),
    redeliveryRequestedAt: z.string().nullable(),
    redeliveredAt: z.string().nullable(),
    event: eventWireSchema,
  })
  .meta({ id: 'WebhookDeadLetter' });

function endpointView(r: EndpointRow, nowMs: number) {
  const overlapping = r.previous_secret_expires_at_ms !== null && r.previous_secret_expires_at_ms > BigInt(nowMs);
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    eventTypes: r.event_types,
    enabled: r.enabled,
    previousSecretExpiresAt: overlapping ? iso(r.previous_secret_expires_at_ms) : null,
    createdAt: iso(r.created_at_ms)!,
    updatedAt: iso(r.updated_at_ms)!,
  };
}

function deadLetterView(d: DeadLetterRow) {
  return {
    eventId: `evt_${d.shard}_${d.seq}`,
    type: d.type,
    attempts: d.attempts,
    lastError: d.last_error,
    deadAt: iso(d.dead_at_ms)!,
    status: d.status,
    redeliveryRequestedAt: iso(d.redelivery_requested_at_ms),
    redeliveredAt: iso(d.redelivered_at_ms),
    event: JSON.parse(d.payload),
  };
}

const notFound = () => new ApiError('webhook_endpoint_not_found', 'no such webhook endpoint for this bank', { errors: [{ field: 'params/endpointId', rule: 'own_endpoint', message: 'is not an endpoint of this bank' }] });
const notConfigured = () => new ApiError('webhooks_not_configured', 'this gateway has no WEBHOOK_SEALING_PUBLIC_KEY; nothing was done', { headers: { 'retry-after': '60' } });

const endpointParams = z.strictObject({ endpointId: z.string().regex(/^we_[0-9a-f]{24}$/, { error: 'endpoint_id: must be an endpoint id such as we_4f1c2a9d0b7e6a5c3d2e1f00' }) });
const eventTypesSchema = z
  .array(z.enum(EVENT_TYPES, { error: 'event_type: must be a type of docs/events.md' }))
  .min(1, { error: 'event_types_min: list at least one type, or leave out the field for every type' })
  .max(EVENT_TYPES.length, { error: `event_types_max: at most ${EVENT_TYPES.length} types` })
  .refine((l) => new Set(l).size === l.length, { error: 'event_types_unique: each type once' });
const descriptionSchema = textSchema('description', LIMITS.webhookDescriptionBytesMax);

export async function webhookRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { webhooks } = ctx;
  const urlSchema = z
    .string({ error: 'url_type: must be a string' })
    .superRefine((text, issue) => {
      const problem = webhookUrlProblem(text, webhooks.urlPolicy);
      if (problem) issue.addIssue({ code: 'custom', message: `${problem.rule}: ${problem.message}`, input: text });
    })
    .describe('https URL of a public host (configured hosts may use http)');
  const sealing = () =>
    webhooks.sealingPublicKey ??
    (() => {
      throw notConfigured();
    })();
  const ownOr404 = async (tx: Transaction | typeof ctx.sql, bankId: string, id: string, forUpdate = false): Promise<EndpointRow> => {
    const [row] = await tx<EndpointRow[]>`select ${tx.unsafe(COLUMNS)} from webhook_endpoints where id = ${id} and bank_id = ${bankId} ${forUpdate ? tx`for update` : tx``}`;
    if (!row) throw notFound();
    return row;
  };
  /** The secret of a fresh answer, added after the stored answer was written (never into it). */
  const withSecret = (secret: { value: string | null }) => async (answer: { status: number; body: unknown }) => (secret.value === null ? answer : { ...answer, body: { ...(answer.body as object), secret: secret.value } });

  r.post(
    '/v1/webhook-endpoints',
    {
      schema: {
        operationId: 'createWebhookEndpoint',
        requestHeaders: { 'idempotency-key': 'optional' },
        tags: ['webhooks'],
        summary: 'Create a webhook endpoint (returns its signing secret, once)',
        description: `Deliveries of the bank's events, signed per Standard Webhooks (docs/events.md), begin with the events committed after this call. At most ${LIMITS.webhookEndpointsPerBankMax} endpoints per bank. Idempotency-Key: a replay answers the endpoint without its secret.`,
        body: z.strictObject({ url: urlSchema, eventTypes: eventTypesSchema.optional(), description: descriptionSchema.optional() }),
        response: { 201: withSecretSchema, ...problemResponses(400, 401, 409, 422, 429, 503) },
      },
    },
    async (req, reply) => {
      const publicKey = sealing();
      const secret = { value: null as string | null };
      return ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          // One creation at a time per bank, so that the count below holds.
          await tx`select pg_advisory_xact_lock(hashtext(${`webhook-endpoints:${req.principal}`}))`;
          const [{ n }] = await tx<{ n: number }[]>`select count(*)::int as n from webhook_endpoints where bank_id = ${req.principal}`;
          if (n >= LIMITS.webhookEndpointsPerBankMax) throw new ApiError('webhook_endpoint_limit', `this bank has ${n} webhook endpoints, the most allowed`);
          const id = `we_${randomBytes(12).toString('hex')}`;
          secret.value = newWebhookSecret();
          const nowMs = ctx.now();
          const [row] = await tx<EndpointRow[]>`
            insert into webhook_endpoints (id, bank_id, url, description, event_types, secret_sealed, created_at_ms, updated_at_ms)
            values (${id}, ${req.principal}, ${req.body.url}, ${req.body.description ?? null}, ${req.body.eventTypes ?? null}, ${sealSecret(publicKey, id, secret.value)}, ${nowMs}, ${nowMs})
            returning ${tx.unsafe(COLUMNS)}`;
          return { status: 201, body: endpointView(row, nowMs) };
        },
        { after: withSecret(secret) },
      );
    },
  );

  r.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        operationId: 'listWebhookEndpoints',
        tags: ['webhooks'],
        summary: "The bank's webhook endpoints",
        description: `All of them (at most ${LIMITS.webhookEndpointsPerBankMax}), oldest first. Secrets are never shown here.`,
        response: { 200: z.object({ endpoints: z.array(endpointSchema) }), ...problemResponses(401, 429, 503) },
      },
    },
    async (req) => {
      const rows = await ctx.sql<EndpointRow[]>`select ${ctx.sql.unsafe(COLUMNS)} from webhook_endpoints where bank_id = ${req.principal} order by created_at_ms, id`;
      return { endpoints: rows.map((row) => endpointView(row, ctx.now())) };
    },
  );

  r.get(
    '/v1/webhook-endpoints/:endpointId',
    {
      schema: {
        operationId: 'getWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Read a webhook endpoint',
        description: "One of the bank's endpoints; another bank's is 404. The secret is never shown here.",
        params: endpointParams,
        response: { 200: endpointSchema, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req) => endpointView(await ownOr404(ctx.sql, req.principal, req.params.endpointId), ctx.now()),
  );

  r.patch(
    '/v1/webhook-endpoints/:endpointId',
    {
      schema: {
        operationId: 'updateWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Change or disable a webhook endpoint',
        description:
          'Changes the URL, description or types, or disables (enabled: false) the endpoint. A disabled endpoint keeps its place: enabled again, it resumes where it stopped (events past retention are passed over). eventTypes: null delivers every type.',
        params: endpointParams,
        body: z
          .strictObject({ url: urlSchema.optional(), description: descriptionSchema.nullable().optional(), eventTypes: eventTypesSchema.nullable().optional(), enabled: z.boolean({ error: 'boolean: must be true or false' }).optional() })
          .refine((b) => Object.keys(b).length > 0, { error: 'change_required: name at least one field to change' }),
        response: { 200: endpointSchema, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req) =>
      ctx.sql.begin(async (tx) => {
        const current = await ownOr404(tx as unknown as Transaction, req.principal, req.params.endpointId, true);
        const b = req.body;
        const [row] = await tx<EndpointRow[]>`
          update webhook_endpoints set url = ${b.url ?? current.url}, description = ${b.description === undefined ? current.description : b.description},
            event_types = ${b.eventTypes === undefined ? current.event_types : b.eventTypes}, enabled = ${b.enabled ?? current.enabled}, updated_at_ms = ${ctx.now()}
          where id = ${current.id} and bank_id = ${req.principal} returning ${tx.unsafe(COLUMNS)}`;
        return endpointView(row, ctx.now());
      }),
  );

  r.delete(
    '/v1/webhook-endpoints/:endpointId',
    {
      schema: {
        operationId: 'deleteWebhookEndpoint',
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint',
        description: 'Deliveries stop; its cursors and dead letters are removed by the delivery service.',
        params: endpointParams,
        response: { 204: z.null().meta({ description: 'Deleted' }), ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req, reply) => {
      const gone = await ctx.sql`delete from webhook_endpoints where id = ${req.params.endpointId} and bank_id = ${req.principal} returning id`;
      if (gone.length === 0) throw notFound();
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/v1/webhook-endpoints/:endpointId/rotate-secret',
    {
      schema: {
        operationId: 'rotateWebhookSecret',
        requestHeaders: { 'idempotency-key': 'optional' },
        tags: ['webhooks'],
        summary: "Rotate an endpoint's signing secret, with an overlap",
        description: `Returns the new secret (once). For overlapMs (default ${LIMITS.webhookSecretOverlapMsDefault}, at most ${LIMITS.webhookSecretOverlapMsMax}; 0 ends the old secret now) deliveries carry two signatures, the new secret's and the old one's, so the receiver can switch at any moment in between. A rotation during an overlap ends the older secret.`,
        params: endpointParams,
        body: z
          .strictObject({
            overlapMs: z
              .number({ error: 'integer: must be a whole number' })
              .int({ error: 'integer: must be a whole number' })
              .min(0, { error: 'overlap_min: must be at least 0' })
              .max(LIMITS.webhookSecretOverlapMsMax, { error: `overlap_max: at most ${LIMITS.webhookSecretOverlapMsMax} ms` })
              .optional(),
          })
          .default({}),
        response: { 200: withSecretSchema, ...problemResponses(400, 401, 404, 422, 429, 503) },
      },
    },
    async (req, reply) => {
      const publicKey = sealing();
      const secret = { value: null as string | null };
      return ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          const current = await ownOr404(tx, req.principal, req.params.endpointId, true);
          const nowMs = ctx.now();
          secret.value = newWebhookSecret();
          const overlapMs = req.body.overlapMs ?? LIMITS.webhookSecretOverlapMsDefault;
          const [row] = await tx<EndpointRow[]>`
            update webhook_endpoints set previous_secret_sealed = secret_sealed, previous_secret_expires_at_ms = ${nowMs + overlapMs},
              secret_sealed = ${sealSecret(publicKey, current.id, secret.value)}, updated_at_ms = ${nowMs}
            where id = ${current.id} and bank_id = ${req.principal} returning ${tx.unsafe(COLUMNS)}`;
          return { status: 200, body: endpointView(row, nowMs) };
        },
        { after: withSecret(secret) },
      );
    },
  );

  const deadLetterCursor = z.string().max(64, { error: 'cursor_max: must be at most 64 characters' }).optional();
  r.get(
    '/v1/webhook-endpoints/:endpointId/dead-letters',
    {
      schema: {
        operationId: 'listWebhookDeadLetters',
        tags: ['webhooks'],
        summary: "An endpoint's dead letters",
        description: 'Events whose delivery to this endpoint exhausted its retries (docs/events.md), by shard and seq, with the event as it was sent and the last error.',
        params: endpointParams,
        querystring: z.strictObject({
          limit: z.coerce
            .number({ error: 'integer: must be a whole number' })
            .int({ error: 'integer: must be a whole number' })
            .min(1, { error: 'page_size_min: must be at least 1' })
            .max(LIMITS.pageSizeMax, { error: `page_size_max: must be at most ${LIMITS.pageSizeMax}` })
            .default(LIMITS.pageSizeDefault),
          cursor: deadLetterCursor,
        }),
        response: { 200: z.object({ deadLetters: z.array(deadLetterSchema), nextCursor: z.string().nullable() }), ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req) => {
      await ownOr404(ctx.sql, req.principal, req.params.endpointId);
      const after = req.query.cursor === undefined ? { shard: -1, seq: 0n } : parseEventId(Buffer.from(req.query.cursor, 'base64url').toString('utf8'));
      if (after === null) throw new ApiError('invalid_request', 'bad cursor', { errors: [{ field: 'querystring/cursor', rule: 'cursor', message: 'must be a cursor returned by this endpoint' }] });
      const limit = req.query.limit;
      const parts = await ctx.ledger.readAll(
        (sql) => sql<DeadLetterRow[]>`
          select * from webhook_dead_letters where endpoint_id = ${req.params.endpointId} and bank_id = ${req.principal} and (shard, seq) > (${after.shard}, ${after.seq.toString()}::bigint)
          order by shard, seq limit ${limit + 1}`,
      );
      const rows = parts.flat().sort((a, b) => a.shard - b.shard || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { deadLetters: page.map(deadLetterView), nextCursor: rows.length > limit ? Buffer.from(`evt_${last.shard}_${last.seq}`).toString('base64url') : null };
    },
  );

  r.post(
    '/v1/webhook-endpoints/:endpointId/dead-letters/:eventId/redeliver',
    {
      schema: {
        operationId: 'redeliverWebhookDeadLetter',
        tags: ['webhooks'],
        summary: 'Deliver a dead letter again',
        description:
          "Asks the delivery service to send the event once more (same webhook-id, a fresh timestamp and signature), outside the endpoint's order. Answers 202 with the dead letter, status redelivery_requested; it reads redelivered once a 2xx came back, or dead again with the new error. Asking again is harmless.",
        params: endpointParams.extend({ eventId: z.string().regex(/^evt_\d{1,6}_\d{1,19}$/, { error: 'event_id: must be an event id such as evt_0_42' }) }),
        body: z.strictObject({}).optional(),
        response: { 202: deadLetterSchema, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req: FastifyRequest<{ Params: { endpointId: string; eventId: string } }>, reply) => {
      await ownOr404(ctx.sql, req.principal, req.params.endpointId);
      const event = parseEventId(req.params.eventId);
      const missing = () =>
        new ApiError('dead_letter_not_found', `no dead letter ${req.params.eventId} for this endpoint`, { errors: [{ field: 'params/eventId', rule: 'dead_letter', message: "is not a dead letter of this bank's endpoint" }] });
      if (event === null || event.shard >= ctx.shardCount) throw missing();
      const sql = ctx.ledger.writable(ctx.ledger.ofShard(event.shard));
      const [row] = await sql<DeadLetterRow[]>`
        update webhook_dead_letters set status = 'redelivery_requested', redelivery_requested_at_ms = ${ctx.now()}
        where endpoint_id = ${req.params.endpointId} and bank_id = ${req.principal} and shard = ${event.shard} and seq = ${event.seq.toString()}
        returning *`;
      if (!row) throw missing();
      return reply.code(202).send(deadLetterView(row));
    },
  );
}
