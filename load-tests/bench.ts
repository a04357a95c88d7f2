/**
 * `npm run bench`: one command that measures this machine's baselines, starts the system, loads
 * it, and prints a table, then, as its last line, one JSON object with the figures.
 *
 *   npm run bench                       full run (about 3 minutes)
 *   npm run bench -- --smoke            a few seconds of each phase: checks it runs and conserves money
 *   npm run bench -- --shards 2         run N settlement shards
 *   npm run bench -- --gateway-processes 1   one gateway process instead of one per core
 *   npm run bench -- --events on,off    the phases with the banks' events recorded and not (the
 *                                       cost of the outbox, docs/events.md), settlement restarted
 *                                       between; a list such as off,on,on,off alternates (the first
 *                                       run is cold: balance it), and the medians and their ratio
 *                                       are printed
 *   npm run bench -- --cluster --shards 1,2,4,8   settlement scaling across shards and Postgres
 *                                       servers (src/cluster-bench.ts; --cross 0,10,50, --groups 2,
 *                                       --runs N, --system-per-shard-count, --smoke)
 *
 * settled_tps is counted from committed transfers in Postgres over the middle of the measured
 * window, not from HTTP answers. Latencies are submit-to-settled as the bank sees them (the sync
 * API answers once the batch has committed).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { audit } from '@cbdc/db/audit';
import { commitLatencyMs, pgbenchTpcb, rawBatchedSqlRate, verifyLimitPerSecond } from './src/baselines.js';
import { cpuDelta, cpuSnapshot } from './src/cpu.js';
import { ADMIN_URL, seedPopulation, startBenchSystem, type BenchSystem, type Population } from './src/fixture.js';
import { signedTransfers, uniformPayees } from './src/feed.js';
import { attestedJobs, drain as drainQueues, enqueueJobs, openShardQueues } from './src/queues.js';
import { buildPool, type Mix } from './src/pool.js';
import { runLoad, type LoadResult } from './src/run-load.js';
import { clusterBench } from './src/cluster-bench.js';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    shards: { type: 'string', default: '1' },
    wallets: { type: 'string' },
    'batch-size': { type: 'string', default: '50' },
    connections: { type: 'string', default: '64' },
    'batch-connections': { type: 'string', default: '48' },
    // Gateway processes sharing the port; one per core by default, as a gateway host would run.
    'gateway-processes': { type: 'string', default: String(availableParallelism()) },
    // For investigation only: the official figures come from the full run.
    phases: { type: 'string', default: 'single,batch,hot,half,settlement' },
    baselines: { type: 'boolean', default: true },
    // The multi-server scaling bench (src/cluster-bench.ts): --shards is then a list.
    cluster: { type: 'boolean', default: false },
    cross: { type: 'string', default: '0,10,50' },
    groups: { type: 'string', default: '2' },
    runs: { type: 'string' },
    // One system per shard count, loaded with each crossing share in turn (the smoke's default; saves the start-ups).
    'system-per-shard-count': { type: 'boolean' },
    transfers: { type: 'string' },
    // Whether settlement records the banks' events (SETTLE_EVENTS), in turn: "on", or "on,off,on,off".
    // (--transfers also sets the settlement-only phase's count, outside --cluster.)
    events: { type: 'string', default: 'on' },
  },
  allowNegative: true,
});
const SMOKE = args.smoke;
const SHARDS = args.cluster ? 0 : Number(args.shards);
const WALLETS = Number(args.wallets ?? (SMOKE ? 2_000 : 100_000));
const PER_REQUEST = Number(args['batch-size']);
const CONNECTIONS = Number(args.connections);
const BATCH_CONNECTIONS = Number(args['batch-connections']);
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Phase {
  name: string;
  mix: Mix;
  perRequest: number;
  transfers: number;
  rate?: number;
  connections: number;
}

interface PhaseResult {
  phase: Phase;
  load: LoadResult;
  settled: number;
  rejected: number;
  settledTps: number;
  queueWaitMs: { p50: number; p99: number };
  walBytesPerTransfer: number;
  requestsPerSecond: number;
  cpu: Record<string, number>;
}

async function drain(sys: BenchSystem): Promise<void> {
  const queues = openShardQueues(sys.redis, sys.queuePrefix, sys.shardCount);
  try {
    await drainQueues(queues, sys.ledgers);
  } finally {
    await queues.close();
  }
}

/** Committed transfers per second over the middle 70% of the run's span. */
async function settledRate(sys: BenchSystem, fromMs: number, toMs: number) {
  const [span] = await sys.sql<{ first: bigint | null; last: bigint | null }[]>`
    select min(settled_at_ms) as first, max(settled_at_ms) as last from transfers where kind = 'transfer' and submitted_at_ms >= ${fromMs} and submitted_at_ms <= ${toMs}`;
  if (span.first === null || span.last === null) return { settled: 0, rejected: 0, tps: 0, queueWaitMs: { p50: 0, p99: 0 } };
  const first = Number(span.first);
  const last = Number(span.last);
  const margin = Math.round((last - first) * 0.15);
  const [inWindow] = await sys.sql<{ n: number }[]>`
    select count(*)::int as n from transfers where kind = 'transfer' and leg_status in ('settled', 'debited') and settled_at_ms >= ${first + margin} and settled_at_ms <= ${last - margin} and submitted_at_ms >= ${fromMs}`;
  const [totals] = await sys.sql<{ settled: number; rejected: number }[]>`
    select count(*) filter (where status = 'settled')::int as settled, count(*) filter (where status = 'rejected')::int as rejected
    from transfers where kind = 'transfer' and submitted_at_ms >= ${fromMs} and submitted_at_ms <= ${toMs}`;
  // From acceptance at the gateway (after authentication and the wallet lookup) to the start
  // of the batch that settled it: the share of the latency spent queued.
  const [wait] = await sys.sql<{ p50: number | null; p99: number | null }[]>`
    select percentile_disc(0.5) within group (order by settled_at_ms - submitted_at_ms)::int as p50, percentile_disc(0.99) within group (order by settled_at_ms - submitted_at_ms)::int as p99
    from transfers where kind = 'transfer' and submitted_at_ms >= ${fromMs} and submitted_at_ms <= ${toMs}`;
  const windowS = Math.max((last - first - 2 * margin) / 1000, 0.001);
  return { settled: totals.settled, rejected: totals.rejected, tps: last > first ? Math.round(inWindow.n / windowS) : totals.settled, queueWaitMs: { p50: wait.p50 ?? 0, p99: wait.p99 ?? 0 } };
}

