/**
 * Redis for every service, on one server or on a Redis Cluster, from one configuration:
 *
 *   REDIS_URL            one server, e.g. redis://:password@127.0.0.1:6379 (the default: 127.0.0.1:6379)
 *   REDIS_CLUSTER_NODES  seed nodes of a cluster, "host:port,host:port"; when set, REDIS_URL is not used
 *   REDIS_USERNAME       ACL user (optional; "default" when absent)
 *   REDIS_PASSWORD       password (overrides one in REDIS_URL; the only way to give one to a cluster)
 *   REDIS_CLUSTER_NAT_MAP  optional "announced-host:port=reachable-host:port,..." when the nodes
 *                          announce addresses this host cannot reach (NAT, containers)
 *
 * Connections come in two kinds, with the same semantics on both: producers fail fast (a request
 * path answers 503 at once instead of queueing commands in memory while Redis is away) and
 * consumers (BullMQ workers, stream readers) wait and reconnect forever. Keys are placed so that no
 * command ever spans two slots (docs/architecture.md, "Redis Cluster").
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { z } from 'zod';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A node's address as host and port. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/** Where Redis is: one server (credentials inside the URL), or a cluster's seed nodes and the credentials every node takes. */
export type RedisTarget = { mode: 'single'; url: string } | { mode: 'cluster'; nodes: readonly RedisNodeAddress[]; username?: string; password?: string; natMap?: Readonly<Record<string, RedisNodeAddress>> };

/** A connection to either kind: the callers use only commands both have. */
export type RedisConnection = Redis | Cluster;

/** Seed nodes given at most; a cluster needs only one that answers to learn the rest. */
export const REDIS_CLUSTER_SEEDS_MAX = 64;
const HOST_PORT = String.raw`(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}`;
const HOST_PORT_LIST = new RegExp(`^${HOST_PORT}(,${HOST_PORT})*$`);
const NAT_LIST = new RegExp(`^${HOST_PORT}=${HOST_PORT}(,${HOST_PORT}=${HOST_PORT})*$`);

/** The Redis variables of every service's environment schema (spread into its z.object). */
export const redisEnvShape = {
  REDIS_URL: z.string().url().default(DEFAULT_REDIS_URL),
  REDIS_CLUSTER_NODES: z.string().regex(HOST_PORT_LIST, { error: 'REDIS_CLUSTER_NODES must be "host:port,host:port" (seed nodes of the cluster)' }).optional(),
  REDIS_USERNAME: z
    .string()
    .regex(/^[^\s:@/]{1,128}$/, { error: 'REDIS_USERNAME must be 1 to 128 characters without spaces, ":", "@" or "/"' })
    .optional(),
  REDIS_PASSWORD: z.string().min(1).max(512).optional(),
  REDIS_CLUSTER_NAT_MAP: z.string().regex(NAT_LIST, { error: 'REDIS_CLUSTER_NAT_MAP must be "announced-host:port=reachable-host:port,..."' }).optional(),
};

const redisEnvSchema = z.object(redisEnvShape);
/** The parsed Redis variables of an environment. */
export type RedisEnv = z.output<typeof redisEnvSchema>;

/** "host:port" or "[v6]:port" as an address. */
export function parseHostPort(text: string): RedisNodeAddress {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(at + 1));
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid configuration: "${text}" is not host:port`);
  return { host, port };
}

/** Where Redis is, from the parsed variables (pure): REDIS_CLUSTER_NODES selects a cluster, else REDIS_URL with the credentials applied. */
export function redisTargetOf(e: RedisEnv): RedisTarget {
  const credentials = { ...(e.REDIS_USERNAME ? { username: e.REDIS_USERNAME } : {}), ...(e.REDIS_PASSWORD ? { password: e.REDIS_PASSWORD } : {}) };
  if (e.REDIS_CLUSTER_NODES) {
    const nodes = e.REDIS_CLUSTER_NODES.split(',').map(parseHostPort);
    if (nodes.length > REDIS_CLUSTER_SEEDS_MAX) throw new Error(`invalid configuration: REDIS_CLUSTER_NODES names ${nodes.length} nodes; at most ${REDIS_CLUSTER_SEEDS_MAX}`);
    const natMap = e.REDIS_CLUSTER_NAT_MAP
      ? Object.fromEntries(
          e.REDIS_CLUSTER_NAT_MAP.split(',')
            .map((pair) => pair.split('='))
            .map(([from, to]) => [from, parseHostPort(to)]),
        )
      : undefined;
    return { mode: 'cluster', nodes, ...credentials, ...(natMap ? { natMap } : {}) };
  }
  if (e.REDIS_CLUSTER_NAT_MAP) throw new Error('invalid configuration: REDIS_CLUSTER_NAT_MAP is set without REDIS_CLUSTER_NODES');
  const url = new URL(e.REDIS_URL);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`invalid configuration: REDIS_URL must start with redis:// or rediss://, not ${url.protocol}//`);
  if (credentials.username) url.username = encodeURIComponent(credentials.username);
  if (credentials.password) url.password = encodeURIComponent(credentials.password);
  return { mode: 'single', url: url.toString() };
}

