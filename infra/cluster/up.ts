/**
 * `npm run cluster`: the multi-host deployment on this one machine, each host a network namespace
 * (infra/cluster/hosts.ts, 198.18.0.0/24): two gateway hosts, two settlement hosts (each serving
 * its own shard with only that shard's key), the issuer, the central Postgres server with its
 * synchronous standby (and `--shard-groups N` more pairs, idle until the split by shard group
 * routes to them), Redis, and a failover monitor. Prints where everything is, plays the demo across
 * it, says whether it passed, and stays up until Ctrl-C (`--exit-after-demo` stops after the demo).
 * `npm run cluster -- --down` removes everything a run left behind (namespaces, links, the
 * processes in them, .cbdc/cluster/).
 *
 * Needs root (ip netns), iproute2, the PostgreSQL server binaries and redis-server: scripts/setup.sh.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectPostgres } from '@cbdc/db/connect';
import { startBenchSystem, type BenchSystem } from '../../load-tests/src/fixture.js';
import { playDemo } from './demo.js';
import { createHosts, teardownHosts, type Host, type HostNetwork } from './hosts.js';
import { startPostgresPair, type PostgresPair } from './postgres-ha.js';
import { isAlive, killGroupByPid } from './processes.js';
import { startDeploymentRedis, type DeploymentRedis } from './redis-hosts.js';

const TAG = 'c';
const SUBNET = 0;
const STATE_DIR = join('.cbdc', 'cluster');
const STATE_FILE = join(STATE_DIR, 'state.json');
const GATEWAY_PORT = 7500;
const ISSUER_PORT = 7510;
/** Three Redis hosts, each a master and the replica of another host's master (redis-hosts.ts). */
const REDIS_HOSTS = ['redis1', 'redis2', 'redis3'];

interface Options {
  down: boolean;
  exitAfterDemo: boolean;
  shards: number;
  shardGroups: number;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    const n = i >= 0 ? Number(argv[i + 1]) : fallback;
    if (!Number.isInteger(n) || n < 0 || n > 16) throw new Error(`${name}: an integer 0..16`);
    return n;
  };
  return { down: argv.includes('--down'), exitAfterDemo: argv.includes('--exit-after-demo'), shards: value('--shards', 2), shardGroups: value('--shard-groups', 0) };
}

/** Removes what any run left: processes it recorded, every cbdc-c* namespace and link, the state directory. */
function down(): void {
  if (existsSync(STATE_FILE)) {
    const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as { pids?: number[] };
    for (const pid of state.pids ?? []) if (isAlive(pid)) killGroupByPid(pid);
  }
  const removed = teardownHosts(TAG);
  rmSync(STATE_DIR, { recursive: true, force: true });
  console.log(`cluster down: ${removed.namespaces.length} namespaces, ${removed.links.length} links, ${removed.processes} processes in them, ${STATE_DIR} removed`);
}

/** The Postgres servers: central, then one per shard group (`count` of them), each with its synchronous standby. */
async function startPostgresServers(network: HostNetwork, shardGroups: number): Promise<PostgresPair[]> {
  const pairs: PostgresPair[] = [];
  for (const name of ['central', ...Array.from({ length: shardGroups }, (_, i) => `group${i}`)]) {
    const [a, b] = [network.host(`pg-${name}-a`), network.host(`pg-${name}-b`)];
    pairs.push(
      await startPostgresPair({
        name,
        dir: join(process.cwd(), STATE_DIR, `pg-${name}`),
        nodes: [
          { name: `${name}_a`, host: a.ip, port: 5432, prefix: a.prefix },
          { name: `${name}_b`, host: b.ip, port: 5432, prefix: b.prefix },
        ],
      }),
    );
  }
  return pairs;
}

/**
 * Which database each service uses. Today: every service on the central server. The split by
 * shard group adds here the shard-to-server map (SHARD_DATABASES or its final name) built from
 * `pairs.slice(1)`; nothing else in this file changes.
 */
function databaseTopology(pairs: PostgresPair[]): { adminUrl: string; env: Record<string, string> } {
  return { adminUrl: pairs[0].url(), env: {} };
}

function printTable(rows: { host: Host | { name: string; ns: string; ip: string }; what: string; ports: string }[]): void {
  const widths = [14, 24, 14, 60];
  const line = (cells: string[]) => console.log(cells.map((c, i) => c.padEnd(widths[i])).join(' '));
  line(['host', 'namespace', 'address', 'runs']);
  for (const r of rows) line([r.host.name, r.host.ns, r.host.ip, `${r.what}${r.ports ? ` :${r.ports}` : ''}`]);
}

