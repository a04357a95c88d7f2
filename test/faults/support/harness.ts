/**
 * The fault-test harness: a whole system as deployed (three service processes) on a Postgres and
 * a Redis of the test's own, real load through the gateway, a record of what the gateway
 * acknowledged, and the check of invariants I1 to I5 afterwards.
 *
 * I1 all balances plus money in flight = all mints - all retirements = backing reserve
 * I2 every transfer acknowledged as settled (or rejected) is recorded so, exactly once; none twice
 * I3 no balance negative, none above its tier's cap
 * I4 no wallet debited except by its own bank's request, signed by the wallet's key
 * I5 every chain entry and Merkle root verifies (the audit)
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BankClient, CbdcApiError } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import type { Sql } from '@cbdc/db/connect';
import { supplyAcrossServers } from '@cbdc/db/in-flight';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import type { SignedTransferWire } from '@cbdc/shared/schemas';
import { TIER_LIMITS, type Tier } from '@cbdc/shared/tiers';
import { seedPopulation, signedTransfer, startBenchSystem, type BenchSystem, type Population, type SeededWallet, type ServiceName } from '../../../load-tests/src/fixture.js';
import { waitForWorker, withQueue } from './queues.js';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from './servers.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHosts, type Host, type HostNetwork } from '../../../infra/cluster/hosts.js';
import { emulateLink, type EmulatedLink } from '../../../infra/cluster/link-emulator.js';
import { startPostgresPair, type PostgresPair } from '../../../infra/cluster/postgres-ha.js';
import type { RedisTarget } from '@cbdc/shared/redis';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from '../../../infra/cluster/redis-cluster.js';
import { startDeploymentRedis, type DeploymentRedis } from '../../../infra/cluster/redis-hosts.js';

/** Short (CI) or full runs: FAULTS_SCALE=full for the durations the issue names. */
export const FULL = process.env.FAULTS_SCALE === 'full';
export const scaled = (shortMs: number, fullMs: number) => (FULL ? fullMs : shortMs);

/** The multi-host parts of a fault system started with `hosts` (test/cluster). */
export interface ClusterParts {
  network: HostNetwork;
  /** The hosts: gateway, settlement, issuer, the central Postgres pair's two, Redis (the first Redis host with `redis: 'cluster'`). */
  hosts: Record<'gateway' | 'settlement' | 'issuer' | 'pgA' | 'pgB' | 'redis', Host>;
  /** Every host running Redis: one, or three with `redis: 'cluster'`. */
  redisHosts: Host[];
  /** The central Postgres pair (with `shardGroups`, it holds no shard's ledger). */
  pair: PostgresPair;
  /** With `shardGroups`: one pair per shard group (hosts `pg-g<i>a`, `pg-g<i>b`), shard s on group s mod their count. */
  groupPairs: PostgresPair[];
  /** With `links: 'emulated'`: the relays every service's Postgres and Redis traffic goes through. */
  links: EmulatedLink[];
}

export interface FaultSystem {
  /** With `hosts`: the pair seen as one server (its URL names both; kill() kills the primary). */
  pg: OwnPostgres;
  /** The test's own Redis server (absent when the system runs on a Redis Cluster). */
  redis?: OwnRedis;
  /** The test's own Redis Cluster, when started with `redisCluster`. */
  redisCluster?: RedisCluster;
  /** Where the services' Redis is, server or cluster. */
  redisTarget: RedisTarget;
  cluster?: ClusterParts;
  sys: BenchSystem;
  pop: Population;
  banks: Map<string, BankClient>;
  close(): Promise<void>;
}

