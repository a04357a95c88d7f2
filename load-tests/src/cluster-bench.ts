/**
 * `npm run bench -- --cluster --shards 1,2,4,8`: settlement scaling across shards and Postgres
 * servers, measured as CPU per settled transfer.
 *
 * For each shard count and each share of transfers crossing shards (`--cross`, 0,10,50 %; one
 * shard has only 0), a fresh system: a central Postgres server, `--groups` shard-group Postgres
 * servers (2 by default; never more than the shards) and a Redis, each its own process
 * (hosts.ts), the issuer on the central database, and one settlement process per group serving
 * its shards with only their keys. The banks are onboarded and minted through the issuer, the
 * wallets seeded into their groups' databases and funded through settlement. Then the
 * settlement-only feeder pushes signed, attested transfers straight into the shard queues (a
 * bounded backlog per shard, as fast as they settle) until all have settled.
 *
 * Measured over that window (first job pushed to everything settled, nothing in flight):
 * - settled_tps: transfers committed settled (rows in the groups' databases) / window seconds;
 * - cpu_us_per_transfer: CPU (user + system, /proc) of the settlement processes, every Postgres
 *   server (each postmaster's whole process tree: backends, WAL writer, checkpointer...; the
 *   central one included) and the Redis server, over settled transfers. Not counted: the bench
 *   process (signing, feeding, polling) and the idle issuer;
 * - commit_p99_ms: p99 over all batches of all shards of a settlement transaction's duration,
 *   from its BEGIN (the head lock) to the COMMIT's acknowledgement, from the workers' own
 *   "batch committed" log lines (lockMs + decideMs + writeMs + commitMs);
 * - conserved: after every configuration, the groups' wallet balances plus the money in flight
 *   between shards equal the central issuance head's supply (conservation.ts).
 *
 * `--runs N` repeats every configuration N times (interleaved: all configurations once, then
 * again), and the table and the JSON hold the medians. `--smoke` is the CI-sized version.
 */
import { appendFileSync } from 'node:fs';
import Table from 'cli-table3';
import { consumerRedis } from '@cbdc/shared/redis';
import { checkConservation } from './conservation.js';
import { cpuDelta, treeCpuSnapshot } from './cpu.js';
import { crossSharePayees, signedTransfers } from './feed.js';
import { seedPopulation, startBenchSystem, type BenchSystem, type Population } from './fixture.js';
import { startHosts } from './hosts.js';
import { attestedJobs, drain, enqueueJobs, openShardQueues } from './queues.js';

export interface ClusterBenchOptions {
  shardCounts: number[];
  /** Shares of transfers crossing shards, in percent. */
  crossPercents: number[];
  /** Shard-group Postgres servers (at most the shard count). */
  groups: number;
  runs: number;
  /** One system per shard count, loaded with each crossing share in turn (the smoke's shortcut), instead of one per configuration. */
  systemPerShardCount: boolean;
  wallets: number;
  transfers: number;
  smoke: boolean;
  log: (line: string) => void;
}

interface Config {
  shards: number;
  crossPercent: number;
}

interface BatchLine {
  time: number;
  items: number;
  txMs: number;
}

interface Measured {
  settled: number;
  rejected: number;
  windowS: number;
  settledTps: number;
  cpuS: { settlement: number; postgres: number; redis: number };
  cpuUsPerTransfer: number;
  batches: number;
  itemsPerBatch: number;
  commitP99Ms: number;
  /** Commands Redis processed (INFO total_commands_processed), per settled transfer. */
  redisCommandsPerTransfer: number;
  /** WAL the group servers wrote (their LSNs moved), per settled transfer. */
  walBytesPerTransfer: number;
  conserved: boolean;
}