/** WAL written by the whole server so far (the bench is the only writer while it runs). */
async function walBytes(sys: BenchSystem): Promise<number> {
  const [row] = await sys.sql<{ bytes: string }[]>`select wal_bytes::text as bytes from pg_stat_wal`;
  return Number(row.bytes);
}

async function runPhase(sys: BenchSystem, pop: Population, phase: Phase): Promise<PhaseResult> {
  log(`signing ${phase.transfers} transfers for ${phase.name}...`);
  const pool = buildPool(pop, sys.keys.banks, { transfers: phase.transfers, mix: phase.mix, perRequest: phase.perRequest, amountMaxMinor: 100 });
  log(`running ${phase.name}: ${pool.length} requests, ${phase.connections} connections${phase.rate ? `, ${phase.rate} req/s` : ', max rate'}`);
  const before = cpuSnapshot(sys.pids);
  const walBefore = await walBytes(sys);
  const load = await runLoad({ url: sys.gatewayUrl, pool, connections: phase.connections, rate: phase.rate, durationS: SMOKE ? 20 : 120, label: phase.name });
  await drain(sys);
  const cpu = cpuDelta(before, cpuSnapshot(sys.pids));
  const wal = (await walBytes(sys)) - walBefore;
  log(`  p99 of each second's answers, ms: ${load.p99BySecondMs.join(' ')}`);
  const rate = await settledRate(sys, load.startedAtMs - 1000, load.endedAtMs + 1000);
  return {
    phase,
    load,
    settled: rate.settled,
    rejected: rate.rejected,
    settledTps: rate.tps,
    queueWaitMs: rate.queueWaitMs,
    walBytesPerTransfer: Math.round(wal / Math.max(rate.settled + rate.rejected, 1)),
    requestsPerSecond: Math.round(load.requests / ((load.endedAtMs - load.startedAtMs) / 1000)),
    cpu,
  };
}

