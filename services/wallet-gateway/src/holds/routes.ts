/**
 * Holds (conditional payments, docs/api.md "Holds"): the payer's bank places a customer-signed
 * hold; the payee's bank captures it (in full or in part), the payer's bank voids it, or it expires
 * and its money returns without any request. Readable by the payer's and the payee's bank only.
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf, type LeasedAnswer } from '@cbdc/http/idempotency';
import { problemResponses } from '@cbdc/http/openapi';
import type { HoldAction } from '@cbdc/shared/hold-authority';
import { amountMinorSchema, holdIdSchema, signedHoldSchema } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import { signedRequestAuthority, wantsAsync } from '../signed-request.js';
import { holdReceipt, holdView, visibleHold } from './store.js';
import { actOnHold, placeHold, type HoldAnswer } from './submit.js';

const amount = z.string().meta({ description: 'Fen, decimal string' });
const captureSchema = z
  .object({ status: z.enum(['pending', 'settled', 'rejected']), code: z.string().nullable() })
  .meta({ description: "Where the captured money is: pending (on its way to the payee's shard), settled, or rejected (the payee could not take it; it went back to the payer)" });
export const holdViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(['open', 'captured', 'voided', 'expired', 'rejected']),
    code: z.string().nullable().meta({ description: 'Why the hold was refused (rejected only); see docs/errors.md' }),
    payerWalletId: z.string(),
    payeeWalletId: z.string(),
    amountMinor: amount.meta({ description: 'The signed maximum, held while open' }),
    capturedMinor: amount.nullable(),
    returnedMinor: amount.nullable().meta({ description: 'What went back to the payer when the hold closed' }),
    capture: captureSchema.nullable(),
    nonce: z.string(),
    expiresAtMs: z.string(),
    holdExpiresAtMs: z.string(),
    memo: z.string(),
    shard: z.number().int(),
    batchSeq: z.string(),
    placedAtMs: z.string(),
    closedAtMs: z.string().nullable(),
  })
  .meta({ id: 'Hold' });
const pendingHoldSchema = z
  .object({ id: z.string(), status: z.literal('pending'), payerWalletId: z.string(), payeeWalletId: z.string(), amountMinor: amount, holdExpiresAtMs: z.string() })
  .meta({ id: 'PendingHold', description: 'Queued, not yet settled: read it with GET /v1/holds/{holdId}' });
const proofSchema = z.object({
  leafIndex: z.number().int(),
  path: z.array(z.string()),
  batch: z.object({ shard: z.number().int(), seq: z.string(), prevHash: z.string(), merkleRoot: z.string(), count: z.number().int(), timeMs: z.string(), hash: z.string(), signature: z.string() }),
  shardPublicKey: z.string(),
});
const holdReceiptSchema = z
  .object({
    leaves: z.array(
      proofSchema.extend({
        leaf: z.object({ holdId: z.string(), event: z.string(), payerWalletId: z.string(), payeeWalletId: z.string(), amountMinor: z.string(), capturedMinor: z.string(), capture: z.string(), code: z.string().nullable() }),
      }),
    ),
    legs: z.array(proofSchema.extend({ leg: z.object({ transferId: z.string(), leg: z.enum(['credit', 'refund']), walletId: z.string(), amountMinor: z.string(), status: z.enum(['applied', 'rejected']), code: z.string().nullable() }) })),
  })
  .meta({ id: 'HoldReceipt', description: 'Proofs of the hold leaves (docs/canonical-encoding.md) and of a capture’s legs between shards' });

/** 200 with a recorded hold (the only answer stored for an Idempotency-Key), 202 while pending, the problem if refused. */
function leasedAnswerOf(a: HoldAnswer): LeasedAnswer {
  if (a.kind === 'problem') return { status: a.problem.status, body: a.problem, contentType: 'application/problem+json', final: false };
  if (a.kind === 'pending') return { status: 202, body: a.view, headers: { location: `/v1/holds/${a.view.id}` }, final: false };
  return { status: 200, body: a.view, final: true };
}

function send(reply: FastifyReply, a: HoldAnswer) {
  const answer = leasedAnswerOf(a);
  if (answer.contentType) reply.type(answer.contentType);
  return reply
    .code(answer.status)
    .headers(answer.headers ?? {})
    .send(answer.body);
}

