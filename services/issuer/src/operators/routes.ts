/** Operators: listing them, and registering one or changing a key (each a pending action a second operator approves). */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { publicKeyHexSchema } from '@cbdc/shared/schemas';
import { actionView, requestActionIn } from '../approvals/actions.js';
import type { IssuerContext } from '../context.js';
import { operatorActionSchema, operatorListSchema } from '../schemas.js';
import { operatorKeyChangeAction, operatorRegistrationAction, operatorView, type OperatorRow } from './register.js';

/** The same form as ISSUER_BOOTSTRAP_OPERATORS accepts. */
export const operatorIdSchema = z.string().regex(/^[a-z][a-z0-9-]{1,31}$/, { error: 'operator_id: 2 to 32 characters, lowercase letters, digits and dashes, starting with a letter' });
const nameSchema = z
  .string()
  .min(1, { error: 'name: must not be empty' })
  .max(100, { error: 'name_max: at most 100 characters' })
  .regex(/^[^\p{C}]+$/u, { error: 'name_printable: no control or format characters' });

export async function operatorRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;

  r.get(
    '/v1/operators',
    {
      schema: { operationId: 'listOperators', tags: ['operators'], summary: 'List operators', description: 'Every operator, with who registered each.', response: { 200: operatorListSchema } },
    },
    async () => ({
      operators: (await sql<OperatorRow[]>`select id, name, public_key, created_by, created_at from operators order by id`).map(operatorView),
    }),
  );

  r.post(
    '/v1/operators',
    {
      schema: {
        operationId: 'requestOperatorRegistration',
        tags: ['operators'],
        summary: 'Request the registration of an operator (202; a second operator approves)',
        description: 'Always under dual control: the operator exists once a second operator approves the action. `409 operator_exists`.',
        requestHeaders: { 'idempotency-key': 'optional' },
        body: z.strictObject({ id: operatorIdSchema, name: nameSchema, publicKey: publicKeyHexSchema }),
        response: { 202: jsonResponse(operatorActionSchema, { description: 'The pending action (`operator_registration`)' }), ...problemResponses(409) },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
        const outcome = await requestActionIn(tx as never, ctx, operatorRegistrationAction, {
          kind: 'operator_registration',
          bankId: null,
          amountMinor: null,
          params: { id: req.body.id, name: req.body.name, publicKey: req.body.publicKey },
          requestedBy: req.principal,
          authority: req.signedRequest,
        });
        return outcome.executed ? { status: 201, body: outcome.body } : { status: 202, body: actionView(outcome.action, ctx.now()) };
      });
    },
  );

  r.post(
    '/v1/operators/:operatorId/key',
    {
      schema: {
        operationId: 'requestOperatorKeyChange',
        tags: ['operators'],
        summary: "Request a change of an operator's public key (202; a second operator approves)",
        description: 'Always under dual control: the key changes once a second operator approves the action. `404 operator_not_found`.',
        requestHeaders: { 'idempotency-key': 'optional' },
        params: z.strictObject({ operatorId: operatorIdSchema }),
        body: z.strictObject({ publicKey: publicKeyHexSchema }),
        response: { 202: jsonResponse(operatorActionSchema, { description: 'The pending action (`operator_key_change`)' }), ...problemResponses(404) },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
        const outcome = await requestActionIn(tx as never, ctx, operatorKeyChangeAction, {
          kind: 'operator_key_change',
          bankId: null,
          amountMinor: null,
          params: { operatorId: req.params.operatorId, publicKey: req.body.publicKey },
          requestedBy: req.principal,
          authority: req.signedRequest,
        });
        return outcome.executed ? { status: 201, body: outcome.body } : { status: 202, body: actionView(outcome.action, ctx.now()) };
      });
    },
  );
}