/** Feeds pre-verified, attested batches straight to the settlement queues and measures the commit rate. */
async function settlementOnly(sys: BenchSystem, pop: Population, transfers: number, batchSize: number): Promise<{ tps: number; cpu: Record<string, number> }> {
  const now = Date.now();
  log(`signing ${transfers} transfers for settlement-only...`);
  const jobs = attestedJobs(sys.keys.attestation, 'bench', signedTransfers(pop, transfers, uniformPayees(pop), now), batchSize);
  const queues = openShardQueues(sys.redis, sys.queuePrefix, sys.shardCount);
  const before = cpuSnapshot(sys.pids);
  const start = Date.now();
  log(`settlement-only: ${jobs.length} jobs of up to ${batchSize}`);
  try {
    await enqueueJobs(queues, jobs, { name: 'bench' });
    await drainQueues(queues, sys.ledgers);
  } finally {
    await queues.close();
  }
  // Settled-at is a batch's start time; the end of the last batch is when the queue drained.
  const end = Date.now();
  const cpu = cpuDelta(before, cpuSnapshot(sys.pids));
  const [row] = await sys.sql<{ n: number }[]>`select count(*)::int as n from transfers where submitted_at_ms = ${now} and kind = 'transfer'`;
  const spanS = Math.max((end - start) / 1000, 0.001);
  return { tps: Math.round(row.n / spanS), cpu };
}

interface Measured {
  results: PhaseResult[];
  peak: PhaseResult | null;
  half: PhaseResult | null;
  settleOnly: { tps: number; cpu: Record<string, number> };
  single: Phase;
}

/** The settings of --events, in order ("on", "off", or a list alternating them). */
function eventSettings(text: string): Array<'on' | 'off'> {
  const list = text.split(',');
  if (list.some((s) => s !== 'on' && s !== 'off')) throw new Error('--events must be a comma-separated list of on and off');
  return list as Array<'on' | 'off'>;
}

