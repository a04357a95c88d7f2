/** Reserve accounts: deposits and withdrawals entered by operators as they arrive from RTGS, under dual control above the limits. */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { amountMinorSchema, bankIdSchema, referenceSchema } from '@cbdc/shared/schemas';
import { actionView, requestActionIn } from '../approvals/actions.js';
import type { IssuerContext } from '../context.js';
import { bankSchema, operatorActionSchema } from '../schemas.js';
import { reserveEntryAction } from './record.js';

const entryBody = z.strictObject({ amountMinor: amountMinorSchema, reference: referenceSchema.describe('The RTGS reference, unique per bank') });

export async function reserveRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const params = z.strictObject({ bankId: bankIdSchema });

  for (const kind of ['deposit', 'withdrawal'] as const) {
    r.post(
      `/v1/banks/:bankId/reserve/${kind}s`,
      {
        schema: {
          operationId: kind === 'deposit' ? 'recordReserveDeposit' : 'recordReserveWithdrawal',
          tags: ['reserves'],
          summary: `Record a reserve ${kind}`,
          description:
            "Executes at once (201, the bank's position) within the dual-control limits; above them, waits for a second operator (202, the pending action). The reference is unique per bank, recorded or pending (`409 reserve_reference_exists`); only free reserve can be withdrawn (`409 insufficient_reserve`); `404 bank_not_found`.",
          requestHeaders: { 'idempotency-key': 'optional' },
          params,
          body: entryBody,
          response: {
            201: jsonResponse(bankSchema, { description: "Recorded: the bank's position" }),
            202: jsonResponse(operatorActionSchema, { description: 'Above the dual-control limits: the pending action' }),
            ...problemResponses(404, 409),
          },
        },
      },
      async (req, reply) => {
        return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
          const outcome = await requestActionIn(tx as never, ctx, reserveEntryAction, {
            kind: `reserve_${kind}`,
            bankId: req.params.bankId,
            amountMinor: BigInt(req.body.amountMinor),
            params: { reference: req.body.reference },
            requestedBy: req.principal,
            authority: req.signedRequest,
          });
          return outcome.executed ? { status: 201, body: outcome.body } : { status: 202, body: actionView(outcome.action, ctx.now()) };
        });
      },
    );
  }
}
