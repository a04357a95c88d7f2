/**
 * One bank's input never fails another's (issue 12, finding 3). Jobs of two banks wait in the
 * queue together, so the worker merges them into one settlement transaction; one of them carries
 * an item Postgres cannot hold. Only that item is refused (answered malformed_item, not recorded);
 * every neighbour, in its own job and in the other bank's, settles and is recorded, and no job
 * ends in BullMQ's failed set. Two ways in: a NUL memo, which the pure core refuses; and a value
 * the core does not look at (a submission time beyond a Postgres bigint), which only Postgres
 * refuses, so the worker must split the failing batch to find it.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519PrivateKey, ed25519PublicKeyOfSeed, ed25519Sign, signerFromSeed } from '@cbdc/shared/crypto';
import { attestJob, replyStream, shardQueue, type JobItem, type JobOutcome, type JobResult } from '@cbdc/shared/job';
import { consumerRedis, redisTargetFromEnv, type RedisConnection } from '@cbdc/shared/redis';
import { registerShard } from '../src/store.js';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { startShardWorker, type ShardWorker } from '../src/worker.js';

const REDIS = redisTargetFromEnv(process.env);
const log = { info() {}, warn() {}, error() {} };
const WALLETS = { a1: 'w_00000000000000000000000a', a2: 'w_00000000000000000000000b', b1: 'w_00000000000000000000000c', b2: 'w_00000000000000000000000d' };

describe('a batch with an item the store cannot hold', () => {
  let db: TestDatabase;
  const shardSeed = randomBytes(32);
  const attestationKey = randomBytes(32);
  const customerSeed = randomBytes(32);
  let nonce = 0;
  let prefix: string;
  let connection: RedisConnection;
  let queue: Queue;
  let worker: ShardWorker | undefined;

  /** A customer-signed transfer of `bank`, as its gateway puts it in a job. */
  const transfer = (bank: 'bank-a' | 'bank-b', over: Partial<JobItem> = {}): JobItem => {
    const [payer, payee] = bank === 'bank-a' ? [WALLETS.a1, WALLETS.b1] : [WALLETS.b1, WALLETS.a2];
    const intent = { payerWalletId: payer, payeeWalletId: payee, amountMinor: 10n, nonce: BigInt(++nonce), expiresAtMs: BigInt(Date.now() + 600_000), memo: over.memo ?? `n${nonce}` };
    const bytes = encodeTransfer(intent);
    return {
      id: transferIdOf(bytes),
      kind: 'transfer',
      bankId: bank,
      payerWalletId: payer,
      payeeWalletId: payee,
      amountMinor: '10',
      nonce: String(intent.nonce),
      expiresAtMs: String(intent.expiresAtMs),
      memo: intent.memo,
      signature: ed25519Sign(ed25519PrivateKey(customerSeed), bytes).toString('hex'),
      submittedAtMs: Date.now(),
      payeeShard: 0,
      ...over,
    };
  };

  /** Queues the jobs while no worker runs, then starts one: it takes them all in one batch. */
  const settleTogether = async (jobs: Array<{ gatewayId: string; items: JobItem[] }>, splitTransactionsMax?: number) => {
    for (const j of jobs) await queue.add('batch', attestJob(signerFromSeed(attestationKey), 'gateway:gw', j.gatewayId, { shard: 0, items: j.items }), { attempts: 1 });
    worker = await startShardWorker({
      sql: db.sql,
      redis: REDIS,
      queuePrefix: prefix,
      shard: 0,
      shardSeed,
      gatewayKeys: new Map([['gw', ed25519PublicKeyOfSeed(attestationKey)]]),
      audience: DEFAULT_AUDIENCE,
      lockDurationMs: 30_000,
      log,
      splitTransactionsMax,
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if (counts.completed + counts.failed === jobs.length) return counts;
      if (Date.now() > deadline) throw new Error(`jobs not finished: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** Every outcome the worker sent to a gateway's reply stream, by transfer id. */
  const outcomesOf = async (gatewayId: string): Promise<Map<string, JobOutcome & { batchSeq: string | null }>> => {
    const entries = await connection.xrange(replyStream(prefix, gatewayId), '-', '+');
    const out = new Map<string, JobOutcome & { batchSeq: string | null }>();
    for (const [, fields] of entries) {
      const result = JSON.parse(fields[1]) as JobResult;
      for (const o of result.outcomes) out.set(o.id, { ...o, batchSeq: result.batchSeq });
    }
    return out;
  };

  const recorded = async (ids: string[]) => {
    const rows = await db.sql<{ id: string; status: string }[]>`select id, status from transfers where id = any(${ids})`;
    return new Map(rows.map((r) => [r.id, r.status]));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql`insert into operators (id, name, public_key) values ('op', 'op', ${randomBytes(32)})`;
    await db.sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values ('bank-a', 'A', ${randomBytes(32)}, 't_bank-a', 'op'), ('bank-b', 'B', ${randomBytes(32)}, 't_bank-b', 'op')`;
    const pub = ed25519PublicKeyOfSeed(customerSeed);
    await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key, balance_minor) values
      (${WALLETS.a1}, 'bank-a', 0, 'customer', 'I', ${pub}, 100000), (${WALLETS.a2}, 'bank-a', 0, 'customer', 'I', ${pub}, 0),
      (${WALLETS.b1}, 'bank-b', 0, 'customer', 'I', ${pub}, 100000), (${WALLETS.b2}, 'bank-b', 0, 'customer', 'I', ${pub}, 0)`;
    await registerShard(db.sql, 0, signerFromSeed(shardSeed));
  });
  afterAll(async () => db?.drop());

  // A fresh queue per test (see freshQueue), so that each test's jobs are one batch of their own.
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  });
  const freshQueue = () => {
    prefix = `t${randomBytes(5).toString('hex')}`;
    const q = shardQueue(prefix, 0);
    connection = consumerRedis(REDIS);
    queue = new Queue(q.name, { connection, prefix: q.prefix });
  };

  it("a NUL memo injected into a job: only its item is refused (malformed_item), the other bank's transfers and its own neighbours settle", async () => {
    freshQueue();
    const a = [transfer('bank-a'), transfer('bank-a'), transfer('bank-a')];
    const nul = transfer('bank-b', { memo: 'pay\u0000' });
    const b = [transfer('bank-b'), nul, transfer('bank-b')];
    const lone = transfer('bank-b', { memo: '\u0000' });
    const c = [transfer('bank-a')];
    const counts = await settleTogether([
      { gatewayId: 'gw-a', items: a },
      { gatewayId: 'gw-b', items: b },
      { gatewayId: 'gw-b', items: [lone] },
      { gatewayId: 'gw-a', items: c },
    ]);
    expect(counts).toEqual({ completed: 4, failed: 0 });

    const good = [...a, b[0], b[2], ...c].map((t) => t.id);
    const rows = await recorded([...good, nul.id, lone.id]);
    for (const id of good) expect(rows.get(id)).toBe('settled');
    expect(rows.has(nul.id)).toBe(false);
    expect(rows.has(lone.id)).toBe(false);
    const gwA = await outcomesOf('gw-a');
    const gwB = await outcomesOf('gw-b');
    for (const t of [...a, ...c]) expect(gwA.get(t.id)).toMatchObject({ status: 'settled' });
    for (const t of [b[0], b[2]]) expect(gwB.get(t.id)).toMatchObject({ status: 'settled' });
    for (const t of [nul, lone]) expect(gwB.get(t.id)).toMatchObject({ status: 'rejected', code: 'malformed_item' });
  });

  it('a value only Postgres refuses (a submission time beyond bigint): the worker splits the batch, refuses that item alone, and the rest settle', async () => {
    freshQueue();
    const a = [transfer('bank-a'), transfer('bank-a')];
    const poisoned = transfer('bank-b', { submittedAtMs: 1e20 });
    const b = [transfer('bank-b'), transfer('bank-b'), poisoned, transfer('bank-b'), transfer('bank-b')];
    const lone = transfer('bank-b', { submittedAtMs: 1e20 });
    const c = [transfer('bank-a'), transfer('bank-a')];
    const counts = await settleTogether([
      { gatewayId: 'gw-a', items: a },
      { gatewayId: 'gw-b', items: b },
      { gatewayId: 'gw-b', items: [lone] },
      { gatewayId: 'gw-a', items: c },
    ]);
    expect(counts).toEqual({ completed: 4, failed: 0 });

    const good = [...a, ...b.filter((t) => t !== poisoned), ...c].map((t) => t.id);
    const rows = await recorded([...good, poisoned.id, lone.id]);
    for (const id of good) expect(rows.get(id)).toBe('settled');
    expect(rows.has(poisoned.id)).toBe(false);
    expect(rows.has(lone.id)).toBe(false);
    const gwA = await outcomesOf('gw-a');
    const gwB = await outcomesOf('gw-b');
    for (const t of [...a, ...c]) expect(gwA.get(t.id)).toMatchObject({ status: 'settled' });
    for (const t of b.filter((x) => x !== poisoned)) {
      // Each item's answer names the batch it was committed in.
      const outcome = gwB.get(t.id)!;
      expect(outcome).toMatchObject({ status: 'settled' });
      const [row] = await db.sql`select batch_seq from transfers where id = ${t.id}`;
      expect(outcome.batchSeq).toBe(row.batch_seq.toString());
    }
    for (const t of [poisoned, lone]) expect(gwB.get(t.id)).toMatchObject({ status: 'rejected', code: 'malformed_item' });
    // The chain still verifies link by link: each part is a batch of its own.
    const heads = await db.sql<{ seq: bigint }[]>`select seq from settlement_batches where shard = 0 order by seq`;
    expect(heads.map((h) => Number(h.seq))).toEqual(heads.map((_, i) => i + 1));
  });

  it("splitting is bounded: a job full of culprits fails whole once the budget is spent, and the other bank's job still settles", async () => {
    freshQueue();
    const a = [transfer('bank-a'), transfer('bank-a')];
    const poisoned = Array.from({ length: 16 }, () => transfer('bank-b', { submittedAtMs: 1e20 }));
    // Two transactions for the halves of the batch, then the poisoned job's item halves: the
    // budget of 6 runs out before its 16 culprits are all alone.
    const counts = await settleTogether(
      [
        { gatewayId: 'gw-a', items: a },
        { gatewayId: 'gw-b', items: poisoned },
      ],
      6,
    );
    expect(counts).toEqual({ completed: 1, failed: 1 });
    const rows = await recorded([...a, ...poisoned].map((t) => t.id));
    for (const t of a) expect(rows.get(t.id)).toBe('settled');
    for (const t of poisoned) expect(rows.has(t.id)).toBe(false);
  });
});
