/**
 * A real Redis Cluster from the installed binaries (Debian's redis-server and redis-cli): masters
 * with replicas, authentication on, each node its own process group so that a test can SIGKILL it
 * as a crash would, and start it again on its data directory (it rejoins as a replica of whoever
 * took its slots over).
 *
 * Every node may run behind a command prefix, e.g. ['ip', 'netns', 'exec', 'cbdc-redis1'], so that
 * the same nodes can be started inside network namespaces; redis-cli then runs behind the prefix of
 * the node it talks to. Nodes announce the host they bind, so clients reach them where they are.
 *
 *   const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, password: 'secret' });
 *   // cluster.target: { mode: 'cluster', nodes: [...], password: 'secret' } for @cbdc/shared/redis
 *   const master = await cluster.masterOfSlot(keySlot('{cbdc-s0.28}'));
 *   await cluster.killNode(master.port);
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RedisTarget } from '@cbdc/shared/redis';
import { killGroup } from './processes.js';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Masters (default 3; Redis Cluster needs at least 3). */
  masters?: number;
  /** Replicas of each master (default 1). */
  replicasPerMaster?: number;
  /** The host each node binds and announces, by node index (default 127.0.0.1 for all). */
  hosts?: string[];
  /** The port of each node, by node index (default: free ports between 7400 and 7499 whose bus ports, +10000, are free too). */
  ports?: number[];
  /** requirepass and masterauth of every node (default: random). */
  password?: string;
  /** Where each node keeps nodes.conf, its append-only file and its log (default: a new temporary directory, removed by stop()). */
  dataDir?: string;
  /** cluster-node-timeout: how long a master is unreachable before its replica takes over (default 1500 ms). */
  nodeTimeoutMs?: number;
  /** The command prefix of each node's processes, by node index (e.g. ['ip', 'netns', 'exec', 'cbdc-redis1']). */
  commandPrefix?: (index: number) => string[];
  /** How long start-up and waits may take (default 60 s). */
  timeoutMs?: number;
}

/** One node as started: where it listens and where its files are. */
export interface RedisClusterMember {
  index: number;
  host: string;
  port: number;
  dir: string;
}

/** One node as the cluster sees it (CLUSTER NODES). */
export interface ClusterNodeView {
  id: string;
  host: string;
  port: number;
  role: 'master' | 'replica';
  /** The master a replica follows. */
  masterId: string | null;
  /** Marked failed (fail) or suspected (fail?) by the node asked. */
  failing: boolean;
  /** Inclusive slot ranges a master serves. */
  slots: Array<[number, number]>;
}

export interface RedisCluster {
  /** The configuration of @cbdc/shared/redis for this cluster (all nodes as seeds, the password). */
  target: RedisTarget;
  password: string;
  members: readonly RedisClusterMember[];
  /** Which node is master of which slots, and which replica follows which master, as a live node sees it. */
  nodes(): Promise<ClusterNodeView[]>;
  /** The master serving `slot` now. */
  masterOfSlot(slot: number): Promise<ClusterNodeView>;
  /** SIGKILL to one node (by port; with its host too where nodes on several hosts share ports). */
  killNode(port: number, host?: string): Promise<void>;
  /** Starts a killed node again on its data directory. */
  startNode(port: number, host?: string): Promise<void>;
  /** The nodes' process ids (each its own process group). */
  pids(): number[];
  /** Waits until every live node says cluster_state:ok, knows the others and every replica's link to its master is up. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the data directory it made. */
  stop(): Promise<void>;
}

