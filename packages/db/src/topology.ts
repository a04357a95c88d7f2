/**
 * Connections to every database of a deployment: the central one and each shard group's (see
 * @cbdc/shared/topology for what lives where). Services route every read and write by shard through
 * `ofShard`; a group whose URL is the central URL shares the central pool, so the default
 * one-database deployment opens one pool, as before.
 */
import { z } from 'zod';
import { groupOfShard, parseShardDatabases, type ShardGroupSpec } from '@cbdc/shared/topology';
import { isPostgresUrl } from './postgres-url.js';
import { connectPostgres, DEFAULT_DATABASE_URL, type ConnectOptions, type Sql } from './connect.js';
import { migrate } from './migrate.js';
import { type ServiceName, urlForService } from './roles.js';

/** The variables that place a service's databases, for its environment schema (one rule in every service). */
export const databaseEnvShape = {
  /**
   * The central database; with SHARD_DATABASES unset, also every shard's ledger. One server, or a
   * primary and its standby: postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write.
   */
  DATABASE_URL: z.string().refine(isPostgresUrl, { error: 'DATABASE_URL must be a postgres:// URL (one host, or a comma-separated list of host:port)' }).default(DEFAULT_DATABASE_URL),
  /** Where each shard's ledger lives: "0-3=postgres://…;4-7=postgres://…" (see @cbdc/shared/topology); unset, all in DATABASE_URL. */
  SHARD_DATABASES: z.string().max(8192).optional(),
};

export interface ShardGroup extends ShardGroupSpec {
  sql: Sql;
}

export interface Topology {
  centralUrl: string;
  central: Sql;
  groups: readonly ShardGroup[];
  /** The pool of the database that holds `shard`'s ledger. */
  ofShard(shard: number): Sql;
  /** The group that holds `shard`. */
  groupOf(shard: number): ShardGroup;
  /** The distinct pools: the central one first, then each group's that is not the central one. */
  pools(): Sql[];
  end(options?: { timeout?: number }): Promise<void>;
}

export interface TopologyOptions extends ConnectOptions {
  /** Connect as this service's role (see roles.ts); as the URL's user when absent. */
  service?: ServiceName;
  /** Pool size of each group's pool (default: `max`). */
  groupMax?: number;
}

/** Opens pools for the central database and each shard group of `specs`. */
export function connectTopology(centralUrl: string, specs: readonly ShardGroupSpec[], options: TopologyOptions = {}): Topology {
  const as = (url: string) => (options.service ? urlForService(url, options.service) : url);
  const central = connectPostgres(as(centralUrl), options);
  const groups: ShardGroup[] = specs.map((g) => ({ ...g, sql: g.url === centralUrl ? central : connectPostgres(as(g.url), { ...options, max: options.groupMax ?? options.max }) }));
  const byShard = new Map<number, ShardGroup>();
  for (const g of groups) for (const s of g.shards) byShard.set(s, g);
  const groupOf = (shard: number) => {
    const g = byShard.get(shard);
    if (!g) throw new Error(`shard ${shard} is in no shard group`);
    return g;
  };
  const pools = () => [central, ...groups.map((g) => g.sql).filter((sql) => sql !== central)];
  return {
    centralUrl,
    central,
    groups,
    groupOf,
    ofShard: (shard) => groupOf(shard).sql,
    pools,
    async end(o = { timeout: 5 }) {
      await Promise.all(pools().map((sql) => sql.end(o)));
    },
  };
}

/** A one-database topology over an existing pool (every shard in it; `end` leaves the pool open). */
export function topologyOfPool(sql: Sql, shardCount: number, url = 'postgres://local/one-database'): Topology {
  const group: ShardGroup = { id: 0, shards: Array.from({ length: shardCount }, (_, i) => i), url, sql };
  return { centralUrl: url, central: sql, groups: [group], groupOf: () => group, ofShard: () => sql, pools: () => [sql], end: async () => {} };
}

/** A topology from the environment's DATABASE_URL and SHARD_DATABASES. */
export function topologyFromEnv(shardCount: number, centralUrl: string, shardDatabases: string | undefined, options: TopologyOptions = {}): Topology {
  return connectTopology(centralUrl, parseShardDatabases(shardDatabases, shardCount, centralUrl), options);
}

/** Migrates the central database and every shard group's (the same schema everywhere). */
export async function migrateTopology(centralUrl: string, specs: readonly ShardGroupSpec[], log: (line: string) => void = () => {}): Promise<void> {
  const urls = [...new Set([centralUrl, ...specs.map((g) => g.url)])];
  for (const url of urls) await migrate(url, log);
}

export { groupOfShard, parseShardDatabases, type ShardGroupSpec };
