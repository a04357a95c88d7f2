/**
 * Central-bank wallet controls: freezing any wallet (for example on a court order) and lifting
 * that freeze. The central bank's freeze is recorded apart from the wallet's bank's own freeze
 * (see @cbdc/db/wallet-freezes): the bank cannot lift it, and lifting it here leaves a bank's
 * freeze in force.
 *
 * The wallet's row, its freeze event and its registry event (in its bank's chain of its shard)
 * live in the wallet's group database, and are written there in one transaction under the shard
 * lock. The Idempotency-Key is claimed in that same transaction, in that database: a crash rolls
 * the claim back with the effect, and a retry finds the stored answer where the effect is. (A key
 * is therefore unique per group database: reusing one for a wallet of another group is not
 * refused as `idempotency_key_reused` but treated as a new key; the route's path names the
 * wallet, so a retry of the same request always reaches the same group.)
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { freezesView, liftCentralFreeze, recordCentralFreeze, type WalletFreezeColumns } from '@cbdc/db/wallet-freezes';
import type { Sql } from '@cbdc/db/connect';
import { appendRegistryEvent, bankChainOf } from '@cbdc/db/registry';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { shardOf } from '@cbdc/shared/ids';
import { walletStatusFacts } from '@cbdc/shared/registry';
import { ApiError } from '@cbdc/shared/problem';
import { reasonSchema, referenceSchema, walletIdSchema } from '@cbdc/shared/schemas';
import { issuerRegistrySigner, type IssuerContext } from './context.js';
import { controlledWalletSchema } from './schemas.js';

interface ControlledWallet extends WalletFreezeColumns {
  id: string;
  bank_id: string;
  shard: number;
  balance_minor: bigint;
}

const REFUSALS = {
  wallet_not_found: (id: string) => new ApiError('wallet_not_found', `no wallet ${id}`, { errors: [{ field: 'params/walletId', rule: 'existing_wallet', message: 'does not exist' }] }),
  wallet_closed: (id: string) => new ApiError('wallet_closed', `wallet ${id} is closed`, { errors: [{ field: 'params/walletId', rule: 'open_wallet', message: 'the wallet is closed' }] }),
  wallet_already_frozen: (id: string) => new ApiError('wallet_already_frozen', `the central bank already froze wallet ${id}; lift that freeze first to record another`),
  wallet_not_frozen: (id: string) => new ApiError('wallet_not_frozen', `the central bank holds no freeze on wallet ${id}`),
  frozen_by_central_bank: (id: string) => new ApiError('frozen_by_central_bank', `wallet ${id} is frozen by the central bank`),
} as const;

const controlBody = z.strictObject({ reason: reasonSchema, reference: referenceSchema.describe('The order or case the decision rests on') });

export async function walletControlRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const action of ['freeze', 'unfreeze'] as const) {
    r.post(
      `/v1/wallets/:walletId/${action}`,
      {
        schema: {
          operationId: action === 'freeze' ? 'freezeWalletCentrally' : 'unfreezeWalletCentrally',
          tags: ['wallets'],
          summary: action === 'freeze' ? 'Freeze any wallet (central bank; its bank cannot lift it)' : "Lift the central bank's freeze of a wallet (a freeze by its bank stays)",
          description:
            action === 'freeze'
              ? "Recorded apart from the bank's own freeze, with a reason and the order or case it rests on, in the wallet's registry chain. `404 wallet_not_found`, `409 wallet_already_frozen`, `422 wallet_closed`."
              : "Lifts only the central bank's freeze: a freeze by the wallet's bank stays. `404 wallet_not_found`, `409 wallet_not_frozen`.",
          requestHeaders: { 'idempotency-key': 'optional' },
          params: z.strictObject({ walletId: walletIdSchema }),
          body: controlBody,
          response: { 200: jsonResponse(controlledWalletSchema, { description: 'The wallet after the change, with both freezes and who froze it' }), ...problemResponses(403, 404, 409, 422) },
        },
      },
      async (req, reply) => {
        const group = ctx.topology.groupOf(shardOf(req.params.walletId, ctx.shardCount));
        return ctx.idempotencyOfGroup(group.id).inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
          const change = action === 'freeze' ? recordCentralFreeze<ControlledWallet> : liftCentralFreeze<ControlledWallet>;
          const row = await change(tx as unknown as Sql, req.params.walletId, { actor: req.principal, reason: req.body.reason, reference: req.body.reference, nowMs: ctx.now() });
          if (typeof row === 'string') throw REFUSALS[row](req.params.walletId);
          // The central bank's change goes into the wallet's own chain (its bank's), signed by the issuer.
          await appendRegistryEvent(tx as never, issuerRegistrySigner(ctx), {
            chain: bankChainOf(row.bank_id, row.shard),
            kind: 'wallet_status_changed',
            subject: row.id,
            facts: walletStatusFacts(row.status as 'active' | 'frozen', 'central', action),
            actorKind: 'operator',
            actorId: req.principal,
            authority: req.signedRequest,
            timeMs: ctx.now(),
          });
          req.log.info({ operator: req.principal, walletId: row.id, action, reference: req.body.reference }, 'wallet control');
          return { status: 200, body: { id: row.id, bankId: row.bank_id, status: row.status, balanceMinor: row.balance_minor.toString(), freezes: freezesView(row, true) } };
        });
      },
    );
  }
}