export interface FaultSystemOptions {
  shards?: number;
  wallets?: number;
  redisMaxmemory?: string;
  /** Run on a Redis Cluster of the test's own (masters, replicas, node timeout...) instead of one Redis server. */
  redisCluster?: RedisClusterOptions;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /**
   * Run across hosts (network namespaces, root needed): each service on a host of its own, Postgres
   * as a primary with a synchronous standby on two hosts, Redis on one. `links: 'emulated'` sends
   * every service's Postgres and Redis traffic through relays whose delay and loss the test sets.
   * `shardGroups: N` adds N more pairs (each a primary and its synchronous standby on two hosts)
   * holding the shards' ledgers (SHARD_DATABASES: shard s on group s mod N); the central pair then
   * holds banks, reserves and issuance only. `redis: 'cluster'` runs the deployment's Redis Cluster
   * (infra/cluster/redis-hosts.ts: three masters and three replicas on three hosts, a password)
   * instead of one Redis server; not with emulated links.
   */
  hosts?: { links?: 'direct' | 'emulated'; shardGroups?: number; redis?: 'server' | 'cluster' };
}

/** The hosts, the Postgres pairs and Redis of a multi-host fault system. */
async function startClusterParts(o: FaultSystemOptions): Promise<{
  parts: ClusterParts;
  pg: OwnPostgres;
  redis?: OwnRedis;
  redisCluster?: DeploymentRedis;
  adminUrl: string;
  groupAdminUrls: string[];
  redisUrl: string;
}> {
  const groupCount = o.hosts?.shardGroups ?? 0;
  const onCluster = o.hosts?.redis === 'cluster';
  if (onCluster && o.hosts?.links === 'emulated') throw new Error("hosts: emulated links are not built for redis: 'cluster'");
  const groupHosts = Array.from({ length: groupCount }, (_, g) => [`pg-g${g}a`, `pg-g${g}b`]);
  const redisHostNames = onCluster ? ['redis1', 'redis2', 'redis3'] : ['redis'];
  const network = createHosts(['gw', 'settle', 'issuer', 'pga', 'pgb', ...redisHostNames, ...groupHosts.flat()], { tag: 'ft', subnet: 251 });
  const redisHosts = redisHostNames.map((n) => network.host(n));
  const hosts = { gateway: network.host('gw'), settlement: network.host('settle'), issuer: network.host('issuer'), pgA: network.host('pga'), pgB: network.host('pgb'), redis: redisHosts[0] };
  const pairs: PostgresPair[] = [];
  let redis: OwnRedis | undefined;
  let redisCluster: DeploymentRedis | undefined;
  const redisDir = onCluster ? mkdtempSync(join(tmpdir(), 'cbdc-ft-redis-')) : null;
  const links: EmulatedLink[] = [];
  const startPair = (name: string, [a, b]: Host[]) =>
    startPostgresPair({
      name,
      dir: mkdtempSync(join(tmpdir(), `cbdc-ft-pg-${name}-`)),
      nodes: [
        { name: `${name}_a`, host: a.ip, port: 5432, prefix: a.prefix },
        { name: `${name}_b`, host: b.ip, port: 5432, prefix: b.prefix },
      ],
    });
  try {
    pairs.push(await startPair('central', [hosts.pgA, hosts.pgB]));
    for (const [g, names] of groupHosts.entries())
      pairs.push(
        await startPair(
          `group${g}`,
          names.map((n) => network.host(n)),
        ),
      );
    if (redisDir) redisCluster = await startDeploymentRedis({ hosts: redisHosts, dir: redisDir });
    else redis = await startOwnRedis({ maxmemory: o.redisMaxmemory, prefix: hosts.redis.prefix, bind: hosts.redis.ip, port: 6379, password: randomBytes(12).toString('hex') });
    let urls = pairs.map((p) => p.url());
    let redisUrl = redis?.url ?? '';
    if (o.hosts?.links === 'emulated') {
      // Relays on this machine's address on the hosts' bridge, which every host reaches.
      urls = [];
      for (const pair of pairs) {
        const relays = [];
        for (const node of pair.nodes) relays.push(await emulateLink({ host: network.rootIp }, { host: node.host, port: node.port }));
        links.push(...relays);
        urls.push(`postgres://postgres@${relays.map((l) => `${l.host}:${l.port}`).join(',')}/postgres?target_session_attrs=read-write`);
      }
      const relay = await emulateLink({ host: network.rootIp }, { host: hosts.redis.ip, port: 6379 });
      links.push(relay);
      redisUrl = redisUrl.replace(`${hosts.redis.ip}:6379`, `${relay.host}:${relay.port}`);
    }
    const [central, ...groupPairs] = pairs;
    const pg: OwnPostgres = {
      port: central.primary.port,
      adminUrl: urls[0],
      kill: () => central.killPrimary(),
      pid: () => central.primary.pid ?? null,
      start: () => Promise.reject(new Error('a pair is not restarted: fail over (pair.failover) instead')),
      setReadOnly: () => Promise.reject(new Error('not on a pair')),
      stop: async () => {
        for (const p of pairs) await p.stop();
        if (redisDir) rmSync(redisDir, { recursive: true, force: true });
      },
    };
    return { parts: { network, hosts, redisHosts, pair: central, groupPairs, links }, pg, redis, redisCluster, adminUrl: urls[0], groupAdminUrls: urls.slice(1), redisUrl };
  } catch (error) {
    await Promise.all(links.map((l) => l.close()));
    await redis?.stop();
    await redisCluster?.stop();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
    for (const p of pairs) await p.stop();
    network.teardown();
    throw error;
  }
}

