/** Reserve accounts: deposits and withdrawals entered by operators as they arrive from RTGS. */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { appendRegistryEvent, CENTRAL_CHAIN } from '@cbdc/db/registry';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { planReserveWithdrawal } from '@cbdc/shared/issuance';
import { ApiError } from '@cbdc/shared/problem';
import { LIMITS } from '@cbdc/shared/limits';
import { amountMinorSchema, bankIdSchema, textSchema } from '@cbdc/shared/schemas';
import { bankView, loadBanks } from '../banks/routes.js';
import { issuerRegistrySigner, type IssuerContext } from '../context.js';

const entryBody = z.strictObject({
  amountMinor: amountMinorSchema,
  reference: textSchema('reference', LIMITS.reserveReferenceBytesMax).describe('The RTGS reference'),
});

export async function reserveRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;
  const params = z.strictObject({ bankId: bankIdSchema });

  for (const kind of ['deposit', 'withdrawal'] as const) {
    r.post(`/v1/banks/:bankId/reserve/${kind}s`, { schema: { tags: ['reserves'], summary: `Record a reserve ${kind}`, params, body: entryBody } }, async (req, reply) => {
      return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
        const amount = BigInt(req.body.amountMinor);
        const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${req.params.bankId} for update`;
        if (!reserve) throw new ApiError('bank_not_found', `no bank ${req.params.bankId}`, { errors: [{ field: 'params/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
        let free = reserve.free_minor + amount;
        if (kind === 'withdrawal') {
          const next = planReserveWithdrawal(reserve.free_minor, amount);
          if (next === 'insufficient_reserve') throw new ApiError('insufficient_reserve', `bank ${req.params.bankId} has ${reserve.free_minor} fen of free reserve; pledged backing cannot be withdrawn`);
          free = next;
        }
        await tx`update bank_reserves set free_minor = ${free.toString()} where bank_id = ${req.params.bankId}`;
        const [entry] = await tx<{ id: string }[]>`insert into reserve_entries (bank_id, kind, amount_minor, reference, operator_id) values (${req.params.bankId}, ${kind}, ${amount.toString()}, ${req.body.reference}, ${req.principal}) returning id`;
        await appendRegistryEvent(tx as never, issuerRegistrySigner(ctx), {
          chain: CENTRAL_CHAIN, kind: 'reserve_entry', subject: req.params.bankId, facts: { entryId: String(entry.id), kind, amountMinor: amount.toString(), reference: req.body.reference },
          actorKind: 'operator', actorId: req.principal, authority: req.signedRequest, timeMs: ctx.now(),
        });
        const [bank] = await loadBanks({ sql: tx }, req.params.bankId);
        return { status: 201, body: bankView(bank) };
      });
    });
  }
}