/** Where the servers stand: Redis's command count and each ledger database's WAL position. */
async function counters(cs: ClusterSystem): Promise<{ redisCommands: number; walLsns: string[] }> {
  const redis = consumerRedis(cs.sys.redis);
  try {
    const stats = await redis.info('stats');
    const redisCommands = Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0);
    const walLsns = await Promise.all(cs.sys.ledgers.map(async (l) => (await l.sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`)[0].lsn));
    return { redisCommands, walLsns };
  } finally {
    redis.disconnect();
  }
}

/** Bytes of WAL between two LSNs of the same server, summed over the ledger databases. */
async function walBytesBetween(cs: ClusterSystem, from: string[], to: string[]): Promise<number> {
  const each = await Promise.all(cs.sys.ledgers.map(async (l, i) => Number((await l.sql<{ bytes: string }[]>`select pg_wal_lsn_diff(${to[i]}, ${from[i]})::text as bytes`)[0].bytes)));
  return each.reduce((a, b) => a + b, 0);
}

/** Transfers per job (what one gateway micro-batch would carry at most) and queued jobs per shard at the most. */
const TRANSFERS_PER_JOB = 500;
const JOBS_WAITING_PER_SHARD_MAX = 4;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
};

interface ClusterSystem {
  shards: number;
  sys: BenchSystem;
  pop: Population;
  /** The servers' and settlement processes' pids (not the issuer's, which idles). */
  measuredPids(): Record<string, number>;
  /** Every "batch committed" line the settlement processes logged so far. */
  batches: BatchLine[];
  stop(): Promise<void>;
}

/** A fresh system of `shards` shards on fresh servers, seeded and funded. */
async function startClusterSystem(shards: number, o: ClusterBenchOptions): Promise<ClusterSystem> {
  const hosts = await startHosts({ groups: Math.min(o.groups, shards), postgresSettings: { shared_buffers: '128MB' } });
  o.log('    servers up');
  const batches: BatchLine[] = [];
  let sys: BenchSystem | undefined;
  const stop = async () => {
    await sys?.stop().catch((error: Error) => o.log(`    stopping the system: ${error.message}`));
    await hosts.stop();
  };
  try {
    sys = await startBenchSystem({
      shards,
      adminUrl: hosts.centralAdminUrl,
      redis: { mode: 'single', url: hosts.redisUrl },
      groupAdminUrls: hosts.groupAdminUrls,
      settlementPerGroup: true,
      services: ['issuer', 'settlement'],
      serviceEnv: { settlement: { LOG_LEVEL: 'info' } },
      onServiceLine: (label, line) => {
        // BENCH_CLUSTER_LOG=<file> keeps every settlement log line, for a look at the batches' timings.
        if (process.env.BENCH_CLUSTER_LOG) appendFileSync(process.env.BENCH_CLUSTER_LOG, `${label} ${line}\n`);
        if (!label.startsWith('settlement') || !line.includes('"batch committed"')) return;
        try {
          const l = JSON.parse(line) as { time: number; items: number; lockMs: number; decideMs: number; writeMs: number; commitMs: number };
          batches.push({ time: l.time, items: l.items, txMs: l.lockMs + l.decideMs + l.writeMs + l.commitMs });
        } catch {
          // not a log line of ours
        }
      },
    });
    o.log('    system up');
    const pop = await seedPopulation(sys, { banks: 2, walletCount: o.wallets, fundMinor: 1_000_000n, onProgress: (l) => o.log(`    seed: ${l}`) });
    const system = sys;
    return {
      shards,
      sys: system,
      pop,
      measuredPids: () => Object.fromEntries(Object.entries({ ...system.pids, ...hosts.pids() }).filter(([label]) => label !== 'issuer')),
      batches,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Loads `cs` with transfers of which `crossPercent` cross shards, until all have settled; measures. */
async function measureLoad(cs: ClusterSystem, crossPercent: number, o: ClusterBenchOptions): Promise<Measured> {
  const { sys, pop } = cs;
  const tagMs = Date.now();
  const jobs = attestedJobs(sys.keys.attestation, 'bench-cluster', signedTransfers(pop, o.transfers, crossSharePayees(pop, cs.shards, crossPercent / 100), tagMs), TRANSFERS_PER_JOB);
  o.log(`    signed ${jobs.length} jobs; loading`);
  const queues = openShardQueues(sys.redis, sys.queuePrefix, cs.shards);
  const pids = cs.measuredPids();
  const countersBefore = await counters(cs);
  const before = treeCpuSnapshot(pids);
  const startMs = Date.now();
  let drained = false;
  try {
    await enqueueJobs(queues, jobs, { name: 'bench', waitingMax: JOBS_WAITING_PER_SHARD_MAX, timeoutMs: o.smoke ? 60_000 : 300_000 });
    drained = await drain(queues, sys.ledgers, o.smoke ? 60_000 : 300_000);
  } finally {
    await queues.close();
  }
  const endMs = Date.now();
  const cpu = cpuDelta(before, treeCpuSnapshot(pids));
  const countersAfter = await counters(cs);
  if (!drained) throw new Error(`${cs.shards} shard(s), ${crossPercent}% crossing: did not drain`);
  const sum = (prefix: string) => Object.entries(cpu).reduce((a, [label, s]) => (label.startsWith(prefix) ? a + s : a), 0);
  const cpuS = { settlement: sum('settlement'), postgres: sum('postgres'), redis: sum('redis') };
  const counts = await Promise.all(
    sys.ledgers.map(
      async (l) =>
        (
          await l.sql<{ settled: number; rejected: number }[]>`
      select count(*) filter (where status = 'settled')::int as settled, count(*) filter (where status = 'rejected')::int as rejected
      from transfers where kind = 'transfer' and submitted_at_ms = ${tagMs}`
        )[0],
    ),
  );
  const settled = counts.reduce((a, r) => a + r.settled, 0);
  const rejected = counts.reduce((a, r) => a + r.rejected, 0);
  const conservation = await checkConservation(sys.sql, sys.ledgers);
  if (!conservation.ok)
    o.log(`    NOT CONSERVED: balances ${conservation.walletBalancesMinor} + held ${conservation.heldMinor} + in flight ${conservation.inFlightMinor} against supply ${conservation.supplyMinor}, ${conservation.negativeBalances} negative`);
  const window = cs.batches.filter((b) => b.time >= startMs && b.time <= endMs);
  const windowS = (endMs - startMs) / 1000;
  const totalCpu = cpuS.settlement + cpuS.postgres + cpuS.redis;
  return {
    settled,
    rejected,
    windowS,
    settledTps: Math.round(settled / windowS),
    cpuS,
    cpuUsPerTransfer: Math.round((totalCpu * 1e6) / Math.max(settled, 1)),
    batches: window.length,
    itemsPerBatch: Math.round(window.reduce((a, b) => a + b.items, 0) / Math.max(window.length, 1)),
    commitP99Ms: percentile(
      window.map((b) => b.txMs),
      0.99,
    ),
    redisCommandsPerTransfer: Number(((countersAfter.redisCommands - countersBefore.redisCommands) / Math.max(settled, 1)).toFixed(2)),
    walBytesPerTransfer: Math.round((await walBytesBetween(cs, countersBefore.walLsns, countersAfter.walLsns)) / Math.max(settled, 1)),
    conserved: conservation.ok,
  };
}

const keyOf = (c: Config) => `${c.shards}/${c.crossPercent}`;

/** Runs every configuration `runs` times, prints the table of medians and, last, the JSON line. */
export async function clusterBench(options: ClusterBenchOptions): Promise<boolean> {
  const began = Date.now();
  const o = { ...options, log: (line: string) => options.log(`[${((Date.now() - began) / 1000).toFixed(1)} s] ${line}`) };
  const configs: Config[] = o.shardCounts.flatMap((shards) => (shards === 1 ? [{ shards, crossPercent: 0 }] : o.crossPercents.map((crossPercent) => ({ shards, crossPercent }))));
  const results = new Map<string, Measured[]>();
  o.log(`bench --cluster: ${o.smoke ? 'smoke' : 'full'}, ${configs.length} configurations x ${o.runs} run(s), ${o.wallets} wallets, ${o.transfers} transfers each`);
  for (let run = 1; run <= o.runs; run++) {
    for (const shards of o.shardCounts) {
      let system: ClusterSystem | null = null;
      try {
        for (const c of configs.filter((x) => x.shards === shards)) {
          o.log(`run ${run}/${o.runs}: ${c.shards} shard(s), ${c.crossPercent}% crossing, ${Math.min(o.groups, c.shards)} group server(s)`);
          // A fresh system for every configuration, unless asked to share one per shard count.
          if (system && !o.systemPerShardCount) {
            await system.stop();
            system = null;
          }
          system ??= await startClusterSystem(shards, o);
          const m = await measureLoad(system, c.crossPercent, o);
          o.log(
            `  settled ${m.settled} in ${m.windowS.toFixed(1)} s: ${m.settledTps}/s, ${m.cpuUsPerTransfer} CPU-us/transfer (settlement ${m.cpuS.settlement.toFixed(1)} s, postgres ${m.cpuS.postgres.toFixed(1)} s, redis ${m.cpuS.redis.toFixed(1)} s), ${m.batches} batches of ${m.itemsPerBatch}, ${m.rejected} rejected, commit p99 ${m.commitP99Ms} ms, Redis ${m.redisCommandsPerTransfer} commands and WAL ${m.walBytesPerTransfer} B per transfer, conserved ${m.conserved}`,
          );
          results.set(keyOf(c), [...(results.get(keyOf(c)) ?? []), m]);
        }
      } finally {
        await system?.stop();
      }
    }
  }

  const med = (c: Config, f: (m: Measured) => number) => median((results.get(keyOf(c)) ?? []).map(f));
  const perTransfer = (c: Config, part: keyof Measured['cpuS']) => Math.round(med(c, (m) => (m.cpuS[part] * 1e6) / Math.max(m.settled, 1)));
  const baseline = med({ shards: o.shardCounts.includes(1) ? 1 : o.shardCounts[0], crossPercent: 0 }, (m) => m.cpuUsPerTransfer);
  /** What a crossing transfer costs against one on its payer's shard: from cost(x) = (1 - x) same + x cross. */
  const crossRatio = (c: Config) => {
    if (c.crossPercent === 0) return null;
    const same = med({ shards: c.shards, crossPercent: 0 }, (m) => m.cpuUsPerTransfer);
    if (!results.has(keyOf({ shards: c.shards, crossPercent: 0 }))) return null;
    const x = c.crossPercent / 100;
    const cross = (med(c, (m) => m.cpuUsPerTransfer) - (1 - x) * same) / x;
    return Number((cross / same).toFixed(2));
  };
  const table = new Table({
    head: ['shards', 'crossing', 'group servers', 'settled/s', 'CPU µs/transfer', 'settlement / postgres / redis µs', 'vs 1 shard', 'cross/same cost', 'batches, items each', 'commit p99 ms', 'Redis cmds, WAL B /transfer', 'conserved'],
    style: { head: [], border: [] },
  });
  const summary: Record<string, unknown> = { mode: o.smoke ? 'smoke' : 'full', runs: o.runs, wallets: o.wallets, transfers_per_run: o.transfers, cross_percent: o.crossPercents, results: {} as Record<string, unknown> };
  const byConfig = summary.results as Record<string, Record<string, unknown>>;
  for (const c of configs) {
    const cpuUs = Math.round(med(c, (m) => m.cpuUsPerTransfer));
    const ratio = crossRatio(c);
    const conserved = (results.get(keyOf(c)) ?? []).every((m) => m.conserved);
    table.push([
      c.shards,
      `${c.crossPercent}%`,
      Math.min(o.groups, c.shards),
      Math.round(med(c, (m) => m.settledTps)),
      cpuUs,
      `${perTransfer(c, 'settlement')} / ${perTransfer(c, 'postgres')} / ${perTransfer(c, 'redis')}`,
      c.crossPercent === 0 ? `${((cpuUs / baseline - 1) * 100).toFixed(1)}%` : '',
      ratio ?? '',
      `${Math.round(med(c, (m) => m.batches))}, ${Math.round(med(c, (m) => m.itemsPerBatch))}`,
      Math.round(med(c, (m) => m.commitP99Ms)),
      `${med(c, (m) => m.redisCommandsPerTransfer)}, ${Math.round(med(c, (m) => m.walBytesPerTransfer))}`,
      conserved ? 'yes' : 'NO',
    ]);
    byConfig[`shards_${c.shards}`] ??= {};
    byConfig[`shards_${c.shards}`][`cross_${c.crossPercent}`] = {
      settled_tps: Math.round(med(c, (m) => m.settledTps)),
      cpu_us_per_transfer: cpuUs,
      cpu_us_per_transfer_settlement: perTransfer(c, 'settlement'),
      cpu_us_per_transfer_postgres: perTransfer(c, 'postgres'),
      cpu_us_per_transfer_redis: perTransfer(c, 'redis'),
      commit_p99_ms: Math.round(med(c, (m) => m.commitP99Ms)),
      redis_commands_per_transfer: med(c, (m) => m.redisCommandsPerTransfer),
      wal_bytes_per_transfer: Math.round(med(c, (m) => m.walBytesPerTransfer)),
      ...(ratio === null ? {} : { cross_to_same_cost_ratio: ratio }),
    };
  }
  process.stdout.write(`${table.toString()}\n`);
  const sameShard = configs.filter((c) => c.crossPercent === 0).map((c) => Math.round(med(c, (m) => m.cpuUsPerTransfer)));
  const worst = Math.max(...sameShard.map((v) => Math.abs(v / baseline - 1)));
  summary.baseline_cpu_us_per_transfer = Math.round(baseline);
  summary.same_shard_max_deviation = Number(worst.toFixed(3));
  summary.same_shard_within_15_percent = worst <= 0.15;
  summary.conserved = [...results.values()].every((ms) => ms.every((m) => m.conserved));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.conserved as boolean;
}
