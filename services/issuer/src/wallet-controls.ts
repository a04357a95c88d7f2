/** Central-bank wallet controls: freezing or unfreezing any wallet (for example on a court order). */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { appendRegistryEvent, bankChainOf } from '@cbdc/db/registry';
import { lockShard } from '@cbdc/db/shard-lock';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { walletStatusFacts } from '@cbdc/shared/registry';
import { ApiError } from '@cbdc/shared/problem';
import { walletIdSchema } from '@cbdc/shared/schemas';
import { issuerRegistrySigner, type IssuerContext } from './context.js';

export async function walletControlRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const action of ['freeze', 'unfreeze'] as const) {
    r.post(`/v1/wallets/:walletId/${action}`, { schema: { tags: ['wallets'], summary: `${action === 'freeze' ? 'Freeze' : 'Unfreeze'} any wallet`, params: z.strictObject({ walletId: walletIdSchema }) } }, async (req, reply) => {
      return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
        const [place] = await tx<{ shard: number }[]>`select shard from wallets where id = ${req.params.walletId}`;
        if (!place) throw new ApiError('wallet_not_found', `no wallet ${req.params.walletId}`, { errors: [{ field: 'params/walletId', rule: 'existing_wallet', message: 'does not exist' }] });
        await lockShard(tx as never, place.shard);
        const [row] = await tx<{ id: string; bank_id: string; status: string; balance_minor: bigint }[]>`
          update wallets set status = ${action === 'freeze' ? 'frozen' : 'active'}, updated_at = now()
          where id = ${req.params.walletId} and status <> 'closed' returning id, bank_id, status, balance_minor`;
        if (!row) throw new ApiError('wallet_closed', `wallet ${req.params.walletId} is closed`);
        // The central bank's change goes into the wallet's own chain (its bank's), signed by the issuer.
        await appendRegistryEvent(tx as never, issuerRegistrySigner(ctx), {
          chain: bankChainOf(row.bank_id), kind: 'wallet_status_changed', subject: row.id, facts: walletStatusFacts(row.status as 'active' | 'frozen', 'central'),
          actorKind: 'operator', actorId: req.principal, authority: req.signedRequest, timeMs: ctx.now(),
        });
        req.log.info({ operator: req.principal, walletId: row.id, action }, 'wallet control');
        return { status: 200, body: { id: row.id, bankId: row.bank_id, status: row.status, balanceMinor: row.balance_minor.toString() } };
      });
    });
  }
}
