/**
 * The settlement store against real Postgres and Redis: exactly-once under concurrent delivery of
 * the same batch, the chain moving forward by one per batch, and jobs without a gateway
 * attestation never applied.
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
import { consumerRedis } from '@cbdc/shared/redis';
import { commitBatch, registerShard } from '../src/store.js';
import { startShardWorker } from '../src/worker.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NOW = Date.now();

describe('settlement store', () => {
  let db: TestDatabase;
  const shardSeed = randomBytes(32);
  const signer = signerFromSeed(shardSeed);
  const ctx = { shard: 0, shardCount: 1, signer };
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
    await recordSeededWallets(db.sql, issuer, 'bank-a', ['w_000000000000000000000001', 'w_000000000000000000000002'].map((id) => ({ id, tier: 'I', publicKey: pub, customerRef: null, shard: 0 })));
    await registerShard(db.sql, 0, signer);
    for (let i = 0; i < 50; i++) {
      const intent = { payerWalletId: 'w_000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 10n, nonce: BigInt(i), expiresAtMs: BigInt(NOW + 60_000), memo: '' };
      const bytes = encodeTransfer(intent);
      items.push({ id: transferIdOf(bytes), kind: 'transfer', bankId: 'bank-a', payerWalletId: intent.payerWalletId, payeeWalletId: intent.payeeWalletId, amountMinor: '10', nonce: String(i), expiresAtMs: String(intent.expiresAtMs), memo: '', signature: ed25519Sign(ed25519PrivateKey(customerSeed), bytes).toString('hex'), submittedAtMs: NOW, payeeShard: 0 });
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

  it('never applies a job whose attestation does not verify', async () => {
    const prefix = `t${randomBytes(5).toString('hex')}`;
    const key = randomBytes(32);
    const log = { info() {}, warn() {}, error() {} };
    const worker = await startShardWorker({ sql: db.sql, redisUrl: REDIS_URL, queuePrefix: prefix, shard: 0, shardSeed, attestationKey: key, lockDurationMs: 30_000, log });
    const q = shardQueue(prefix, 0);
    const connection = consumerRedis(REDIS_URL);
    const queue = new Queue(q.name, { connection, prefix: q.prefix });
    const events = new QueueEvents(q.name, { connection: consumerRedis(REDIS_URL), prefix: q.prefix });
    await events.waitUntilReady();
    try {
      const forged = attestJob(randomBytes(32), 'attacker', { shard: 0, items: [{ ...items[0], id: 'f'.repeat(64), nonce: '5000' }] });
      const job = await queue.add('batch', forged, { attempts: 3 });
      await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(/attestation/);
      const tamperedPayload = attestJob(key, 'gw', { shard: 0, items: [{ ...items[0], id: 'e'.repeat(64), nonce: '5001' }] });
      const tampered = await queue.add('batch', { ...tamperedPayload, payload: tamperedPayload.payload.replace('"amountMinor":"10"', '"amountMinor":"900"') }, { attempts: 3 });
      await expect(tampered.waitUntilFinished(events, 10_000)).rejects.toThrow(/attestation/);
      const [row] = await db.sql`select count(*)::int as n from transfers where id in (${'f'.repeat(64)}, ${'e'.repeat(64)})`;
      expect(row.n).toBe(0);
    } finally {
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      await worker.close();
    }
  });
});