async function up(o: Options): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('npm run cluster needs root (ip netns); see scripts/setup.sh');
  down();
  mkdirSync(STATE_DIR, { recursive: true });
  const groups = Array.from({ length: o.shardGroups }, (_, i) => `group${i}`);
  const settlementHosts = Array.from({ length: o.shards }, (_, i) => `settle${i + 1}`);
  const names = ['gw1', 'gw2', ...settlementHosts, 'issuer', ...['central', ...groups].flatMap((g) => [`pg-${g}-a`, `pg-${g}-b`]), ...REDIS_HOSTS];
  const network = createHosts(names, { tag: TAG, subnet: SUBNET });
  const pids: number[] = [];
  const save = () => writeFileSync(STATE_FILE, JSON.stringify({ tag: TAG, network: names.map((n) => ({ name: n, ns: network.host(n).ns, ip: network.host(n).ip })), pids }, null, 2));
  save();
  let pairs: PostgresPair[] = [];
  let redis: DeploymentRedis | null = null;
  let sys: BenchSystem | null = null;
  const stopAll = async () => {
    await sys?.stop().catch(() => {});
    await redis?.stop();
    for (const p of pairs) await p.stop();
    down();
  };
  try {
    console.log(`starting ${names.length} hosts, ${1 + o.shardGroups} Postgres pairs, Redis, the services...`);
    pairs = await startPostgresServers(network, o.shardGroups);
    for (const p of pairs) for (const n of p.nodes) if (n.pid) pids.push(n.pid);
    redis = await startDeploymentRedis({ hosts: REDIS_HOSTS.map((name) => network.host(name)), dir: join(process.cwd(), STATE_DIR) });
    pids.push(...redis.cluster.pids());
    save();
    const topology = databaseTopology(pairs);
    const at = (name: string) => ({ prefix: network.host(name).prefix, host: network.host(name).ip });
    sys = await startBenchSystem({
      shards: o.shards,
      adminUrl: topology.adminUrl,
      redis: redis.target,
      env: { ...redis.env, ...topology.env, LOG_LEVEL: 'warn' },
      placement: { issuer: at('issuer'), gateway: at('gw1') },
      moreGateways: [at('gw2')],
      settlementHosts: settlementHosts.map((name, shard) => ({ placement: at(name), shardIds: [shard] })),
      gatewayPort: GATEWAY_PORT,
      issuerPort: ISSUER_PORT,
      supervise: true,
      serviceOutput: 'ignore',
    });
    const monitors = pairs.map((p) => p.watchPrimary({ onFailover: (r) => console.log(`[monitor] ${p.name}: primary lost; fenced it (${r.fencedDataDir}) and promoted ${r.promoted} in ${r.promotedAfterMs} ms`) }));

    console.log('');
    printTable([
      { host: network.host('gw1'), what: 'wallet gateway (attestation key bench-gateway)', ports: String(GATEWAY_PORT) },
      { host: network.host('gw2'), what: 'wallet gateway (attestation key bench-gateway-2)', ports: String(GATEWAY_PORT) },
      ...settlementHosts.map((name, shard) => ({ host: network.host(name), what: `settlement, shard ${shard} (its key only)`, ports: '' })),
      { host: network.host('issuer'), what: 'issuer (issuer signing key)', ports: String(ISSUER_PORT) },
      ...pairs.flatMap((p) =>
        p.nodes.map((n) => ({
          host: network.host(`pg-${n.name.replace(/_(a|b)$/, '-$1')}`),
          what: `postgres ${p.name} ${n === p.primary ? 'primary' : 'synchronous standby'}${p.name === 'central' ? '' : ' (idle until the split by shard group)'}`,
          ports: '5432',
        })),
      ),
      ...(await redis.rows()),
      { host: { name: '(machine)', ns: '(root)', ip: network.rootIp }, what: 'this process: failover monitor, the demo; bridge cbdc-cbr', ports: '' },
    ]);
    console.log(`\nDATABASE_URL (central) ${topology.adminUrl.replace('/postgres?', '/<db>?')}`);
    console.log(`gateways ${sys.gatewayUrls.join(' ')}   issuer ${sys.issuerUrl}\n`);

    const sql = connectPostgres(sys.databaseUrl, { max: 2 });
    const result = await playDemo(sys, sql, (line) => console.log(`[demo] ${line}`));
    await sql.end();
    console.log(`\ncluster demo: ${result.ok ? 'PASSED' : `FAILED (${result.failures.join('; ')})`}`);
    if (o.exitAfterDemo) {
      for (const m of monitors) m.stop();
      await stopAll();
      return result.ok ? 0 : 1;
    }
    console.log('running; Ctrl-C stops and removes everything (npm run cluster -- --down removes leftovers)');
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    for (const m of monitors) m.stop();
    await stopAll();
    return result.ok ? 0 : 1;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const options = parseArgs(process.argv.slice(2));
if (options.down) {
  down();
} else {
  up(options).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`cluster: ${error.message}`);
      process.exit(1);
    },
  );
}
