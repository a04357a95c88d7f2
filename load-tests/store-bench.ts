/**
 * The settlement store alone: `commitBatch` in a loop against a fresh, migrated database, no
 * Redis, no HTTP. Prints the wall-clock rate and the CPU per transfer of this process (the
 * worker's share) and of the Postgres backends (the database's share), to tell which side a
 * change moved; alternating, in the same run, batches committed one after another and batches
 * each decided while the one before commits (as the worker runs them).
 *
 *   npx tsx load-tests/store-bench.ts [--wallets 100000] [--batch 5000] [--batches 20] [--rounds 3]
 *
 * With --events on,off each round instead alternates batches decided ahead with the banks' events
 * recorded and not (ShardContext.events), and the last line gives the medians and their ratio:
 * the cost of the outbox write (docs/events.md) in throughput and in CPU per transfer.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '@cbdc/db/testing';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519PublicKeyOfSeed, signerFromSeed } from '@cbdc/shared/crypto';
import type { JobItem } from '@cbdc/shared/job';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { sodiumSecretKeyOfSeed, sodiumSign } from './src/fixture.js';
import { commitBatch, decideAhead, registerShard, type DecidedAhead } from '../services/settlement/src/store.js';
import { WalletCache } from '../services/settlement/src/wallet-cache.js';

const { values: args } = parseArgs({
  options: {
    wallets: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '5000' },
    batches: { type: 'string', default: '20' },
    'no-cache': { type: 'boolean', default: false },
    checkpoint: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    events: { type: 'string' },
  },
});
const WALLETS = Number(args.wallets);
const BATCH = Number(args.batch);
const BATCHES = Number(args.batches);

function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const db = await createTestDatabase();
  try {
    const { sql } = db;
    // Every wallet shares one customer key here: settlement verifies each transfer's signature, as in service.
    const customerSeed = randomBytes(32);
    const customerKey = ed25519PublicKeyOfSeed(customerSeed);
    const customerSecret = sodiumSecretKeyOfSeed(customerSeed);
    await sql`insert into operators (id, name, public_key) values ('op', 'op', ${randomBytes(32)})`;
    await sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values ('bank-a', 'A', ${randomBytes(32)}, 't_bank-a', 'op')`;
    await sql`
      insert into wallets (id, bank_id, shard, kind, tier, public_key, balance_minor)
      select 'w_' || lpad(to_hex(g), 24, '0'), 'bank-a', 0, 'customer', 'IV', ${customerKey}, 1000000000 from generate_series(1, ${WALLETS}) g`;
    await sql`vacuum analyze wallets`;
    const signer = signerFromSeed(randomBytes(32));
    await registerShard(sql, 0, signer);
    const ctx = { shard: 0, shardCount: 1, signer, audience: DEFAULT_AUDIENCE, wallets: args['no-cache'] ? undefined : new WalletCache(WALLETS * 2), events: true };
    const walletId = (n: number) => `w_${n.toString(16).padStart(24, '0')}`;
    let nonce = 1n;
    const makeBatch = (): JobItem[] =>
      Array.from({ length: BATCH }, () => {
        const p = 1 + Math.floor(Math.random() * WALLETS);
        const q = 1 + ((p + Math.floor(Math.random() * (WALLETS - 1))) % WALLETS);
        const intent = { payerWalletId: walletId(p), payeeWalletId: walletId(q), amountMinor: 1n, nonce: nonce++, expiresAtMs: BigInt(Date.now() + 600_000), memo: '' };
        return {
          id: transferIdOf(encodeTransfer(intent)),
          kind: 'transfer',
          bankId: 'bank-a',
          payerWalletId: intent.payerWalletId,
          payeeWalletId: intent.payeeWalletId,
          amountMinor: '1',
          nonce: intent.nonce.toString(),
          expiresAtMs: intent.expiresAtMs.toString(),
          memo: '',
          signature: sodiumSign(customerSecret, encodeTransfer(intent)).toString('hex'),
          submittedAtMs: Date.now(),
          payeeShard: 0,
        } satisfies JobItem;
      });
    // One warm-up batch (fills the wallet cache, plans, JIT), not measured.
    await commitBatch(sql, ctx, makeBatch(), Date.now());
    const backends = async () => (await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`).map((r) => r.pid);
    const pgCpu = async () => (await backends()).reduce((a, p) => a + cpuSecondsOf(p), 0);
    const walBytes = async () => Number((await sql<{ b: string }[]>`select wal_bytes::text as b from pg_stat_wal`)[0].b);

    /** Commits `batches` one after another; with `ahead`, each is decided while the one before commits. */
    const measure = async (label: string, ahead: boolean) => {
      const batches = Array.from({ length: BATCHES }, makeBatch);
      if (args.checkpoint) await sql`checkpoint`;
      const [wal0, pg0, me0, t0] = [await walBytes(), await pgCpu(), process.cpuUsage(), performance.now()];
      const timings = { lock: 0, decide: 0, write: 0, commit: 0 };
      let decidedAhead = 0;
      let following: Promise<DecidedAhead | null> = Promise.resolve(null);
      for (const [i, b] of batches.entries()) {
        const r = await commitBatch(sql, ctx, b, Date.now(), {
          ahead: await following,
          onDecided: ahead && i + 1 < BATCHES ? (aftermath) => (following = decideAhead(sql, ctx, batches[i + 1], Date.now(), aftermath)) : undefined,
        });
        if (!ahead || i + 1 === BATCHES) following = Promise.resolve(null);
        if (r.decidedAhead) decidedAhead++;
        for (const k of Object.keys(timings) as Array<keyof typeof timings>) timings[k] += r.timingsMs[k];
      }
      const wallS = (performance.now() - t0) / 1000;
      const me = process.cpuUsage(me0);
      const pg = (await pgCpu()) - pg0;
      const wal = (await walBytes()) - wal0;
      const n = BATCH * BATCHES;
      const us = (s: number) => Math.round((s * 1e6) / n);
      return {
        mode: label,
        transfers: n,
        batch: BATCH,
        tps: Math.round(n / wallS),
        decided_ahead: decidedAhead,
        worker_cpu_us_per_transfer: us((me.user + me.system) / 1e6),
        postgres_backend_cpu_us_per_transfer: us(pg),
        wal_bytes_per_transfer: Math.round(wal / n),
        ms_per_batch: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v / BATCHES)])),
      };
    };
    const rounds = Number(args.rounds);
    const results: Array<Awaited<ReturnType<typeof measure>>> = [];
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    if (args.events) {
      const settings = args.events.split(',');
      for (let round = 0; round < rounds; round++) {
        for (const setting of settings) {
          ctx.events = setting === 'on';
          results.push(await measure(`decided ahead, events ${setting}`, true));
        }
      }
      for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
      const of = (setting: string, f: (r: (typeof results)[number]) => number) => median(results.filter((r) => r.mode === `decided ahead, events ${setting}`).map(f));
      const cpu = (r: (typeof results)[number]) => r.worker_cpu_us_per_transfer + r.postgres_backend_cpu_us_per_transfer;
      process.stdout.write(
        `${JSON.stringify({
          median_tps_events_on: of('on', (r) => r.tps),
          median_tps_events_off: of('off', (r) => r.tps),
          ratio_tps_on_to_off: Number((of('on', (r) => r.tps) / of('off', (r) => r.tps)).toFixed(3)),
          median_cpu_us_per_transfer_events_on: of('on', cpu),
          median_cpu_us_per_transfer_events_off: of('off', cpu),
          median_wal_bytes_per_transfer_events_on: of('on', (r) => r.wal_bytes_per_transfer),
          median_wal_bytes_per_transfer_events_off: of('off', (r) => r.wal_bytes_per_transfer),
        })}\n`,
      );
      return;
    }
    for (let round = 0; round < rounds; round++) {
      results.push(await measure('one after another', false));
      results.push(await measure('decided ahead', true));
    }
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
    const tpsOf = (mode: string) => median(results.filter((r) => r.mode === mode).map((r) => r.tps));
    process.stdout.write(
      `${JSON.stringify({ median_tps_one_after_another: tpsOf('one after another'), median_tps_decided_ahead: tpsOf('decided ahead'), ratio: Number((tpsOf('decided ahead') / tpsOf('one after another')).toFixed(2)) })}\n`,
    );
  } finally {
    await db.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