export async function startFaultSystem(o: FaultSystemOptions = {}): Promise<FaultSystem> {
  const cluster = o.hosts ? await startClusterParts(o) : null;
  const pg = cluster?.pg ?? (await startOwnPostgres());
  let redis: OwnRedis | undefined = cluster?.redis;
  let redisCluster: RedisCluster | undefined = cluster?.redisCluster?.cluster;
  const stopServers = async () => {
    await Promise.all(cluster?.parts.links.map((l) => l.close()) ?? []);
    await redis?.stop();
    await redisCluster?.stop();
    await pg.stop();
    cluster?.parts.network.teardown();
  };
  let sys: BenchSystem | undefined;
  try {
    if (o.redisCluster) redisCluster = await startRedisCluster(o.redisCluster);
    else if (!redisCluster) redis ??= await startOwnRedis({ maxmemory: o.redisMaxmemory });
    const redisTarget: RedisTarget = redisCluster ? redisCluster.target : { mode: 'single', url: cluster?.redisUrl ?? redis!.url };
    const h = cluster?.parts.hosts;
    sys = await startBenchSystem({
      shards: o.shards ?? 1,
      adminUrl: cluster?.adminUrl ?? pg.adminUrl,
      groupAdminUrls: cluster?.groupAdminUrls,
      redis: redisTarget,
      placement: h && { gateway: { prefix: h.gateway.prefix, host: h.gateway.ip }, settlement: { prefix: h.settlement.prefix, host: h.settlement.ip }, issuer: { prefix: h.issuer.prefix, host: h.issuer.ip } },
      serviceOutput: process.env.FAULTS_SERVICE_OUTPUT === 'inherit' ? 'inherit' : 'ignore',
      supervise: true,
      serviceEnv: {
        ...o.serviceEnv,
        // Short waits, so that a request caught by a fault answers (pending or 503) quickly.
        gateway: { SETTLE_WAIT_MS: '3000', ...o.serviceEnv?.gateway },
        settlement: { SETTLE_JOB_LOCK_MS: '5000', SETTLE_COMMIT_DEADLINE_MS: '10000', ...o.serviceEnv?.settlement },
      },
    });
    const pop = await seedPopulation(sys, { banks: 2, walletCount: o.wallets ?? 400, fundMinor: 1_000_000n });
    const banks = new Map(pop.banks.map((id) => [id, new BankClient(sys!.gatewayUrl, id, sys!.keys.banks.get(id)!.toString('hex'))]));
    const system = sys;
    return {
      pg,
      redis,
      cluster: cluster?.parts,
      redisCluster,
      redisTarget,
      sys,
      pop,
      banks,
      async close() {
        await system.stop().catch(() => {});
        await stopServers();
      },
    };
  } catch (error) {
    await sys?.stop().catch(() => {});
    await stopServers();
    throw error;
  }
}

