/**
 * A wallet's lifecycle after its opening, by its bank: a tier change (KYC upgrade or downgrade) and
 * the replacement of its customer's key (a lost device). Each is one transaction on the wallet's
 * shard-group database: the Idempotency-Key's claim, the wallet row under the shard lock, the
 * bank's event and the registry event with the bank's signed request (@cbdc/db/wallet-lifecycle).
 * Settlement applies the new caps or key from the shard's next batch.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Sql } from '@cbdc/db/connect';
import { changeWalletTier, replaceWalletKey } from '@cbdc/db/wallet-lifecycle';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { problemResponses } from '@cbdc/http/openapi';
import { ApiError } from '@cbdc/shared/problem';
import { publicKeyHexSchema, reasonSchema, tierSchema, walletIdSchema } from '@cbdc/shared/schemas';
import type { KeyReplacementRefusal, TierChangeRefusal } from '@cbdc/shared/wallet-lifecycle';
import type { GatewayContext } from '../context.js';
import { walletSchema } from './schemas.js';
import { walletView, type WalletRow } from './store.js';

const walletParams = z.strictObject({ walletId: walletIdSchema });
const tierBody = z.strictObject({ tier: tierSchema.describe('The new tier (I to IV)'), reason: reasonSchema.describe('Why, for the record (at most 200 bytes)') });
const keyBody = z.strictObject({
  publicKey: publicKeyHexSchema.describe("The customer's new Ed25519 public key, hex"),
  reason: reasonSchema.describe('Why, for the record, e.g. "device lost" (at most 200 bytes)'),
});

/** The answer to a refused change; nothing was changed. */
function refusal(code: TierChangeRefusal | KeyReplacementRefusal | 'wallet_not_found', walletId: string, field: 'tier' | 'publicKey'): ApiError {
  switch (code) {
    case 'wallet_not_found':
      return new ApiError('wallet_not_found', `no wallet ${walletId} for this bank`, { errors: [{ field: 'params/walletId', rule: 'own_wallet', message: 'is not a wallet of this bank' }] });
    case 'wallet_is_treasury':
      return new ApiError('wallet_is_treasury', field === 'tier' ? 'a treasury wallet has no tier: it carries no caps' : "a treasury wallet has no customer key: it pays by its bank's signed requests", {
        errors: [{ field: 'params/walletId', rule: 'customer_wallet', message: 'must be a customer wallet' }],
      });
    case 'wallet_closed':
      return new ApiError('wallet_closed', `wallet ${walletId} is closed`, { errors: [{ field: 'params/walletId', rule: 'open_wallet', message: 'the wallet is closed' }] });
    case 'tier_unchanged':
      return new ApiError('tier_unchanged', `wallet ${walletId} already has this tier`, { errors: [{ field: 'body/tier', rule: 'another_tier', message: "must differ from the wallet's tier" }] });
    case 'key_unchanged':
      return new ApiError('key_unchanged', `wallet ${walletId} already has this key`, { errors: [{ field: 'body/publicKey', rule: 'another_key', message: "must differ from the wallet's key" }] });
    case 'tier_below_balance':
      return new ApiError('tier_below_balance', `wallet ${walletId} holds more than the new tier's balance cap allows (its balance plus the money on its way out and held by open holds); nothing was changed`, {
        errors: [{ field: 'body/tier', rule: 'balance_within_cap', message: "the wallet's balance and outgoing money must fit under the tier's balance cap" }],
      });
  }
}

const errors = problemResponses(400, 401, 404, 409, 422, 429, 503);
const idempotencyNote =
  'Requires an Idempotency-Key: a retry with the same key and body is answered as the first time (`idempotent-replayed: true`); the change is recorded once. The signed request is stored as the authority of the registry event (docs/registry.md).';

export async function walletLifecycleRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { ledger } = ctx;

  r.post(
    '/v1/wallets/:walletId/tier',
    {
      schema: {
        operationId: 'changeWalletTier',
        requestHeaders: { 'idempotency-key': 'required' },
        tags: ['wallets'],
        summary: "Change a wallet's tier (KYC upgrade or downgrade)",
        description: `The new tier's caps apply from the wallet's shard's next settlement batch. A downgrade is refused (\`409 tier_below_balance\`) while the wallet's balance plus its money on the way out is above the new tier's balance cap. A treasury has no tier (\`422 wallet_is_treasury\`); a closed wallet cannot change (\`422 wallet_closed\`); a frozen one can. The bank receives a \`wallet.tier_changed\` event. ${idempotencyNote}`,
        params: walletParams,
        body: tierBody,
        response: { 200: walletSchema, ...errors },
      },
    },
    async (req, reply) => {
      const key = idempotencyKeyOf(req, true);
      return ctx.idempotency.inTransaction(
        req,
        reply,
        key,
        async (tx) => {
          const request = { bankId: req.principal, reason: req.body.reason, authority: req.signedRequest, nowMs: ctx.now() };
          const row = await changeWalletTier<WalletRow>(tx as unknown as Sql, ctx.registry, req.params.walletId, req.body.tier, request);
          if (typeof row === 'string') throw refusal(row, req.params.walletId, 'tier');
          return { status: 200, body: walletView(row, ctx.now()) };
        },
        { on: ledger.writable(ledger.ofWallet(req.params.walletId)) },
      );
    },
  );

  r.post(
    '/v1/wallets/:walletId/key',
    {
      schema: {
        operationId: 'replaceWalletKey',
        requestHeaders: { 'idempotency-key': 'required' },
        tags: ['wallets'],
        summary: "Replace a customer's key (lost device)",
        description: `From the wallet's shard's next settlement batch the old key is refused: a transfer signed with it, even one already queued, is answered \`422 authority_refused\` (or \`422 bad_signature\` at the gateway) and nothing is recorded; the new key works. Nonces stay per wallet across keys: a nonce spent under the old key stays spent. The event records the shard's head batch, so the audit verifies every transfer against the key in force when it settled. A treasury has no customer key (\`422 wallet_is_treasury\`); a closed wallet cannot change (\`422 wallet_closed\`); a frozen one can. The bank receives a \`wallet.key_replaced\` event. ${idempotencyNote}`,
        params: walletParams,
        body: keyBody,
        response: { 200: walletSchema, ...errors },
      },
    },
    async (req, reply) => {
      const key = idempotencyKeyOf(req, true);
      try {
        return await ctx.idempotency.inTransaction(
          req,
          reply,
          key,
          async (tx) => {
            const request = { bankId: req.principal, reason: req.body.reason, authority: req.signedRequest, nowMs: ctx.now() };
            const row = await replaceWalletKey<WalletRow>(tx as unknown as Sql, ctx.registry, req.params.walletId, Buffer.from(req.body.publicKey, 'hex'), request);
            if (typeof row === 'string') throw refusal(row, req.params.walletId, 'publicKey');
            return { status: 200, body: walletView(row, ctx.now()) };
          },
          { on: ledger.writable(ledger.ofWallet(req.params.walletId)) },
        );
      } finally {
        // After the commit (or the rollback): this process stops verifying against the old key at
        // once; other gateway processes reload it when a signature fails (see transfers/submit.ts).
        ctx.walletFacts.forget(req.params.walletId);
      }
    },
  );
}