export async function holdRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const params = z.strictObject({ holdId: holdIdSchema });

  r.post(
    '/v1/holds',
    {
      schema: {
        operationId: 'placeHold',
        requestHeaders: { prefer: 'optional' },
        tags: ['holds'],
        summary: 'Place a customer-signed hold',
        description:
          "The payer's bank submits a hold its customer signed (docs/canonical-encoding.md, CBDC/hold/v1): settlement moves the amount from the payer's available balance into held money, or refuses it with a code (tier caps and the daily outflow apply now). Answers 200 with the hold (open or rejected), or 202 while it is pending (and with Prefer: respond-async). Idempotent by content: the hold id is the hash of what was signed.",
        body: signedHoldSchema,
        response: { 200: holdViewSchema, 202: pendingHoldSchema, ...problemResponses(400, 401, 404, 413, 415, 422, 429, 503) },
      },
    },
    async (req, reply) => send(reply, await placeHold(ctx, req.principal, req.body, wantsAsync(req))),
  );

  r.get(
    '/v1/holds/:holdId',
    {
      schema: {
        operationId: 'getHold',
        tags: ['holds'],
        summary: 'Read a hold',
        description: "The hold's state: open, captured (how much, and where the captured money is), voided, expired or rejected. Only the payer's bank and the payee's bank may read it; anyone else gets 404.",
        params,
        response: { 200: holdViewSchema, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req) => holdView(await visibleHold(ctx.ledger, req.principal, req.params.holdId), req.principal),
  );

  r.get(
    '/v1/holds/:holdId/receipt',
    {
      schema: {
        operationId: 'getHoldReceipt',
        tags: ['holds'],
        summary: "A hold's receipt: its leaves with their batch headers, shard signatures and Merkle paths",
        description: 'The placement leaf, the close leaf once closed, and a capture’s credit and refund legs between shards, each provable offline with the shard keys (see @cbdc/client verifyHoldReceipt).',
        params,
        response: { 200: holdReceiptSchema, ...problemResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (req) => holdReceipt(ctx.ledger, await visibleHold(ctx.ledger, req.principal, req.params.holdId), req.principal),
  );

  const act = (action: HoldAction) => async (req: FastifyRequest<{ Params: { holdId: string }; Body: { amountMinor?: string } | undefined }>, reply: FastifyReply) => {
    const key = idempotencyKeyOf(req, true)!;
    // 404 before anything else for a bank that is neither payer's nor payee's: as if no such hold.
    const hold = await visibleHold(ctx.ledger, req.principal, req.params.holdId);
    const amountMinor = action === 'capture' ? BigInt(req.body!.amountMinor!) : null;
    // The key lives with the hold's row, in the database of its payer's shard; the lease keeps one
    // request at a time per key and lets a retry drive a crashed one again (settlement applies an
    // action once, under holdActionIdOf(bank, key)).
    return ctx.idempotency.underLease(
      req,
      reply,
      key,
      async () => leasedAnswerOf(await actOnHold(ctx, hold, req.principal, action, amountMinor, signedRequestAuthority(req, key), wantsAsync(req))),
      ctx.ledger.writable(ctx.ledger.ofShard(hold.shard)),
    );
  };

  r.post(
    '/v1/holds/:holdId/capture',
    {
      schema: {
        operationId: 'captureHold',
        requestHeaders: { 'idempotency-key': 'required', prefer: 'optional' },
        tags: ['holds'],
        summary: "Capture a hold, in full or in part (the payee's bank; requires Idempotency-Key)",
        description:
          "The captured amount goes to the payee (across shards like a transfer: `capture.status` is pending until it arrives, or rejected if the payee cannot take it, the money then going back to the payer); the rest of the hold returns to the payer at once. Only the payee's bank may capture (403 hold_action_not_allowed for the payer's bank). Answers 200 with the hold as captured; a retry with the same key is answered the same.",
        params,
        body: z.strictObject({ amountMinor: amountMinorSchema.describe('At most the amount held') }),
        response: { 200: holdViewSchema, 202: holdViewSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 429, 503) },
      },
    },
    act('capture'),
  );

  r.post(
    '/v1/holds/:holdId/void',
    {
      schema: {
        operationId: 'voidHold',
        requestHeaders: { 'idempotency-key': 'required', prefer: 'optional' },
        tags: ['holds'],
        summary: "Void a hold: everything back to the payer (the payer's bank; requires Idempotency-Key)",
        description: "Only the payer's bank may void (403 hold_action_not_allowed for the payee's bank). The body is empty or {}. Answers 200 with the hold as voided; a retry with the same key is answered the same.",
        params,
        body: z.strictObject({}).optional(),
        response: { 200: holdViewSchema, 202: holdViewSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 429, 503) },
      },
    },
    act('void'),
  );
}