/** Parses an environment's Redis variables (as the services do) into a target; throws naming a bad variable. */
export function redisTargetFromEnv(env: Record<string, string | undefined>): RedisTarget {
  const parsed = redisEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return redisTargetOf(parsed.data);
}

/** The environment variables that give a service process this target (the inverse of redisTargetFromEnv). */
export function redisEnvOf(target: RedisTarget): Record<string, string> {
  if (target.mode === 'single') return { REDIS_URL: target.url };
  const env: Record<string, string> = { REDIS_CLUSTER_NODES: target.nodes.map(hostPortOf).join(',') };
  if (target.username) env.REDIS_USERNAME = target.username;
  if (target.password) env.REDIS_PASSWORD = target.password;
  if (target.natMap)
    env.REDIS_CLUSTER_NAT_MAP = Object.entries(target.natMap)
      .map(([from, to]) => `${from}=${hostPortOf(to)}`)
      .join(',');
  return env;
}

const hostPortOf = (a: RedisNodeAddress) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

/** A target for messages: where it is, never its credentials. */
export function describeRedis(target: RedisTarget): string {
  if (target.mode === 'cluster') return `Redis Cluster (seeds ${target.nodes.map(hostPortOf).join(', ')})`;
  const u = new URL(target.url);
  return `Redis at ${u.hostname}:${u.port || '6379'}`;
}

/** Bounds of every connection: connecting, and (cluster) refreshing the slot map, which also finds a promoted replica. */
const CONNECT_TIMEOUT_MS = 3000;
/**
 * How long a request path waits for Redis to answer one command. Cut off from Redis by a
 * partition, a connection still looks open, and a job add would wait until the partition healed.
 */
export const producerCommandTimeoutMs = 1500;
const SLOTS_REFRESH_INTERVAL_MS = 2000;

/** Options of a Cluster client; `failFast` for producers. Every node connection authenticates with the target's credentials. */
function clusterOptions(target: Extract<RedisTarget, { mode: 'cluster' }>, failFast: boolean): ClusterOptions {
  const redisOptions: ClusterOptions['redisOptions'] = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: failFast ? 1 : null,
    ...(failFast ? { commandTimeout: producerCommandTimeoutMs } : {}),
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
  };
  return {
    redisOptions,
    // A producer's command fails at once while its slot's node is unreachable (the gateway answers
    // 503); a consumer's waits in the offline queue until the cluster is back.
    enableOfflineQueue: !failFast,
    // Both keep trying to reach the cluster for as long as the process lives, at most every 2 s.
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
    // After a master dies its replica is promoted within cluster-node-timeout plus an election:
    // redirections and failover retries are bounded, and the slot map is refreshed often enough
    // for the new master to be found within a few seconds.
    maxRedirections: 16,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
    ...(target.natMap ? { natMap: { ...target.natMap } } : {}),
  };
}

/**
 * A connection for request paths: commands fail at once while Redis (or, on a cluster, the node of
 * their slot) is unreachable instead of queueing in memory, so the gateway can answer 503 rather than hang.
 */
export function producerRedis(target: RedisTarget): RedisConnection {
  if (target.mode === 'cluster') return new Cluster([...target.nodes], clusterOptions(target, true));
  return new Redis(target.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: CONNECT_TIMEOUT_MS, commandTimeout: producerCommandTimeoutMs, lazyConnect: false });
}

/** A connection for BullMQ workers and stream readers, which must reconnect and wait. */
export function consumerRedis(target: RedisTarget): RedisConnection {
  if (target.mode === 'cluster') return new Cluster([...target.nodes], clusterOptions(target, false));
  return new Redis(target.url, { maxRetriesPerRequest: null, connectTimeout: CONNECT_TIMEOUT_MS });
}

