/**
 * `npm run cluster`: the multi-host deployment on this one machine, each host a network namespace
 * (infra/cluster/hosts.ts, 198.18.0.0/24): two gateway hosts, a settlement host per shard group
 * (serving the group's shards with only their keys; a host per shard without groups), the issuer,
 * the central Postgres server and one per shard group (`--shard-groups`, default 2), each a primary
 * with its synchronous standby on two hosts, a Redis Cluster of three masters and three replicas on
 * three hosts, and a failover monitor for every Postgres pair. Every service gets the central
 * DATABASE_URL and SHARD_DATABASES (both servers of each pair in every URL). Prints where everything
 * is, plays the demo across it, says whether it passed, and stays up until Ctrl-C
 * (`--exit-after-demo` stops after the demo).
 * `npm run cluster -- --down` removes everything a run left behind (namespaces, links, the
 * processes in them, .cbdc/cluster/).
 *
 * Needs root (ip netns), iproute2, the PostgreSQL server binaries and redis-server: scripts/setup.sh.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shardsOfGroup, startBenchSystem, type BenchSystem } from '../../load-tests/src/fixture.js';
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

const HELP = `npm run cluster -- [options]   (as root: network namespaces)

  --shards N          shards (default 4)
  --shard-groups N    Postgres servers for the shards' ledgers, each a primary with its synchronous
                      standby; shard s lives on group s mod N (default 2; 0: every shard on the
                      central server, a settlement host per shard)
  --exit-after-demo   remove everything after the demo; exit status = the demo's
  --down              remove whatever a run left behind (namespaces, links, processes, .cbdc/cluster/)`;

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
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    process.exit(0);
  }
  const o = { down: argv.includes('--down'), exitAfterDemo: argv.includes('--exit-after-demo'), shards: value('--shards', 4), shardGroups: value('--shard-groups', 2) };
  if (o.shards < 1) throw new Error('--shards: at least 1');
  if (o.shardGroups > o.shards) throw new Error(`--shard-groups ${o.shardGroups}: at most --shards (${o.shards}); a group would hold no shard`);
  return o;
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
 * Which server holds what: the central database on the first pair, shard s's ledger on group
 * pair s mod groups (the fixture makes the database on each and hands every service
 * SHARD_DATABASES with its own role). Every URL names both servers of its pair with
 * target_session_attrs=read-write, so that clients follow a failover by themselves.
 */
function databaseTopology(pairs: PostgresPair[]): { adminUrl: string; groupAdminUrls: string[] } {
  return { adminUrl: pairs[0].url(), groupAdminUrls: pairs.slice(1).map((p) => p.url()) };
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
  // A settlement host per shard group, serving its shards; without groups, one per shard.
  const settlementShards = o.shardGroups > 0 ? groups.map((_, g) => shardsOfGroup(o.shardGroups, o.shards, g)) : Array.from({ length: o.shards }, (_, s) => [s]);
  const settlementHosts = settlementShards.map((_, i) => `settle${i + 1}`);
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
    console.log(`starting ${names.length} hosts, ${1 + o.shardGroups} Postgres pairs, a Redis Cluster, the services (${o.shards} shards)...`);
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
      groupAdminUrls: topology.groupAdminUrls,
      redis: redis.target,
      env: { ...redis.env, LOG_LEVEL: 'warn' },
      placement: { issuer: at('issuer'), gateway: at('gw1') },
      moreGateways: [at('gw2')],
      settlementHosts: settlementHosts.map((name, i) => ({ placement: at(name), shardIds: settlementShards[i] })),
      gatewayPort: GATEWAY_PORT,
      issuerPort: ISSUER_PORT,
      supervise: true,
      // CLUSTER_SERVICE_OUTPUT=inherit shows the services' logs (start-up failures included).
      serviceOutput: process.env.CLUSTER_SERVICE_OUTPUT === 'inherit' ? 'inherit' : 'ignore',
    });
    const monitors = pairs.map((p) => p.watchPrimary({ onFailover: (r) => console.log(`[monitor] ${p.name}: primary lost; fenced it (${r.fencedDataDir}) and promoted ${r.promoted} in ${r.promotedAfterMs} ms`) }));

    console.log('');
    printTable([
      { host: network.host('gw1'), what: 'wallet gateway (attestation key bench-gateway)', ports: String(GATEWAY_PORT) },
      { host: network.host('gw2'), what: 'wallet gateway (attestation key bench-gateway-2)', ports: String(GATEWAY_PORT) },
      ...settlementHosts.map((name, i) => ({
        host: network.host(name),
        what: `settlement, shard${settlementShards[i].length > 1 ? 's' : ''} ${settlementShards[i].join(',')}${o.shardGroups ? ` (group ${i})` : ''} (only their keys)`,
        ports: '',
      })),
      { host: network.host('issuer'), what: 'issuer (issuer signing key)', ports: String(ISSUER_PORT) },
      ...pairs.flatMap((p) =>
        p.nodes.map((n) => ({
          host: network.host(`pg-${n.name.replace(/_(a|b)$/, '-$1')}`),
          what: `postgres ${p.name}${p.name === 'central' ? '' : ` (shards ${shardsOfGroup(o.shardGroups, o.shards, Number(p.name.slice('group'.length))).join(',')})`} ${n === p.primary ? 'primary' : 'synchronous standby'}`,
          ports: '5432',
        })),
      ),
      ...(await redis.rows()),
      { host: { name: '(machine)', ns: '(root)', ip: network.rootIp }, what: 'this process: failover monitor, the demo; bridge cbdc-cbr', ports: '' },
    ]);
    console.log(`\nDATABASE_URL (central) ${topology.adminUrl.replace('/postgres?', '/<db>?')}`);
    for (const g of sys.shardGroups) console.log(`shard group ${g.id}: shards ${g.shards.join(',')} at ${g.url}`);
    console.log(`gateways ${sys.gatewayUrls.join(' ')}   issuer ${sys.issuerUrl}\n`);

    const result = await playDemo(sys, (line) => console.log(`[demo] ${line}`));
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
  // The deployment lives as long as this process: however it ends (Ctrl-C, whose first handler is
  // the fixture's and exits at once; an error; the demo's end), what it created is removed.
  process.once('exit', () => {
    // Ctrl-C reaches this process twice (from the terminal, and relayed by tsx): a second signal
    // while the first is being handled must not end the process half way through removing.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
    try {
      down();
    } catch (error) {
      console.error(`cluster: removing what it created failed (${(error as Error).message}); run npm run cluster -- --down`);
    }
  });
  up(options).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`cluster: ${error.message}`);
      process.exit(1);
    },
  );
}
