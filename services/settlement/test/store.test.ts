/**
 * The settlement store against real Postgres and Redis: exactly-once under concurrent delivery of
 * the same batch, the chain moving forward by one per batch, jobs without a trusted gateway's
 * attestation never applied, and items in a trusted gateway's job that carry no valid authority of
 * their own (a compromised gateway host) never applied either.
 */
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { audit } from '@cbdc/db/audit';
import { recordSeededBank, recordSeededOperators, recordSeededWallets } from '@cbdc/db/registry-seed';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519PrivateKey, ed25519PublicKeyOfSeed, ed25519Sign, signerFromSeed } from '@cbdc/shared/crypto';
import { attestJob, shardQueue, type JobItem } from '@cbdc/shared/job';
import { consumerRedis, redisTargetFromEnv } from '@cbdc/shared/redis';
import { DEFAULT_AUDIENCE, requestStringToSign } from '@cbdc/shared/request-auth';
import { fundingIdOf } from '@cbdc/shared/ids';
import { commitBatch, registerShard } from '../src/store.js';
import { startShardWorker } from '../src/worker.js';

const REDIS = redisTargetFromEnv(process.env);
const NOW = Date.now();

describe('settlement store', () => {
  let db: TestDatabase;
  const shardSeed = randomBytes(32);
  const signer = signerFromSeed(shardSeed);
  const ctx = { shard: 0, shardCount: 1, signer, audience: DEFAULT_AUDIENCE };
  const customerSeed = randomBytes(32);
  const items: JobItem[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const [operatorKey, bankKey] = [ed25519PublicKeyOfSeed(randomBytes(32)), ed25519PublicKeyOfSeed(randomBytes(32))];
    await db.sql`insert into operators (id, name, public_key) values ('op', 'op', ${operatorKey})`;
    await db.sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values ('bank-a', 'A', ${bankKey}, 't_bank-a', 'op')`;
    const pub = ed25519PublicKeyOfSeed(customerSeed);
    await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key, balance_minor) values
      ('w_000000000000000000000001', 'bank-a', 0, 'customer', 'I', ${pub}, 1000),
      ('w_000000000000000000000002', 'bank-a', 0, 'customer', 'I', ${pub}, 0)`;
    await db.sql`insert into wallets (id, bank_id, shard, kind) values ('t_bank-a', 'bank-a', 0, 'treasury')`;
    // The seeded rows in the registry chains, signed by an issuer key, for the audit below.
    const issuer = signerFromSeed(randomBytes(32));
    await db.sql`update issuance_head set public_key = ${issuer.publicKey}`;
    await recordSeededOperators(db.sql, issuer, [{ id: 'op', name: 'op', publicKey: operatorKey }]);
    await recordSeededBank(db.sql, issuer, { id: 'bank-a', name: 'A', publicKey: bankKey, treasuryWalletId: 't_bank-a', treasuryShard: 0, operatorId: 'op' });
    await recordSeededWallets(
      db.sql,
      issuer,
      'bank-a',
      ['w_000000000000000000000001', 'w_000000000000000000000002'].map((id) => ({ id, tier: 'I', publicKey: pub, customerRef: null, shard: 0 })),
    );
    await registerShard(db.sql, 0, signer);
    for (let i = 0; i < 50; i++) {
      const intent = { payerWalletId: 'w_000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 10n, nonce: BigInt(i), expiresAtMs: BigInt(NOW + 60_000), memo: '' };
      const bytes = encodeTransfer(intent);
      items.push({
        id: transferIdOf(bytes),
        kind: 'transfer',
        bankId: 'bank-a',
        payerWalletId: intent.payerWalletId,
        payeeWalletId: intent.payeeWalletId,
        amountMinor: '10',
        nonce: String(i),
        expiresAtMs: String(intent.expiresAtMs),
        memo: '',
        signature: ed25519Sign(ed25519PrivateKey(customerSeed), bytes).toString('hex'),
        submittedAtMs: NOW,
        payeeShard: 0,
      });
    }
  });
  afterAll(async () => db?.drop());

  it('settles a batch delivered to two workers at once exactly once', async () => {
    const [a, b] = await Promise.all([commitBatch(db.sql, ctx, items, NOW), commitBatch(db.sql, ctx, items, NOW)]);
    const settledBy = [a, b].map((r) => r.outcomes.filter((o) => o.status === 'settled').length).sort();
    expect(settledBy).toEqual([0, 50]);
    const duplicates = [a, b].find((r) => r.batchSeq === null)!;
    expect(duplicates.outcomes.every((o) => o.status === 'duplicate')).toBe(true);
    const [w] = await db.sql`select balance_minor from wallets where id = 'w_000000000000000000000002'`;
    expect(w.balance_minor).toBe(500n);
    const [s] = await db.sql`select head_seq from shards where shard = 0`;
    expect(s.head_seq).toBe(1n);
  });

  it('records an over-balance item as rejected in the same batch, moving the chain by one', async () => {
    const intent = { payerWalletId: 'w_000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 10_000n, nonce: 999n, expiresAtMs: BigInt(NOW + 60_000), memo: '' };
    const bytes = encodeTransfer(intent);
    const item: JobItem = { ...items[0], id: transferIdOf(bytes), amountMinor: '10000', nonce: '999', signature: ed25519Sign(ed25519PrivateKey(customerSeed), bytes).toString('hex') };
    const result = await commitBatch(db.sql, ctx, [item], NOW);
    expect(result).toMatchObject({ batchSeq: '2', outcomes: [{ status: 'rejected', code: 'insufficient_funds' }] });
    const report = await audit(db.sql);
    expect(report.findings.filter((f) => f.check !== 'balance' && f.check !== 'conservation' && f.check !== 'reserve')).toEqual([]);
  });

  const withWorker = async (run: (add: (data: ReturnType<typeof attestJob>) => Promise<unknown>, gateway: ReturnType<typeof signerFromSeed>) => Promise<void>) => {
    const prefix = `t${randomBytes(5).toString('hex')}`;
    const gateway = signerFromSeed(randomBytes(32));
    const log = { info() {}, warn() {}, error() {} };
    const worker = await startShardWorker({ sql: db.sql, redis: REDIS, queuePrefix: prefix, shard: 0, shardSeed, gatewayKeys: new Map([['gw', gateway.publicKey]]), audience: DEFAULT_AUDIENCE, lockDurationMs: 30_000, log });
    const q = shardQueue(prefix, 0);
    const connection = consumerRedis(REDIS);
    const queue = new Queue(q.name, { connection, prefix: q.prefix });
    const events = new QueueEvents(q.name, { connection: consumerRedis(REDIS), prefix: q.prefix });
    await events.waitUntilReady();
    try {
      await run(async (data) => (await queue.add('batch', data, { attempts: 3 })).waitUntilFinished(events, 10_000), gateway);
    } finally {
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      await worker.close();
    }
  };
  const recorded = async (ids: string[]) => (await db.sql<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${ids})`)[0].n;

  it('never applies a job whose attestation does not verify', async () => {
    await withWorker(async (add, gateway) => {
      // Signed by a key no settlement service trusts, under the trusted gateway's name and under its own.
      const stranger = signerFromSeed(randomBytes(32));
      await expect(add(attestJob(stranger, 'gateway:gw', 'gw-1', { shard: 0, items: [{ ...items[0], id: 'f'.repeat(64), nonce: '5000' }] }))).rejects.toThrow(/attestation/);
      await expect(add(attestJob(stranger, 'gateway:attacker', 'gw-1', { shard: 0, items: [{ ...items[0], id: 'f'.repeat(64), nonce: '5000' }] }))).rejects.toThrow(/attestation/);
      // Signed by the trusted gateway, then changed on the way.
      const signed = attestJob(gateway, 'gateway:gw', 'gw-1', { shard: 0, items: [{ ...items[0], id: 'e'.repeat(64), nonce: '5001' }] });
      await expect(add({ ...signed, payload: signed.payload.replace('"amountMinor":"10"', '"amountMinor":"900"') })).rejects.toThrow(/attestation/);
      // A gateway may not send what only shards send: a credit for a payee.
      const credit = attestJob(gateway, 'gateway:gw', 'gw-1', { shard: 0, items: [{ type: 'credit', id: 'd'.repeat(64), payeeWalletId: 'w_000000000000000000000002', amountMinor: '500', fromShard: 1 }] });
      await expect(add(credit)).rejects.toThrow(/attestation/);
      expect(await recorded(['f'.repeat(64), 'e'.repeat(64), 'd'.repeat(64)])).toBe(0);
      expect((await db.sql`select count(*)::int as n from transfer_legs`)[0].n).toBe(0);
    });
  });

  it("applies nothing a trusted gateway sends without the customer's or the bank's own authority", async () => {
    await db.sql`update wallets set balance_minor = 100000 where id = 't_bank-a'`;
    const bankSeed = randomBytes(32);
    await db.sql`update banks set public_key = ${ed25519PublicKeyOfSeed(bankSeed)} where id = 'bank-a'`;
    const before = await db.sql`select id, balance_minor from wallets order by id`;
    await withWorker(async (add, gateway) => {
      const payee = 'w_000000000000000000000002';
      const funding = (key: string, authority?: JobItem['authority']): JobItem => ({
        id: fundingIdOf('bank-a', key),
        kind: 'funding',
        bankId: 'bank-a',
        payerWalletId: 't_bank-a',
        payeeWalletId: payee,
        amountMinor: '5000',
        nonce: null,
        expiresAtMs: null,
        memo: '',
        signature: null,
        submittedAtMs: NOW,
        payeeShard: 0,
        authority,
      });
      const body = JSON.stringify({ walletId: payee, amountMinor: '5000' });
      const requestSignedBy = (seed: Buffer, key: string, amountMinor = '5000') => {
        const parts = { pathWithQuery: '/v1/fundings', timestampMs: String(NOW), nonce: `n${key}0000000000000`, contentType: 'application/json', idempotencyKey: key, body: JSON.stringify({ walletId: payee, amountMinor }) };
        const message = requestStringToSign({ audience: DEFAULT_AUDIENCE, method: 'POST', ...parts });
        return { ...parts, signature: ed25519Sign(ed25519PrivateKey(seed), message).toString('hex') };
      };
      // A transfer with a consistent id whose signature is not the payer's key.
      const intent = { payerWalletId: 'w_000000000000000000000001', payeeWalletId: payee, amountMinor: 10n, nonce: 7000n, expiresAtMs: BigInt(NOW + 60_000), memo: '' };
      const bytes = encodeTransfer(intent);
      const forgedTransfer: JobItem = { ...items[0], id: transferIdOf(bytes), nonce: '7000', signature: ed25519Sign(ed25519PrivateKey(randomBytes(32)), bytes).toString('hex') };
      // A genuinely signed transfer whose amount was changed (its id kept).
      const inflated: JobItem = { ...items[0], amountMinor: '900' };
      const forged = [
        funding('no-authority-0001'),
        funding('stranger-key-0001', requestSignedBy(randomBytes(32), 'stranger-key-0001')),
        // The bank's real signature, over another amount than the item's body claims.
        funding('other-amount-0001', { ...requestSignedBy(bankSeed, 'other-amount-0001', '1'), body }),
        // The bank's real signature under another Idempotency-Key than the item's id derives from.
        { ...funding('key-swapped-0001'), authority: requestSignedBy(bankSeed, 'key-swapped-0002') },
        forgedTransfer,
        inflated,
      ];
      // The control: the bank's genuinely signed funding in the same job settles.
      const genuine = funding('genuine-0001', requestSignedBy(bankSeed, 'genuine-0001'));
      await add(attestJob(gateway, 'gateway:gw', 'gw-1', { shard: 0, items: [...forged, genuine] }));
      expect(await recorded(forged.map((f) => f.id).filter((id) => id !== items[0].id))).toBe(0);
      expect(await recorded([genuine.id])).toBe(1);
    });
    const moved = (rows: Array<{ id: string; balance_minor: bigint }>) => Object.fromEntries(rows.map((r) => [r.id, r.balance_minor]));
    // Only the genuine funding moved money: 5,000 from the treasury to the customer.
    const after = moved(await db.sql`select id, balance_minor from wallets order by id`);
    expect(after).toEqual({ ...moved(before as never), 't_bank-a': moved(before as never)['t_bank-a'] - 5000n, w_000000000000000000000002: moved(before as never).w_000000000000000000000002 + 5000n });
  });
});
