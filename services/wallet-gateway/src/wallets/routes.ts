/** Wallets: open, read, list, freeze, unfreeze, close, and a wallet's transfer history. */
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Sql } from '@cbdc/db/connect';
import { appendRegistryEvent, bankChainOf } from '@cbdc/db/registry';
import { lockShard } from '@cbdc/db/shard-lock';
import { liftBankFreeze, recordBankFreeze } from '@cbdc/db/wallet-freezes';
import type { FreezeRefusal } from '@cbdc/shared/freezes';
import { idempotencyKeyOf, type Transaction } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { newWalletId, shardOf, walletIdOf } from '@cbdc/shared/ids';
import { ApiError } from '@cbdc/shared/problem';
import { walletOpenedFacts, walletStatusFacts } from '@cbdc/shared/registry';
import { pageQuerySchema, publicKeyHexSchema, reasonSchema, tierSchema, walletIdSchema } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import { decodeHistoryCursor, encodeHistoryCursor, historyPageAcross } from '../transfers/history.js';
import { transferPageSchema } from '../transfers/schemas.js';
import { walletPageSchema, walletSchema } from './schemas.js';
import { getOwnWallet, listOwnWalletsAcross, walletView, type WalletRow } from './store.js';

const openWalletBody = z.strictObject({
  publicKey: publicKeyHexSchema.describe("The customer's Ed25519 public key, hex"),
  customerRef: z
    .string()
    .min(1, { error: 'customer_ref: must not be empty' })
    .max(64, { error: 'customer_ref_max: at most 64 characters' })
    .regex(/^[\x21-\x7e]+$/, { error: 'customer_ref: printable ASCII without spaces; an opaque reference only your bank can resolve' }),
  tier: tierSchema,
});
const walletParams = z.strictObject({ walletId: walletIdSchema });

function bankFreezeRefusal(code: FreezeRefusal | 'wallet_not_found', walletId: string): ApiError {
  switch (code) {
    case 'wallet_not_found':
      return new ApiError('wallet_not_found', `no wallet ${walletId} for this bank`, { errors: [{ field: 'params/walletId', rule: 'own_wallet', message: 'is not a wallet of this bank' }] });
    case 'wallet_closed':
      return walletClosed(walletId);
    case 'wallet_already_frozen':
      return new ApiError('wallet_already_frozen', `this bank already froze wallet ${walletId}`);
    case 'wallet_not_frozen':
      return new ApiError('wallet_not_frozen', `this bank holds no freeze on wallet ${walletId}`);
    case 'frozen_by_central_bank':
      return new ApiError('frozen_by_central_bank', `wallet ${walletId} is frozen by the central bank; only the central bank can lift that freeze`);
  }
}

const walletClosed = (walletId: string) => new ApiError('wallet_closed', `wallet ${walletId} is closed`, { errors: [{ field: 'params/walletId', rule: 'open_wallet', message: 'the wallet is closed' }] });
const walletIsTreasury = () => new ApiError('wallet_is_treasury', 'a treasury wallet cannot be frozen or closed by its bank', { errors: [{ field: 'params/walletId', rule: 'customer_wallet', message: 'must be a customer wallet' }] });

const badCursor = () => new ApiError('invalid_request', 'bad cursor', { errors: [{ field: 'querystring/cursor', rule: 'cursor', message: 'must be a cursor returned by this endpoint' }] });