/** Parses CLUSTER NODES output (pure). Slots being migrated ("[...]") are left out. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slotFields] = line.split(' ');
      const hostPort = address.split('@')[0];
      const at = hostPort.lastIndexOf(':');
      const flagList = flags.split(',');
      const slots = slotFields
        .filter((s) => !s.startsWith('['))
        .map((s): [number, number] => {
          const [from, to] = s.split('-').map(Number);
          return [from, to ?? from];
        });
      return {
        id,
        host: hostPort.slice(0, at),
        port: Number(hostPort.slice(at + 1)),
        role: flagList.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? null : master,
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        slots,
      };
    });
}

/** Whether a port (and its cluster bus port) can be bound on host now. */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function freeClusterPorts(count: number, host: string): Promise<number[]> {
  const ports: number[] = [];
  for (let port = 7400; port <= 7499 && ports.length < count; port++) {
    if ((await portFree(host, port)) && (await portFree(host, port + 10_000))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`fewer than ${count} free ports (with free bus ports) between 7400 and 7499`);
  return ports;
}

async function until(what: string, timeoutMs: number, check: () => Promise<string | null>): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    const problem = await check().catch((error: Error) => error.message.split('\n')[0]);
    if (problem === null) return;
    last = problem;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${timeoutMs} ms (${last})`);
}

/** Starts the nodes, creates the cluster and waits until it is healthy. */
export async function startRedisCluster(o: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = o.masters ?? 3;
  const replicas = o.replicasPerMaster ?? 1;
  const count = masters * (1 + replicas);
  if (masters < 3) throw new Error('a Redis Cluster needs at least 3 masters');
  const hostOf = (i: number) => o.hosts?.[i] ?? '127.0.0.1';
  const ports = o.ports ?? (await freeClusterPorts(count, hostOf(0)));
  if (ports.length !== count) throw new Error(`${count} nodes need ${count} ports, got ${ports.length}`);
  const password = o.password ?? randomBytes(12).toString('hex');
  const ownDir = o.dataDir === undefined;
  const root = o.dataDir ?? mkdtempSync(join(tmpdir(), 'cbdc-redis-cluster-'));
  const timeoutMs = o.timeoutMs ?? 60_000;
  const members: RedisClusterMember[] = ports.map((port, index) => ({ index, host: hostOf(index), port, dir: join(root, `node-${hostOf(index)}-${port}`) }));
  const prefixOf = (m: RedisClusterMember) => o.commandPrefix?.(m.index) ?? [];
  // By node index: on several hosts, nodes share port numbers.
  const children = new Map<number, ChildProcess>();

  const startMember = (m: RedisClusterMember) => {
    mkdirSync(m.dir, { recursive: true });
    // Appends fsynced every second; a replica's copy is asynchronous anyway. No eviction: BullMQ needs every key it wrote.
    const args = [
      ...['--port', String(m.port), '--bind', m.host, '--dir', m.dir, '--logfile', join(m.dir, 'redis.log'), '--daemonize', 'no'],
      ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(o.nodeTimeoutMs ?? 1500), '--cluster-announce-ip', m.host],
      // A replica may always take over (however long it was cut off), and the other masters keep serving while one's slots fail over.
      ...['--cluster-replica-validity-factor', '0', '--cluster-require-full-coverage', 'no'],
      ...['--requirepass', password, '--masterauth', password, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'],
    ];
    const [command, ...prefixArgs] = [...prefixOf(m), 'redis-server'];
    const child = spawn(command, [...prefixArgs, ...args], { detached: true, stdio: 'ignore' });
    children.set(m.index, child);
  };
  const cli = async (m: RedisClusterMember, args: string[]) => {
    const [command, ...prefixArgs] = [...prefixOf(m), 'redis-cli'];
    const { stdout } = await run(command, [...prefixArgs, '-h', m.host, '-p', String(m.port), '-a', password, '--no-auth-warning', ...args], { timeout: 10_000 });
    return stdout;
  };
  const memberOf = (port: number, host?: string) => {
    const found = members.filter((x) => x.port === port && (host === undefined || x.host === host));
    if (found.length !== 1) throw new Error(found.length ? `several nodes listen on port ${port}: name the host` : `no node of this cluster listens on ${host ?? '*'}:${port}`);
    return found[0];
  };
  const alive = () => members.filter((m) => children.get(m.index)?.exitCode === null && children.get(m.index)?.signalCode === null);

  const nodes = async () => {
    for (const m of alive()) {
      const text = await cli(m, ['cluster', 'nodes']).catch(() => null);
      if (text) return parseClusterNodes(text);
    }
    throw new Error('no node of the cluster answers');
  };
  const waitUntilHealthy = (ms = timeoutMs) =>
    until('the Redis Cluster did not become healthy', ms, async () => {
      for (const m of alive()) {
        const info = await cli(m, ['cluster', 'info']);
        if (!/cluster_state:ok/.test(info)) return `${m.port}: ${/cluster_state:\w+/.exec(info)?.[0]}`;
        if (!new RegExp(`cluster_known_nodes:${count}\\b`).test(info)) return `${m.port}: ${/cluster_known_nodes:\d+/.exec(info)?.[0]}`;
        const replication = await cli(m, ['info', 'replication']);
        if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) return `${m.port}: replica link down`;
      }
      const view = await nodes();
      const serving = view.filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failing);
      return serving.length === masters ? null : `${serving.length} of ${masters} masters serving`;
    });

  try {
    for (const m of members) startMember(m);
    for (const m of members) await until(`redis-server on port ${m.port} did not answer`, timeoutMs, async () => ((await cli(m, ['ping'])).trim() === 'PONG' ? null : 'no PONG'));
    await cli(members[0], ['--cluster', 'create', ...members.map((m) => `${m.host}:${m.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    await waitUntilHealthy();
  } catch (error) {
    await Promise.all(members.map((m) => killGroup(children.get(m.index), 'SIGKILL')));
    if (ownDir) rmSync(root, { recursive: true, force: true });
    throw error;
  }

  return {
    target: { mode: 'cluster', nodes: members.map((m) => ({ host: m.host, port: m.port })), password },
    password,
    members,
    nodes,
    async masterOfSlot(slot) {
      const master = (await nodes()).find((n) => n.role === 'master' && !n.failing && n.slots.some(([from, to]) => slot >= from && slot <= to));
      if (!master) throw new Error(`no live master serves slot ${slot}`);
      return master;
    },
    killNode: (port, host) => killGroup(children.get(memberOf(port, host).index), 'SIGKILL'),
    async startNode(port, host) {
      const m = memberOf(port, host);
      startMember(m);
      await until(`redis-server on port ${port} did not answer`, timeoutMs, async () => ((await cli(m, ['ping'])).trim() === 'PONG' ? null : 'no PONG'));
    },
    waitUntilHealthy,
    pids: () => members.flatMap((m) => children.get(m.index)?.pid ?? []),
    async stop() {
      await Promise.all(members.map((m) => killGroup(children.get(m.index), 'SIGKILL')));
      if (ownDir) rmSync(root, { recursive: true, force: true });
    },
  };
}