/** A fault system whose shard has two settlement processes, with a short job lock (F2, F7). */
export async function startFaultSystemWithTwoWorkers(lockMs: number): Promise<FaultSystem> {
  const f = await startFaultSystem({ serviceEnv: { settlement: { SETTLE_JOB_LOCK_MS: String(lockMs) } } });
  await waitForWorker(f);
  await f.sys.addSettlementProcess();
  await waitForWorker(f, 2);
  return f;
}

export interface Submitted {
  bankId: string;
  wire: SignedTransferWire;
}

/** Every transfer any ledger of this test file signed: nothing else may ever be debited (I4). */
const everSigned = new Set<string>();

/** What the gateway told the banks, and what they never learned. */
export class Ledger {
  readonly submitted = new Map<string, Submitted>();
  /** Outcomes the gateway acknowledged, by transfer id. */
  readonly acknowledged = new Map<string, 'settled' | 'rejected'>();
  /** Submitted, with no final answer (pending, an error, a timeout, a 503). */
  readonly unknown = new Set<string>();
  /** How long each request took, in order (for percentiles over a window: slice by `latenciesMs.length`). */
  readonly latenciesMs: number[] = [];
  /** Errors other than 503, by status and code (or message), for the report. */
  readonly otherErrorKinds: Record<string, number> = {};
  readonly counts = { requests: 0, transfers: 0, acknowledged: 0, unavailable503: 0, withRetryAfter: 0, otherErrors: 0, pending: 0, hung: 0, slowestRequestMs: 0 };
  private nonce = BigInt(Date.now()) * 1000n;

  /** Signs a transfer between two random wallets of one bank's customers (payees in any bank). */
  sign(pop: Population, payer: SeededWallet): Submitted {
    const customers = pop.wallets;
    let payee = customers[Math.floor(Math.random() * customers.length)];
    if (payee === payer) payee = customers[(customers.indexOf(payer) + 1) % customers.length];
    const intent = { payerWalletId: payer.id, payeeWalletId: payee.id, amountMinor: BigInt(1 + Math.floor(Math.random() * 500)), nonce: this.nonce++, expiresAtMs: BigInt(Date.now() + 30 * 60_000), memo: '' };
    const { id, wire } = signedTransfer(payer, intent);
    const s = { bankId: payer.bankId, wire };
    this.submitted.set(id, s);
    everSigned.add(id);
    return s;
  }

  record(id: string, status: string): void {
    if (status === 'settled' || status === 'rejected') {
      const before = this.acknowledged.get(id);
      if (before && before !== status) throw new Error(`transfer ${id} was acknowledged ${before}, then ${status}`);
      this.acknowledged.set(id, status);
      this.unknown.delete(id);
      this.counts.acknowledged++;
    } else {
      if (!this.acknowledged.has(id)) this.unknown.add(id);
      if (status === 'pending') this.counts.pending++;
    }
  }
}

/** A transfer's id from its wire form. */
export const idOf = (wire: SignedTransferWire) =>
  transferIdOf(encodeTransfer({ payerWalletId: wire.payerWalletId, payeeWalletId: wire.payeeWalletId, amountMinor: BigInt(wire.amountMinor), nonce: BigInt(wire.nonce), expiresAtMs: BigInt(wire.expiresAtMs), memo: wire.memo }));

/** Sends one batch request and records what came back. A request that takes over `hangMs` counts as hung. */
export async function submitBatch(f: FaultSystem, ledger: Ledger, items: Submitted[], hangMs = 15_000): Promise<void> {
  const bank = f.banks.get(items[0].bankId)!;
  ledger.counts.requests++;
  ledger.counts.transfers += items.length;
  const started = Date.now();
  try {
    const { body } = await bank.transferBatch(items.map((i) => i.wire));
    // An item refused before it could be encoded has no id: nothing of it exists to record.
    for (const r of body.results) if (r.id !== null) ledger.record(r.id, r.status);
  } catch (error) {
    for (const i of items) ledger.record(idOf(i.wire), 'unknown');
    if (error instanceof CbdcApiError && error.status === 503) {
      ledger.counts.unavailable503++;
      if (error.headers?.get('retry-after')) ledger.counts.withRetryAfter++;
    } else {
      ledger.counts.otherErrors++;
      const kind = error instanceof CbdcApiError ? `${error.status} ${error.problem.code}` : String((error as { code?: string }).code ?? (error as Error).message).slice(0, 80);
      ledger.otherErrorKinds[kind] = (ledger.otherErrorKinds[kind] ?? 0) + 1;
    }
  } finally {
    const tookMs = Date.now() - started;
    ledger.latenciesMs.push(tookMs);
    ledger.counts.slowestRequestMs = Math.max(ledger.counts.slowestRequestMs, tookMs);
    if (tookMs > hangMs) ledger.counts.hung++;
  }
}