/** Resolves when the connection is ready for commands; rejects after `timeoutMs` with the last error seen. */
export async function untilReady(connection: RedisConnection, timeoutMs = 30_000): Promise<void> {
  if (connection.status === 'ready') return;
  let lastError: Error | null = null;
  const onError = (error: Error) => (lastError = error);
  connection.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis not ready within ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`)), timeoutMs);
      connection.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    connection.off('error', onError);
  }
}

/** The hint that ends a start-up failure: what to fix for this kind of error. */
function hintFor(target: RedisTarget, message: string): string {
  if (/WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i.test(message)) return 'check REDIS_PASSWORD and REDIS_USERNAME';
  return target.mode === 'cluster' ? 'start the cluster or set REDIS_CLUSTER_NODES' : 'start redis-server or set REDIS_URL';
}

/** One node asked directly (no redirection, no retry): runs `use` and disconnects. */
async function askNode<T>(options: RedisOptions, use: (r: Redis) => Promise<T>): Promise<T> {
  const probe = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy: () => null, enableOfflineQueue: true });
  // A refused AUTH arrives as an error event, and the connect itself then fails only with "Connection is closed.".
  let refused: Error | null = null;
  probe.on('error', (error: Error) => (refused ??= error));
  try {
    await probe.connect();
    return await use(probe);
  } catch (error) {
    throw refused ?? error;
  } finally {
    probe.disconnect();
  }
}

const oneLine = (error: unknown) => ((error as Error)?.message ?? String(error)).split('\n')[0];

/**
 * Checks that Redis answers as configured; throws an Error with a one-line message saying what to
 * fix: unreachable, refused credentials, a cluster node configured as one server (it would answer
 * MOVED), a single server configured as a cluster, or a cluster whose state is not ok.
 */
export async function assertRedisReachable(target: RedisTarget): Promise<void> {
  if (target.mode === 'single') {
    const u = new URL(target.url);
    const info = await askNode(
      {
        host: u.hostname,
        port: Number(u.port || 6379),
        username: decodeURIComponent(u.username) || undefined,
        password: decodeURIComponent(u.password) || undefined,
        tls: u.protocol === 'rediss:' ? {} : undefined,
        db: Number(u.pathname.slice(1) || 0),
      },
      async (r) => {
        await r.ping();
        return r.info('cluster');
      },
    ).catch((error) => {
      throw new Error(`cannot reach ${describeRedis(target)} (${oneLine(error)}); ${hintFor(target, oneLine(error))}`);
    });
    if (/cluster_enabled:1/.test(info)) throw new Error(`${describeRedis(target)} is a Redis Cluster node; set REDIS_CLUSTER_NODES to its seed nodes instead of REDIS_URL`);
    return;
  }
  const errors: string[] = [];
  for (const node of target.nodes) {
    const mapped = target.natMap?.[hostPortOf(node)] ?? node;
    try {
      const info = await askNode({ ...mapped, username: target.username, password: target.password }, (r) => r.cluster('INFO') as Promise<string>);
      if (/cluster_state:ok/.test(info)) return;
      errors.push(`${hostPortOf(node)}: ${/cluster_state:(\w+)/.exec(info)?.[0] ?? 'no cluster_state'}`);
    } catch (error) {
      const message = oneLine(error);
      if (/cluster support disabled/i.test(message)) throw new Error(`Redis at ${hostPortOf(node)} is not a cluster node; set REDIS_URL instead of REDIS_CLUSTER_NODES`);
      if (/WRONGPASS|NOAUTH|NOPERM/i.test(message)) throw new Error(`${describeRedis(target)} refused the credentials at ${hostPortOf(node)} (${message}); ${hintFor(target, message)}`);
      errors.push(`${hostPortOf(node)}: ${message}`);
    }
  }
  throw new Error(`cannot reach ${describeRedis(target)} in state ok (${errors.join('; ')}); ${hintFor(target, '')}`);
}

/** The connections that hold keys: every master of a cluster, or the one server. */
export function keyHolders(connection: RedisConnection): Redis[] {
  return connection instanceof Cluster ? connection.nodes('master') : [connection];
}

/**
 * Deletes every key matching `pattern` (SCAN on every master; each key unlinked on its own, so no
 * command spans two slots). For test and benchmark clean-up; returns how many were deleted.
 */
export async function deleteKeysMatching(connection: RedisConnection, pattern: string): Promise<number> {
  let deleted = 0;
  for (const node of keyHolders(connection)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (found.length === 0) continue;
      const pipeline = node.pipeline();
      for (const key of found) pipeline.unlink(key);
      await pipeline.exec();
      deleted += found.length;
    } while (cursor !== '0');
  }
  return deleted;
}
