/** The one approval path: list operator actions, read one, approve a pending one (a second, different operator). */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { OPERATOR_ACTION_KINDS } from '@cbdc/shared/dual-control';
import { ApiError } from '@cbdc/shared/problem';
import type { IssuerContext } from '../context.js';
import { approvalSchema, operatorActionListSchema, operatorActionSchema } from '../schemas.js';
import { actionView, approveActionIn, listActions, type OperatorActionRow } from './actions.js';
import { handlerOf } from './handlers.js';
import { followAction, issuanceAnswer } from '../issuance/follow-up.js';

const idParams = z.strictObject({ id: z.string().uuid({ error: 'uuid: must be an action id' }) });

export async function approvalRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/approvals',
    {
      schema: {
        operationId: 'listOperatorActions',
        tags: ['approvals'],
        summary: 'Operator actions under dual control, newest first',
        description: 'Filter by `status` (as a reader sees it: a pending action past its expiry reads `expired`) and `kind`.',
        querystring: z.strictObject({
          status: z.enum(['pending_approval', 'executed', 'expired'], { error: 'action_status: pending_approval, executed or expired' }).optional(),
          kind: z.enum(OPERATOR_ACTION_KINDS, { error: `action_kind: one of ${OPERATOR_ACTION_KINDS.join(', ')}` }).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
        response: { 200: operatorActionListSchema },
      },
    },
    async (req) => {
      const rows = await listActions(ctx, { kinds: req.query.kind ? [req.query.kind] : undefined, status: req.query.status, limit: req.query.limit });
      return { actions: rows.map((a) => actionView(a, ctx.now())) };
    },
  );

  r.get(
    '/v1/approvals/:id',
    {
      schema: {
        operationId: 'getOperatorAction',
        tags: ['approvals'],
        summary: 'Read an operator action',
        description: 'Its kind, parameters, who requested and approved it, and its status.',
        params: idParams,
        response: { 200: operatorActionSchema, ...problemResponses(404) },
      },
    },
    async (req) => {
      const [row] = await ctx.sql<OperatorActionRow[]>`select * from operator_actions where id = ${req.params.id}`;
      if (!row) throw new ApiError('action_not_found', `no action ${req.params.id}`, { errors: [{ field: 'params/id', rule: 'existing_action', message: 'is not an operator action' }] });
      return actionView(row, ctx.now());
    },
  );

  r.post(
    '/v1/approvals/:id/approve',
    {
      schema: {
        operationId: 'approveOperatorAction',
        tags: ['approvals'],
        summary: 'Approve a pending, unexpired action of another operator; it executes at once',
        description:
          'A second, different operator (`403 approver_is_requester`). `404 action_not_found`; `409 action_not_pending`, `approval_expired`, or what executing refuses (`insufficient_reserve`, `insufficient_treasury_balance`, `bank_exists`, `operator_exists`, `reserve_reference_exists`).',
        requestHeaders: { 'idempotency-key': 'optional' },
        params: idParams,
        response: { 200: jsonResponse(approvalSchema, { description: 'The executed action and what it produced' }), ...problemResponses(403, 404, 409) },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          const { action, body } = await approveActionIn(tx as never, ctx, handlerOf, req.params.id, req.principal);
          return { status: 200, body: { action: actionView(action, ctx.now()), result: body } };
        },
        {
          after: async (answer) => {
            // What continues on a group's database: a mint's or retire's treasury leg, an onboarded bank's treasury.
            const { action, result } = answer.body as { action: ReturnType<typeof actionView>; result: { id: string } };
            const issuance = await followAction(ctx, action.kind, action.kind === 'bank_onboarding' ? action.params.id : result.id, req.log);
            return issuance ? { status: 200, body: { action, result: issuanceAnswer(issuance, 200).body } } : answer;
          },
        },
      );
    },
  );
}