/** Load: `concurrency` loops, each sending batches of `perRequest` transfers of one bank's payers, until `until()` is true. */
export async function drive(f: FaultSystem, ledger: Ledger, o: { until: () => boolean; concurrency?: number; perRequest?: number; pauseMs?: number }): Promise<void> {
  const byBank = new Map<string, SeededWallet[]>();
  for (const w of f.pop.wallets) byBank.set(w.bankId, [...(byBank.get(w.bankId) ?? []), w]);
  const bankIds = [...byBank.keys()];
  const loop = async (n: number) => {
    for (let i = 0; !o.until(); i++) {
      const payers = byBank.get(bankIds[(n + i) % bankIds.length])!;
      const items = Array.from({ length: o.perRequest ?? 10 }, () => ledger.sign(f.pop, payers[Math.floor(Math.random() * payers.length)]));
      await submitBatch(f, ledger, items);
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, (_, n) => loop(n)));
}

/** Waits until every queue is empty (a killed worker's job comes back after its lock expires) and nothing is in flight between shards. */
export async function drained(f: FaultSystem, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let quiet = 0;
  let last = '';
  while (Date.now() < end) {
    const perDatabase = await Promise.all(
      ledgerPools(f).map(async (sql) => (await sql<{ n: number; last: string | null }[]>`select count(*) filter (where status = 'in_flight')::int as n, max(settled_at_ms)::text as last from transfers`)[0]),
    );
    const row = { n: perDatabase.reduce((a, r) => a + r.n, 0), last: perDatabase.map((r) => r.last).reduce((a, b) => (b !== null && (a === null || Number(b) > Number(a)) ? b : a), null) };
    const queued = await Promise.all(
      Array.from({ length: f.sys.shardCount }, (_, shard) => withQueue(f, shard, async (q) => Object.values(await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).reduce((a, b) => a + b, 0)).catch(() => 1)),
    );
    last = `in flight ${row.n}, queued ${queued.join('/')}, last settled at ${row.last}`;
    const idle = row.n === 0 && queued.every((n) => n === 0) && (!row.last || Date.now() - Number(row.last) > 1000);
    quiet = idle ? quiet + 1 : 0;
    if (quiet >= 3) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the system did not drain: ${last}`);
}

/**
 * Reads the outcome of every transfer the banks never learned, by id. With `resubmit`, sends the
 * ones that are not recorded again (the same signed bytes), then reads them once more.
 */
export async function resolveUnknown(f: FaultSystem, ledger: Ledger, o: { resubmit?: boolean } = {}): Promise<{ resolved: number; notRecorded: number; resubmitted: number }> {
  let resolved = 0;
  const missing: string[] = [];
  const ids = [...ledger.unknown];
  // Eight reads at a time.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let id = ids.shift(); id !== undefined; id = ids.shift()) {
        const s = ledger.submitted.get(id)!;
        try {
          const t = await f.banks.get(s.bankId)!.getTransfer(id);
          if (t.status === 'settled' || t.status === 'rejected') {
            ledger.acknowledged.set(id, t.status);
            ledger.unknown.delete(id);
            resolved++;
          }
        } catch (error) {
          if (error instanceof CbdcApiError && error.status === 404) missing.push(id);
          else throw error;
        }
      }
    }),
  );
  if (o.resubmit && missing.length) {
    // Per bank, in requests of 100, four at a time.
    const requests: Submitted[][] = [];
    for (const bankId of new Set(missing.map((id) => ledger.submitted.get(id)!.bankId))) {
      const mine = missing.map((id) => ledger.submitted.get(id)!).filter((s) => s.bankId === bankId);
      for (let i = 0; i < mine.length; i += 100) requests.push(mine.slice(i, i + 100));
    }
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = requests.shift(); next; next = requests.shift()) await submitBatch(f, ledger, next);
      }),
    );
    await drained(f);
    const again = await resolveUnknown(f, ledger);
    return { resolved: resolved + again.resolved, notRecorded: again.notRecorded, resubmitted: missing.length };
  }
  return { resolved, notRecorded: missing.length, resubmitted: 0 };
}

export interface InvariantReport {
  I1: boolean;
  I2: boolean;
  I3: boolean;
  I4: boolean;
  I5: boolean;
  problems: string[];
  figures: { transfersRecorded: number; settled: number; acknowledged: number; unknownAfterResolve: number; batches: number; heldMinor: number };
}

/** The databases holding the shards' ledgers: the one database, or each shard group's. */
export function ledgerPools(f: FaultSystem): Sql[] {
  return [...new Set(f.sys.topology.groups.map((g) => g.sql))];
}

/** Runs `query` on every ledger database and adds up the counts it returns. */
async function countAcross(f: FaultSystem, query: (sql: Sql) => Promise<{ n: number }[]>): Promise<number> {
  const counts = await Promise.all(ledgerPools(f).map(async (sql) => (await query(sql))[0].n));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Checks I1 to I5 against the ledger's acknowledgements, on the one database or across the central
 * database and every shard group's (a transfer's row is at its payer's shard, with the payer's wallet).
 */
/** A report's figures and verdicts, as recorded with a run (recordRun). */
export function invariantFigures(inv: InvariantReport) {
  return { ...inv.figures, I1: inv.I1, I2: inv.I2, I3: inv.I3, I4: inv.I4, I5: inv.I5 };
}

export async function checkInvariants(f: FaultSystem, ledger: Ledger): Promise<InvariantReport> {
  const central = f.sys.sql;
  const pools = ledgerPools(f);
  const problems: string[] = [];
  const shardRows = (await Promise.all(pools.map((sql) => sql<{ shard: number; public_key: Buffer }[]>`select shard, public_key from shards`))).flat();
  const shardKeys = new Map(shardRows.map((s) => [s.shard, s.public_key]));
  const report = await audit(f.sys.topology, { trustedShardPublicKeys: shardKeys });

  // I1: over every group, at one point (the issuance-step lock held shared), as GET /v1/supply reads it.
  const supply = await supplyAcrossServers(f.sys.topology);
  const [reserves] = await central<{ backing: string }[]>`select coalesce(sum(minted_minor - retired_minor), 0)::text as backing from bank_reserves`;
  const backing = BigInt(reserves.backing);
  const inFlight = supply.transfersInFlightMinor + supply.issuanceInFlightMinor;
  // Held money (open holds) is the payers' still: it counts with the balances.
  const i1 = supply.walletBalancesMinor + supply.heldMinor + inFlight === supply.supplyMinor && supply.supplyMinor === backing;
  if (!i1) problems.push(`I1: balances ${supply.walletBalancesMinor} + held ${supply.heldMinor} + in flight ${inFlight}, supply ${supply.supplyMinor}, backing ${backing}`);

  // I2
  const ids = [...ledger.acknowledged.keys()];
  const rows = ids.length ? (await Promise.all(pools.map((sql) => sql<{ id: string; status: string }[]>`select id, status from transfers where id = any(${ids})`))).flat() : [];
  const stored = new Map<string, string>();
  let i2 = true;
  for (const r of rows) {
    if (stored.has(r.id)) (i2 = false), problems.push(`I2: transfer ${r.id} is stored in two databases`);
    stored.set(r.id, r.status);
  }
  for (const [id, status] of ledger.acknowledged) {
    if (stored.get(id) !== status) {
      i2 = false;
      if (problems.length < 20) problems.push(`I2: transfer ${id} was acknowledged ${status}, stored ${stored.get(id) ?? 'nowhere'}`);
    }
  }
  const twice = await countAcross(f, (sql) => sql<{ n: number }[]>`select count(*)::int as n from (select payer_wallet_id, nonce from transfers where kind = 'transfer' and status <> 'rejected' group by 1, 2 having count(*) > 1) d`);
  if (twice) (i2 = false), problems.push(`I2: ${twice} payer nonces settled more than once`);

  // I3
  let i3 = true;
  for (const tier of Object.keys(TIER_LIMITS) as Tier[]) {
    const cap = TIER_LIMITS[tier].balanceMaxMinor;
    const capText = cap === null ? null : cap.toString();
    const over = await countAcross(f, (sql) => sql<{ n: number }[]>`select count(*)::int as n from wallets where tier = ${tier} and (balance_minor < 0 or (${capText}::bigint is not null and balance_minor > ${capText}::bigint))`);
    if (over) (i3 = false), problems.push(`I3: ${over} tier ${tier} wallets negative or over the cap`);
  }
  const negative = await countAcross(f, (sql) => sql<{ n: number }[]>`select count(*)::int as n from wallets where balance_minor < 0 or in_flight_out_minor < 0`);
  if (negative) (i3 = false), problems.push(`I3: ${negative} wallets negative`);

  // I4: the audit checks every stored signature against the payer's key; here, that the request
  // came from the payer's own bank, and that nothing was debited that no bank submitted.
  const foreign = await countAcross(f, (sql) => sql<{ n: number }[]>`select count(*)::int as n from transfers t join wallets w on w.id = t.payer_wallet_id where t.kind = 'transfer' and t.bank_id <> w.bank_id`);
  const settledIds = (await Promise.all(pools.map((sql) => sql<{ id: string }[]>`select id from transfers where kind = 'transfer'`))).flat().map((r) => r.id);
  const phantom = settledIds.filter((id) => !everSigned.has(id)).length;
  const signatureFindings = report.findings.filter((x) => x.check === 'transfer');
  const i4 = foreign === 0 && phantom === 0 && signatureFindings.length === 0;
  if (!i4) problems.push(`I4: ${foreign} debits by another bank, ${phantom} transfers no bank submitted, ${signatureFindings.length} transfer findings`);

  // I5
  const i5 = report.ok;
  if (!i5) problems.push(...report.findings.slice(0, 5).map((x) => `I5: ${x.check} ${x.subject}: ${x.message}`));

  return {
    I1: i1,
    I2: i2,
    I3: i3,
    I4: i4,
    I5: i5,
    problems,
    figures: {
      transfersRecorded: settledIds.length,
      settled: rows.filter((r) => r.status === 'settled').length,
      acknowledged: ledger.acknowledged.size,
      unknownAfterResolve: ledger.unknown.size,
      batches: report.stats.batches,
      heldMinor: Number(supply.heldMinor),
    },
  };
}

/** Appends a test's figures to .faults/last-run.json, for docs/reliability.md. */
export function recordRun(test: string, figures: Record<string, unknown>): void {
  const dir = join(process.cwd(), '.faults');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'last-run.json');
  const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  all[test] = { ...figures, scale: FULL ? 'full' : 'short', at: new Date().toISOString() };
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
}

export const randomId = () => randomBytes(4).toString('hex');

/** The `p`-th percentile (0..100) of `values` (nearest rank); 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Transfers settled (by settlement's clock) at or after `sinceMs`: in every ledger database, or in shard group `group`'s. */
export async function settledSince(f: FaultSystem, sinceMs: number, group?: number): Promise<number> {
  const pools = group === undefined ? ledgerPools(f) : [f.sys.topology.groups[group].sql];
  const counts = await Promise.all(pools.map(async (sql) => (await sql<{ n: number }[]>`select count(*)::int as n from transfers where status = 'settled' and settled_at_ms >= ${sinceMs}`)[0].n));
  return counts.reduce((x, y) => x + y, 0);
}
