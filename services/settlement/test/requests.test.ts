/**
 * The settlement store's side of payment requests, shard by shard (two shards in one database): a
 * v2 transfer debited at the payer's shard records the request it signed and sends it with its
 * credit, and with every resend of the credit; the payee's shard pays the request once, answers a
 * repeated credit as recorded, refuses another transfer naming it, and the refund closes that one.
 * Real Postgres.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519PrivateKey, ed25519PublicKeyOfSeed, ed25519Sign, signerFromSeed } from '@cbdc/shared/crypto';
import { newPaymentRequestId, shardOf } from '@cbdc/shared/ids';
import type { JobCredit, JobItem } from '@cbdc/shared/job';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { insertPaymentRequest } from '@cbdc/wallet-gateway/requests-store';
import { commitBatch, registerShard, staleCredits, type ShardContext } from '../src/store.js';

const NOW = Date.now();
const SHARDS = 2;

/** A customer wallet id on `shard`. */
function walletOn(shard: number, tag: number): string {
  for (let i = 0; ; i++) {
    const id = `w_${tag.toString(16).padStart(4, '0')}${i.toString(16).padStart(20, '0')}`;
    if (shardOf(id, SHARDS) === shard) return id;
  }
}

describe('settlement store: payment requests between shards', () => {
  let db: TestDatabase;
  const ctx = (shard: number): ShardContext => ({ shard, shardCount: SHARDS, signer: signerFromSeed(Buffer.alloc(32, shard + 1)), audience: DEFAULT_AUDIENCE });
  const seed = randomBytes(32);
  const payers = [walletOn(0, 1), walletOn(0, 2)];
  const payee = walletOn(1, 3);
  const requestId = newPaymentRequestId(1, SHARDS);

  const v2 = (payer: string, nonce: number): JobItem => {
    const intent = { payerWalletId: payer, payeeWalletId: payee, amountMinor: 700n, nonce: BigInt(nonce), expiresAtMs: BigInt(NOW + 60_000), memo: '', requestId };
    const bytes = encodeTransfer(intent);
    return {
      id: transferIdOf(bytes),
      kind: 'transfer',
      bankId: 'bank-a',
      payerWalletId: payer,
      payeeWalletId: payee,
      amountMinor: '700',
      nonce: String(nonce),
      expiresAtMs: String(intent.expiresAtMs),
      memo: '',
      signature: ed25519Sign(ed25519PrivateKey(seed), bytes).toString('hex'),
      submittedAtMs: NOW,
      payeeShard: 1,
      requestId,
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    const pub = ed25519PublicKeyOfSeed(seed);
    await db.sql`insert into operators (id, name, public_key) values ('op', 'op', ${ed25519PublicKeyOfSeed(randomBytes(32))})`;
    await db.sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values ('bank-a', 'A', ${ed25519PublicKeyOfSeed(randomBytes(32))}, 't_bank-a', 'op')`;
    for (const id of payers) await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key, balance_minor) values (${id}, 'bank-a', 0, 'customer', 'I', ${pub}, 1000)`;
    await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key) values (${payee}, 'bank-a', 1, 'customer', 'I', ${pub})`;
    for (const shard of [0, 1]) await registerShard(db.sql, shard, ctx(shard).signer);
    await db.sql.begin((tx) => insertPaymentRequest(tx as never, { id: requestId, bankId: 'bank-a', payeeWalletId: payee, shard: 1, amountMinor: 700n, expiresAtMs: BigInt(NOW + 60_000), reference: 'test', nowMs: NOW }));
  });
  afterAll(async () => db?.drop());

  it('pays the request once at the payee’s shard and refunds the second payer', async () => {
    const [first, second] = [v2(payers[0], 1), v2(payers[1], 1)];
    // The payer's shard debits both, records the request each signed, and sends it with each credit.
    const debited = await commitBatch(db.sql, ctx(0), [first, second], NOW);
    expect(debited.outcomes.map((o) => o.status)).toEqual(['debited', 'debited']);
    const credits = debited.messages.get(1) as JobCredit[];
    expect(credits.map((c) => c.requestId)).toEqual([requestId, requestId]);
    expect((await db.sql`select request_id from transfers where id = any(${[first.id, second.id]})`).map((r) => r.request_id)).toEqual([requestId, requestId]);
    // A resend by the sweeper (the row is all it has) carries the request too.
    const resent = (await staleCredits(db.sql, ctx(0), NOW + 1, 10)).get(1)!;
    expect(resent.map((c) => [c.id, c.requestId]).sort()).toEqual([first.id, second.id].map((id) => [id, requestId]).sort());

    // The payee's shard: the first credit pays it; the second is refused; a repeat changes nothing.
    const applied = await commitBatch(db.sql, ctx(1), [credits[0], credits[1], credits[0]], NOW + 1);
    expect(applied.outcomes.map((o) => o.code ?? o.status)).toEqual(['applied', 'request_already_paid', 'duplicate']);
    expect(await db.sql`select status, paid_by_transfer_id, paid_at_ms from payment_requests where id = ${requestId}`).toEqual([{ status: 'paid', paid_by_transfer_id: first.id, paid_at_ms: BigInt(NOW + 1) }]);
    expect((await db.sql`select type from events where subject_id = ${requestId}`).map((e) => e.type)).toEqual(['request.paid']);
    const again = await commitBatch(db.sql, ctx(1), resent, NOW + 2);
    expect(again.outcomes.map((o) => o.status)).toEqual(['duplicate', 'duplicate']);

    // The results back at the payer's shard: one settles, the other is refunded once.
    const results = [...(applied.messages.get(0) ?? []), ...(again.messages.get(0) ?? [])];
    const closed = await commitBatch(db.sql, ctx(0), results, NOW + 3);
    expect(closed.outcomes.filter((o) => o.status !== 'duplicate').map((o) => o.code ?? o.status)).toEqual(['settled', 'request_already_paid']);
    const wallets = await db.sql<{ id: string; balance_minor: bigint; in_flight_out_minor: bigint }[]>`select id, balance_minor, in_flight_out_minor from wallets order by id`;
    expect(Object.fromEntries(wallets.map((w) => [w.id, [w.balance_minor, w.in_flight_out_minor]]))).toEqual({ [payers[0]]: [300n, 0n], [payers[1]]: [1000n, 0n], [payee]: [700n, 0n] });
  });
});
