/**
 * The deployment's Redis: a Redis Cluster of three masters and three replicas
 * (`startRedisCluster`, infra/cluster/redis-cluster.ts) on three hosts, two nodes each (ports 6379
 * and 6380). `redis-cli --cluster create` picks one master per address and never puts a replica on
 * its master's address, so each host runs a master and the replica of another host's master:
 * losing one host costs one master, whose replica on another host takes over. Authentication is on
 * (requirepass and masterauth, one random password); what every service gets is
 * `redisEnvOf(target)`: REDIS_CLUSTER_NODES (all six as seeds) and REDIS_PASSWORD.
 */
import { join } from 'node:path';
import { redisEnvOf, type RedisTarget } from '@cbdc/shared/redis';
import type { Host } from './hosts.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

/** The two ports of every Redis host (one node each). */
export const REDIS_PORTS = [6379, 6380] as const;

export interface DeploymentRedis {
  cluster: RedisCluster;
  target: RedisTarget;
  /** What every service's environment gets. */
  env: Record<string, string>;
  /** Rows for the "where everything is" table: every node, its role as the cluster sees it now. */
  rows(): Promise<{ host: Host; what: string; ports: string }[]>;
  stop(): Promise<void>;
}

/** Starts the cluster: node i on host i mod hosts.length, port REDIS_PORTS[floor(i / hosts.length)]. */
export async function startDeploymentRedis(o: { hosts: Host[]; dir: string; masters?: number }): Promise<DeploymentRedis> {
  const masters = o.masters ?? 3;
  const count = masters * 2;
  if (o.hosts.length * REDIS_PORTS.length < count) throw new Error(`${count} Redis nodes need ${Math.ceil(count / REDIS_PORTS.length)} hosts`);
  const hostOf = (i: number) => o.hosts[i % o.hosts.length];
  const members = Array.from({ length: count }, (_, i) => ({ host: hostOf(i), port: REDIS_PORTS[Math.floor(i / o.hosts.length)] }));
  const cluster = await startRedisCluster({
    masters,
    replicasPerMaster: 1,
    hosts: members.map((m) => m.host.ip),
    ports: members.map((m) => m.port),
    dataDir: join(o.dir, 'redis'),
    // A master unreachable for 3 s is replaced by its replica (F10 measures 1.5 s; a shared machine needs slack).
    nodeTimeoutMs: 3000,
    commandPrefix: (i) => members[i].host.prefix,
  });
  return {
    cluster,
    target: cluster.target,
    env: redisEnvOf(cluster.target),
    async rows() {
      const view = await cluster.nodes();
      return members.map((m) => {
        const node = view.find((n) => n.host === m.host.ip && n.port === m.port);
        const master = node?.masterId ? view.find((n) => n.id === node.masterId) : undefined;
        const slots = node?.slots.map(([from, to]) => `${from}-${to}`).join(',');
        const role = !node ? 'unknown to the cluster' : node.role === 'master' ? `master, slots ${slots}` : `replica of ${master ? `${master.host}:${master.port}` : node.masterId}`;
        return { host: m.host, what: `redis cluster node (${role})`, ports: String(m.port) };
      });
    },
    stop: () => cluster.stop(),
  };
}
