/** Onboarding banks: each gets a reserve account and a treasury wallet. */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Sql } from '@cbdc/db/connect';
import { appendRegistryEvent, CENTRAL_CHAIN } from '@cbdc/db/registry';
import { idempotencyKeyOf, type Transaction } from '@cbdc/http/idempotency';
import { shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import { ApiError } from '@cbdc/shared/problem';
import { LIMITS } from '@cbdc/shared/limits';
import { bankIdSchema, publicKeyHexSchema, textSchema } from '@cbdc/shared/schemas';
import { issuerRegistrySigner, type IssuerContext } from '../context.js';

interface BankRow {
  id: string;
  name: string;
  public_key: Buffer;
  treasury_wallet_id: string;
  created_at: Date;
  free_minor: bigint;
  minted_minor: bigint;
  retired_minor: bigint;
  treasury_balance_minor: bigint;
}

export function bankView(b: BankRow) {
  return {
    id: b.id,
    name: b.name,
    publicKey: b.public_key.toString('hex'),
    treasuryWalletId: b.treasury_wallet_id,
    freeReserveMinor: b.free_minor.toString(),
    mintedMinor: b.minted_minor.toString(),
    retiredMinor: b.retired_minor.toString(),
    treasuryBalanceMinor: b.treasury_balance_minor.toString(),
    createdAt: b.created_at.toISOString(),
  };
}

/** Banks with their positions, read through `ctx.sql` (the pool, or the transaction whose answer is stored). */
export async function loadBanks(ctx: { sql: Sql | Transaction }, id?: string): Promise<BankRow[]> {
  const sql = ctx.sql as Sql;
  return sql<BankRow[]>`
    select b.id, b.name, b.public_key, b.treasury_wallet_id, b.created_at, r.free_minor, r.minted_minor, r.retired_minor, w.balance_minor as treasury_balance_minor
    from banks b join bank_reserves r on r.bank_id = b.id join wallets w on w.id = b.treasury_wallet_id
    ${id ? sql`where b.id = ${id}` : sql``} order by b.id`;
}

export async function bankRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;

  r.post('/v1/banks', {
    schema: {
      tags: ['banks'],
      summary: 'Onboard a commercial bank',
      body: z.strictObject({ id: bankIdSchema, name: textSchema('name', LIMITS.bankNameBytesMax), publicKey: publicKeyHexSchema }),
    },
  }, async (req, reply) => {
    return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
      const treasury = treasuryWalletId(req.body.id);
      const inserted = await tx`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values (${req.body.id}, ${req.body.name}, ${Buffer.from(req.body.publicKey, 'hex')}, ${treasury}, ${req.principal}) on conflict do nothing returning id`;
      if (inserted.length === 0) throw new ApiError('bank_exists', `bank ${req.body.id} already exists`, { errors: [{ field: 'body/id', rule: 'unique', message: 'is taken' }] });
      await tx`insert into bank_reserves (bank_id) values (${req.body.id})`;
      await tx`insert into wallets (id, bank_id, shard, kind) values (${treasury}, ${req.body.id}, ${shardOf(treasury, ctx.shardCount)}, 'treasury')`;
      await appendRegistryEvent(tx as never, issuerRegistrySigner(ctx), {
        chain: CENTRAL_CHAIN, kind: 'bank_onboarded', subject: req.body.id,
        facts: { name: req.body.name, publicKey: req.body.publicKey.toLowerCase(), treasuryWalletId: treasury, treasuryShard: String(shardOf(treasury, ctx.shardCount)) },
        actorKind: 'operator', actorId: req.principal, authority: req.signedRequest, timeMs: ctx.now(),
      });
      const [bank] = await loadBanks({ sql: tx }, req.body.id);
      return { status: 201, body: bankView(bank) };
    });
  });

  r.get('/v1/banks', { schema: { tags: ['banks'], summary: 'List banks with their reserves and treasury balances' } }, async () => ({ banks: (await loadBanks(ctx)).map(bankView) }));

  r.get('/v1/banks/:bankId', { schema: { tags: ['banks'], summary: 'Read a bank', params: z.strictObject({ bankId: bankIdSchema }) } }, async (req) => {
    const [bank] = await loadBanks(ctx, req.params.bankId);
    if (!bank) throw new ApiError('bank_not_found', `no bank ${req.params.bankId}`);
    return bankView(bank);
  });
}