function decodeCursor<T>(cursor: string | undefined, decode: (value: string) => T | null): T | null {
  if (!cursor) return null;
  const value = decode(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (value === null) throw badCursor();
  return value;
}

export const encodeCursor = (value: string) => Buffer.from(value, 'utf8').toString('base64url');
const WALLET_ID_CURSOR = /^[tw]_[a-z0-9-]+$/;

export async function walletRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { ledger } = ctx;

  /** The bank's own wallet `id`, read from its shard group's database (or in `tx`, a transaction there). */
  const ownOr404 = async (bankId: string, id: string, tx?: Transaction): Promise<WalletRow> => {
    const wallet = tx ? await getOwnWallet(tx as unknown as Sql, bankId, id) : await ledger.read(ledger.ofWallet(id), (sql) => getOwnWallet(sql, bankId, id));
    if (!wallet) throw new ApiError('wallet_not_found', `no wallet ${id} for bank ${bankId}`, { errors: [{ field: 'params/walletId', rule: 'own_wallet', message: 'is not a wallet of this bank' }] });
    return wallet;
  };

  // The wallet's row, its registry event and the Idempotency-Key's claim and answer are one
  // transaction on the wallet's shard-group database. With a key, the wallet id is derived from the
  // bank and the key, so that a retry lands on the same database and finds the key there.
  r.post(
    '/v1/wallets',
    {
      schema: {
        operationId: 'openWallet',
        tags: ['wallets'],
        summary: 'Open a customer wallet',
        description: 'With an Idempotency-Key the wallet id is derived from the bank and the key (`walletIdOf` in @cbdc/shared/ids), so a retry names the same wallet. `customerRef` is opaque to the central bank: only the bank resolves it.',
        requestHeaders: { 'idempotency-key': 'optional' },
        body: openWalletBody,
        response: { 201: jsonResponse(walletSchema, { description: 'The wallet, opened' }) },
      },
    },
    async (req, reply) => {
      const key = idempotencyKeyOf(req, false);
      const id = key === null ? newWalletId() : walletIdOf(req.principal, key);
      const shard = shardOf(id, ctx.shardCount);
      const on = ledger.writable(ledger.ofShard(shard));
      return ctx.idempotency.inTransaction(
        req,
        reply,
        key,
        async (tx) => {
          const publicKey = Buffer.from(req.body.publicKey, 'hex');
          const [row] = await tx<WalletRow[]>`
        insert into wallets (id, bank_id, shard, kind, tier, public_key, customer_ref)
        values (${id}, ${req.principal}, ${shard}, 'customer', ${req.body.tier}, ${publicKey}, ${req.body.customerRef})
        on conflict (id) do nothing
        returning *`;
          // Only when a key was pruned after its retention and used again: its wallet exists.
          if (!row)
            throw new ApiError('idempotency_key_reused', `this Idempotency-Key opened wallet ${id} before; use a new key for a new wallet`, {
              errors: [{ field: 'header/idempotency-key', rule: 'same_request', message: 'opened a wallet before' }],
            });
          await appendRegistryEvent(tx as never, ctx.registry, {
            chain: bankChainOf(req.principal, row.shard),
            kind: 'wallet_opened',
            subject: id,
            facts: walletOpenedFacts({ bankId: req.principal, kind: 'customer', tier: req.body.tier, publicKey, customerRef: req.body.customerRef, shard: row.shard }),
            actorKind: 'bank',
            actorId: req.principal,
            authority: req.signedRequest,
            timeMs: ctx.now(),
          });
          return { status: 201, body: walletView(row, ctx.now()) };
        },
        { on },
      );
    },
  );

  r.get(
    '/v1/wallets',
    {
      schema: {
        operationId: 'listWallets',
        tags: ['wallets'],
        summary: "List this bank's wallets",
        description: 'In id order, cursor-paginated: pass `nextCursor` as `cursor` for the next page.',
        querystring: pageQuerySchema,
        response: { 200: walletPageSchema },
      },
    },
    async (req) => {
      const after = decodeCursor(req.query.cursor, (value) => (WALLET_ID_CURSOR.test(value) ? value : null));
      const rows = await listOwnWalletsAcross(ledger, req.principal, req.query.limit + 1, after);
      const page = rows.slice(0, req.query.limit);
      return { wallets: page.map((w) => walletView(w, ctx.now())), nextCursor: rows.length > req.query.limit ? encodeCursor(page[page.length - 1].id) : null };
    },
  );

  r.get(
    '/v1/wallets/:walletId',
    {
      schema: {
        operationId: 'getWallet',
        tags: ['wallets'],
        summary: 'Read a wallet',
        description: "Balance, status and freezes, tier and caps, today's outflow.",
        params: walletParams,
        response: { 200: walletSchema, ...problemResponses(404) },
      },
    },
    async (req) => walletView(await ownOr404(req.principal, req.params.walletId), ctx.now()),
  );

  /** Records a bank's status change in its wallets' registry chain, with the bank's signed request as its authority. */
  const recordStatusEvent = (tx: Transaction, req: FastifyRequest, row: WalletRow, action: 'freeze' | 'unfreeze' | 'close') =>
    appendRegistryEvent(tx as never, ctx.registry, {
      chain: bankChainOf(req.principal, row.shard),
      kind: 'wallet_status_changed',
      subject: row.id,
      facts: walletStatusFacts(row.status, 'bank', action),
      actorKind: 'bank',
      actorId: req.principal,
      authority: req.signedRequest,
      timeMs: ctx.now(),
    });

  // The bank's own freeze, recorded apart from the central bank's: lifting it never lifts the
  // central bank's freeze, which only the central bank can lift (finding 1 of issue #12).
  for (const action of ['freeze', 'unfreeze'] as const) {
    r.post(
      `/v1/wallets/:walletId/${action}`,
      {
        schema: {
          operationId: action === 'freeze' ? 'freezeWallet' : 'unfreezeWallet',
          tags: ['wallets'],
          summary: action === 'freeze' ? "Freeze a wallet (the bank's own freeze)" : "Lift the bank's own freeze (a central-bank freeze stays)",
          description:
            action === 'freeze'
              ? "Recorded apart from a central-bank freeze, with the reason. `409 wallet_already_frozen` if the bank's freeze holds; `422 wallet_closed`, `422 wallet_is_treasury`."
              : "Never lifts the central bank's freeze: with no freeze of the bank's own while the central bank's holds, `403 frozen_by_central_bank`; with both, the bank's is lifted and the wallet stays `frozen`. `409 wallet_not_frozen` if none holds.",
          requestHeaders: { 'idempotency-key': 'optional' },
          params: walletParams,
          body: z.strictObject({ reason: reasonSchema }),
          response: { 200: jsonResponse(walletSchema, { description: 'The wallet after the change' }), ...problemResponses(403, 404, 409, 422) },
        },
      },
      async (req, reply) => {
        try {
          return await ctx.idempotency.inTransaction(
            req,
            reply,
            idempotencyKeyOf(req, false),
            async (tx) => {
              const wallet = await ownOr404(req.principal, req.params.walletId, tx);
              if (wallet.kind === 'treasury') throw walletIsTreasury();
              const change = action === 'freeze' ? recordBankFreeze<WalletRow> : liftBankFreeze<WalletRow>;
              const row = await change(tx as unknown as Sql, wallet.id, { actor: req.principal, reason: req.body.reason, reference: null, nowMs: ctx.now() });
              if (typeof row === 'string') throw bankFreezeRefusal(row, wallet.id);
              await recordStatusEvent(tx, req, row, action);
              return { status: 200, body: walletView(row, ctx.now()) };
            },
            { on: ledger.writable(ledger.ofWallet(req.params.walletId)) },
          );
        } finally {
          // After the commit (or the rollback): a status cached before it is not used again.
          ctx.walletFacts.forget(req.params.walletId);
        }
      },
    );
  }

  r.post(
    '/v1/wallets/:walletId/close',
    {
      schema: {
        operationId: 'closeWallet',
        tags: ['wallets'],
        summary: 'Close an empty wallet (not while the central bank holds a freeze on it)',
        description: '`409 wallet_not_empty` while it holds money or has payments in flight; `403 frozen_by_central_bank`; `422 wallet_closed`, `422 wallet_is_treasury`.',
        requestHeaders: { 'idempotency-key': 'optional' },
        params: walletParams,
        response: { 200: jsonResponse(walletSchema, { description: 'The wallet, closed' }), ...problemResponses(403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      try {
        return await ctx.idempotency.inTransaction(
          req,
          reply,
          idempotencyKeyOf(req, false),
          async (tx) => {
            // Read in the transaction: a second pool connection per request could exhaust the pool.
            const wallet = await ownOr404(req.principal, req.params.walletId, tx);
            if (wallet.kind === 'treasury') throw walletIsTreasury();
            if (wallet.status === 'closed') throw walletClosed(wallet.id);
            if (wallet.central_frozen_at) throw bankFreezeRefusal('frozen_by_central_bank', wallet.id);
            await lockShard(tx as never, wallet.shard);
            const [row] = await tx<WalletRow[]>`
          update wallets set status = 'closed', updated_at = now()
          where id = ${wallet.id} and bank_id = ${req.principal} and balance_minor = 0 and in_flight_out_minor = 0 and held_minor = 0 and central_frozen_at is null and status <> 'closed' returning *`;
            if (!row)
              throw new ApiError(
                'wallet_not_empty',
                `wallet ${wallet.id} holds ${wallet.balance_minor} fen, ${wallet.held_minor} fen held by open holds and ${wallet.in_flight_out_minor} fen in flight; redeem it and let payments and holds finish first`,
              );
            await recordStatusEvent(tx, req, row, 'close');
            return { status: 200, body: walletView(row, ctx.now()) };
          },
          { on: ledger.writable(ledger.ofWallet(req.params.walletId)) },
        );
      } finally {
        ctx.walletFacts.forget(req.params.walletId);
      }
    },
  );

  r.get(
    '/v1/wallets/:walletId/transfers',
    {
      schema: {
        operationId: 'listWalletTransfers',
        tags: ['wallets'],
        summary: "A wallet's transfer history, newest first",
        description: 'Newest first by settlement time across shard-group databases, by commit order within one; the cursor is opaque.',
        params: walletParams,
        querystring: pageQuerySchema,
        response: { 200: transferPageSchema, ...problemResponses(404) },
      },
    },
    async (req) => {
      await ownOr404(req.principal, req.params.walletId);
      const before = decodeCursor(req.query.cursor, (value) => decodeHistoryCursor(value, ledger.databases.length));
      const { rows, next } = await historyPageAcross(ctx, req.params.walletId, req.query.limit, before, req.principal);
      return { transfers: rows, nextCursor: next === null ? null : encodeCursor(encodeHistoryCursor(next)) };
    },
  );
}