/** Waits until a worker listens on every shard's queue (settlement was just started). */
async function untilSettlementListens(sys: BenchSystem): Promise<void> {
  const queues = openShardQueues(sys.redis, sys.queuePrefix, sys.shardCount);
  try {
    for (let i = 0; i < 600; i++) {
      const workers = await Promise.all(queues.queues.map((q) => q.getWorkersCount()));
      if (workers.every((n) => n > 0)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('settlement did not start listening within 60 s');
  } finally {
    await queues.close();
  }
}

/** The chosen phases, run once on the running system; `events` labels them. */
async function measure(sys: BenchSystem, pop: Population, phases: Set<string>, events: 'on' | 'off'): Promise<Measured> {
  const scale = SMOKE ? 0.02 : 1;
  const single: Phase = { name: `single, uniform, max rate, events ${events}`, mix: 'uniform', perRequest: 1, transfers: Math.round(40_000 * scale), connections: CONNECTIONS };
  const batchUniform: Phase = { name: `batch ${PER_REQUEST}, uniform, max rate, events ${events}`, mix: 'uniform', perRequest: PER_REQUEST, transfers: Math.round(150_000 * scale), connections: BATCH_CONNECTIONS };
  const batchHot: Phase = { name: `batch ${PER_REQUEST}, hot merchant, max rate, events ${events}`, mix: 'hot', perRequest: PER_REQUEST, transfers: Math.round(100_000 * scale), connections: BATCH_CONNECTIONS };
  const results: PhaseResult[] = [];
  for (const [key, phase] of [
    ['single', single],
    ['batch', batchUniform],
    ['hot', batchHot],
  ] as const)
    if (phases.has(key)) results.push(await runPhase(sys, pop, phase));
  if (results.length === 0 && !phases.has('settlement')) throw new Error('choose at least one of the phases single, batch, hot, settlement');
  if (results.length === 0 && phases.has('half')) throw new Error('the half phase runs at half the peak of a single, batch or hot phase; choose one of them too');
  const peak = results.length ? results.reduce((a, b) => (b.settledTps > a.settledTps ? b : a)) : null;
  const halfRate = peak ? Math.max(1, Math.round(peak.requestsPerSecond / 2)) : 0;
  const half =
    peak && phases.has('half')
      ? await runPhase(sys, pop, {
          name: `${peak.phase.name.split(',')[0]}, uniform, fixed ${halfRate} req/s (half peak), events ${events}`,
          mix: 'uniform',
          perRequest: peak.phase.perRequest,
          transfers: Math.round(halfRate * peak.phase.perRequest * (SMOKE ? 2 : 15)),
          rate: halfRate,
          connections: peak.phase.connections * 2,
        })
      : peak;
  if (half && half !== peak) results.push(half);
  const settleOnly = phases.has('settlement') ? await settlementOnly(sys, pop, Number(args.transfers ?? Math.round(100_000 * scale)), 1000) : { tps: 0, cpu: {} };

  return { results, peak, half, settleOnly, single };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
};

/** Per events setting: the median settled/s of each phase and of settlement-only, and on/off ratios. */
function compareEvents(runs: ReadonlyArray<{ events: 'on' | 'off'; m: Measured }>) {
  const of = (events: 'on' | 'off') => runs.filter((r) => r.events === events).map((r) => r.m);
  const phaseKey = (r: PhaseResult) => r.phase.name.replace(/, events (on|off)$/, '');
  const summarize = (ms: Measured[]) => {
    const byPhase = new Map<string, number[]>();
    for (const m of ms) for (const r of m.results) byPhase.set(phaseKey(r), [...(byPhase.get(phaseKey(r)) ?? []), r.settledTps]);
    return {
      runs: ms.length,
      settled_tps: Object.fromEntries([...byPhase].map(([k, v]) => [k, { median: median(v), each: v }])),
      peak_settled_tps: median(ms.map((m) => m.peak?.settledTps ?? 0)),
      settlement_only_tps: { median: median(ms.map((m) => m.settleOnly.tps)), each: ms.map((m) => m.settleOnly.tps) },
    };
  };
  const on = of('on');
  const off = of('off');
  if (on.length === 0 || off.length === 0) return null;
  const a = summarize(on);
  const b = summarize(off);
  const ratio = (x: number, y: number) => (y > 0 ? Number((x / y).toFixed(3)) : null);
  return {
    on: a,
    off: b,
    ratio_peak_on_to_off: ratio(a.peak_settled_tps, b.peak_settled_tps),
    ratio_settlement_only_on_to_off: ratio(a.settlement_only_tps.median, b.settlement_only_tps.median),
    ratio_by_phase_on_to_off: Object.fromEntries(Object.keys(a.settled_tps).map((k) => [k, ratio(a.settled_tps[k].median, b.settled_tps[k]?.median ?? 0)])),
  };
}

async function main(): Promise<void> {
  log(`bench: ${SMOKE ? 'smoke' : 'full'} run, ${WALLETS} wallets, ${SHARDS} shard(s)`);
  let verifyLimit = 0;
  let pgbench = 0;
  let pgbench8 = 0;
  let rawSql = 0;
  let commit = { p50: 0, p99: 0, max: 0, over50: 0, n: 0 };
  if (args.baselines) {
    log('baseline: Ed25519 verify limit on all cores...');
    verifyLimit = await verifyLimitPerSecond(SMOKE ? 500 : 3000);
    log(`  ${verifyLimit}/s`);
    log(`baseline: pgbench tpcb-like, ${availableParallelism()} clients (one per core) and 8 clients...`);
    [pgbench, pgbench8] = pgbenchTpcb(ADMIN_URL, SMOKE ? 2 : 10, [availableParallelism(), 8]);
    log(`  ${pgbench} TPS, and ${pgbench8} TPS with 8 clients`);
    log('baseline: raw batched SQL, 1,000 transfers per transaction...');
    rawSql = await rawBatchedSqlRate(ADMIN_URL, 1000, SMOKE ? 1000 : 8000);
    log(`  ${rawSql}/s`);
    log('baseline: latency of one durable commit on the idle server...');
    commit = await commitLatencyMs(ADMIN_URL, SMOKE ? 1000 : 10_000);
    log(`  p50 ${commit.p50} ms, p99 ${commit.p99} ms, max ${commit.max} ms, ${commit.over50} of ${commit.n} over 50 ms`);
  }
  const phases = new Set(args.phases!.split(','));

  const sys = await startBenchSystem({ shards: SHARDS, gatewayProcesses: Number(args['gateway-processes']) });
  try {
    const pop = await seedPopulation(sys, { banks: 2, walletCount: WALLETS, fundMinor: 1_000_000n, onProgress: (l) => log(`  seed: ${l}`) });
    const settings = eventSettings(args.events!);
    const runs: Array<{ events: 'on' | 'off'; m: Measured }> = [];
    for (const [i, events] of settings.entries()) {
      // Settlement reads SETTLE_EVENTS at start: restarted for each setting, after the queues drained.
      if (settings.length > 1 || events === 'off') {
        log(`settlement with events ${events} (run ${i + 1} of ${settings.length})...`);
        await sys.restart('settlement', { SETTLE_EVENTS: events });
        await untilSettlementListens(sys);
      }
      runs.push({ events, m: await measure(sys, pop, phases, events) });
    }
    const { results, peak, half, settleOnly, single } = runs[0].m;
    const scale = SMOKE ? 0.02 : 1;
    log('auditing...');
    const report = await audit(sys.sql);
    const table = new Table({
      head: ['phase', 'settled/s', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'queued p50/p99 ms', 'WAL B/transfer', 'settled', 'rejected', 'errors', 'CPU s (gw/settle/pg/redis/bench)'],
      style: { head: [], border: [] },
    });
    for (const r of runs.flatMap((run) => run.m.results)) {
      const errors = r.load.errors + r.load.timeouts + r.load.non2xx;
      table.push([
        r.phase.name,
        r.settledTps,
        r.requestsPerSecond,
        r.load.latencyMs.p50,
        r.load.latencyMs.p99,
        r.load.latencyMs.p999,
        `${r.queueWaitMs.p50} / ${r.queueWaitMs.p99}`,
        r.walBytesPerTransfer,
        r.settled,
        r.rejected,
        errors,
        ['gateway', 'settlement', 'postgres', 'redis', 'bench'].map((k) => (r.cpu[k] ?? 0).toFixed(1)).join(' / '),
      ]);
    }
    process.stdout.write(`${table.toString()}\n`);
    const baselines = new Table({ head: ['same-run baseline', 'value'], style: { head: [], border: [] } });
    baselines.push(
      ['Ed25519 verifies/s, all cores', verifyLimit],
      ['pgbench tpcb-like TPS, one client per core', pgbench],
      ['pgbench tpcb-like TPS, 8 clients', pgbench8],
      ['raw batched SQL transfers/s (1,000/txn)', rawSql],
      ['one durable commit, idle server: p50 / p99 / max ms', `${commit.p50} / ${commit.p99} / ${commit.max}`],
      ['settlement-only transfers/s (1,000/job)', settleOnly.tps],
      ['audit', report.ok ? 'passed' : `FAILED: ${report.findings[0]?.subject}: ${report.findings[0]?.message}`],
    );
    process.stdout.write(`${baselines.toString()}\n`);
    const events = compareEvents(runs);
    if (events) {
      const compare = new Table({ head: ['same-run events on vs off (medians)', 'events on', 'events off', 'on/off'], style: { head: [], border: [] } });
      for (const [phase, on] of Object.entries(events.on.settled_tps)) compare.push([`${phase} settled/s`, on.median, events.off.settled_tps[phase]?.median ?? '-', events.ratio_by_phase_on_to_off[phase] ?? '-']);
      compare.push(['settlement-only transfers/s', events.on.settlement_only_tps.median, events.off.settlement_only_tps.median, events.ratio_settlement_only_on_to_off ?? '-']);
      compare.push(['runs', events.on.runs, events.off.runs, '']);
      process.stdout.write(`${compare.toString()}\n`);
    }

    const best = peak;
    const summary = {
      mode: SMOKE ? 'smoke' : 'full',
      shards: SHARDS,
      wallets: WALLETS,
      best_phase: best?.phase.name ?? null,
      settled_tps: best?.settledTps ?? 0,
      single_settled_tps: results.find((r) => r.phase === single)?.settledTps ?? 0,
      p50_ms: best?.load.latencyMs.p50 ?? null,
      p99_ms: best?.load.latencyMs.p99 ?? null,
      p999_ms: best?.load.latencyMs.p999 ?? null,
      half_peak_p99_ms: half?.load.latencyMs.p99 ?? null,
      rejected: results.reduce((a, r) => a + r.rejected, 0),
      errors: results.reduce((a, r) => a + r.load.errors + r.load.timeouts + r.load.non2xx, 0),
      pgbench_tpcb_tps: pgbench,
      pgbench_tpcb_8_clients_tps: pgbench8,
      verify_limit_per_s: verifyLimit,
      settlement_only_tps: settleOnly.tps,
      raw_batched_sql_tps: rawSql,
      commit_p99_ms: commit.p99,
      commit_max_ms: commit.max,
      ratio_settled_to_verify: Number(((best?.settledTps ?? 0) / verifyLimit).toFixed(3)),
      ratio_settled_to_pgbench: Number(((best?.settledTps ?? 0) / pgbench).toFixed(2)),
      ratio_settled_to_pgbench_8_clients: Number(((best?.settledTps ?? 0) / pgbench8).toFixed(2)),
      ratio_settlement_only_to_raw_sql: Number((settleOnly.tps / rawSql).toFixed(3)),
      cpu_us_per_transfer: Object.fromEntries(Object.entries(best?.cpu ?? {}).map(([k, v]) => [k, Math.round((v * 1e6) / Math.max(best?.settled ?? 0, 1))])),
      settlement_only_cpu_us_per_transfer: Object.fromEntries(Object.entries(settleOnly.cpu).map(([k, v]) => [k, Math.round((v * 1e6) / Math.max(Number(args.transfers ?? 100_000 * scale), 1))])),
      events_setting: runs[0].events,
      events_on_vs_off: events,
      conserved: report.ok && BigInt(report.stats.walletBalancesMinor) + BigInt(report.stats.heldMinor) + BigInt(report.stats.inFlightMinor) === BigInt(report.stats.supplyMinor),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (!summary.conserved) process.exitCode = 1;
  } finally {
    await sys.stop();
  }
}

const numbers = (flag: string, text: string) => {
  const list = text.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--${flag} must be a comma-separated list of whole numbers`);
  return list;
};

const entry = args.cluster
  ? async () => {
      const ok = await clusterBench({
        shardCounts: numbers('shards', args.shards!),
        crossPercents: numbers('cross', args.cross!),
        groups: Number(args.groups),
        runs: Number(args.runs ?? (SMOKE ? 1 : 3)),
        systemPerShardCount: args['system-per-shard-count'] ?? SMOKE,
        wallets: Number(args.wallets ?? (SMOKE ? 2_000 : 10_000)),
        transfers: Number(args.transfers ?? (SMOKE ? 4_000 : 30_000)),
        smoke: SMOKE,
        log,
      });
      if (!ok) process.exitCode = 1;
    }
  : main;

entry().catch((error) => {
  console.error(`bench: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
