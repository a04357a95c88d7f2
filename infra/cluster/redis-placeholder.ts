/**
 * The cluster's Redis, behind one function so that it can be swapped: today one redis-server
 * (append-only, fsync always, noeviction, a password) on the `redis` host. The Redis Cluster module
 * (`infra/cluster/redis-cluster.ts`, three masters with replicas) replaces this function's body;
 * what the services get is `env` (REDIS_URL today; REDIS_CLUSTER_NODES and REDIS_PASSWORD then).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from './hosts.js';
import { killGroup, startDetached, waitFor } from './processes.js';
import { Redis } from 'ioredis';

export interface ClusterRedis {
  /** What every service's environment gets. */
  env: Record<string, string>;
  /** A URL this machine (the root namespace) reaches it at, for the operator's own checks. */
  url: string;
  /** Rows for the "where everything is" table. */
  rows: { host: Host; what: string; ports: string }[];
  pids: number[];
  stop(): Promise<void>;
}

export async function startClusterRedis(o: { hosts: Host[]; dir: string }): Promise<ClusterRedis> {
  const host = o.hosts[0];
  const password = randomBytes(16).toString('hex');
  const dir = join(o.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = startDetached(host.prefix, ['redis-server', '--port', '6379', '--bind', host.ip, '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', '--requirepass', password]);
  const url = `redis://:${password}@${host.ip}:6379`;
  await waitFor('redis', async () => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } finally {
      r.disconnect();
    }
  });
  return {
    env: { REDIS_URL: url },
    url,
    rows: [{ host, what: 'redis-server (one node; Redis Cluster replaces it)', ports: '6379' }],
    pids: child.pid ? [child.pid] : [],
    stop: () => killGroup(child, 'SIGKILL'),
  };
}
