/**
 * Where the gateway reads and writes each shard's ledger rows (wallets, transfers, legs, batches,
 * the wallets' registry chains, idempotency keys of wallet requests): the shard-group databases of
 * the topology, one pool each (a group sharing the central database's URL shares its pool). The
 * central database (banks' keys, request nonces) is `Topology.central`.
 *
 * Each pool has a watch (`watchWritable`): a request that touches a group whose server is down (or
 * read-only, for a write) is refused at once with 503 `dependency_unavailable`, and requests that
 * touch only healthy groups carry on. Nothing here spans two servers in one transaction: a caller
 * takes one database per transaction.
 */
import { isUnreachable, watchWritable, type Sql, type WritableWatch } from '@cbdc/db/connect';
import type { Topology } from '@cbdc/db/topology';
import { shardOf } from '@cbdc/shared/ids';
import { ApiError } from '@cbdc/shared/problem';

/** One pool holding the ledgers of `shards`. */
export interface LedgerDatabase {
  /** 0, 1, ...: its place among the gateway's ledger databases (history cursors name it). */
  index: number;
  shards: readonly number[];
  sql: Sql;
  watch: WritableWatch;
}

/** How long a read waits for a fresh probe of a database last seen down before answering 503. */
const RECHECK_WAIT_MS = 250;

const unavailable = (db: LedgerDatabase, what: string) => new ApiError('dependency_unavailable', `the ledger database of shard(s) ${db.shards.join(',')} is not ${what}; nothing was done`, { headers: { 'retry-after': '1' } });

export class Ledger {
  /** The distinct ledger pools, in the topology's group order. */
  readonly databases: readonly LedgerDatabase[];
  /** Whether the central database takes writes now. */
  readonly central: WritableWatch;
  private readonly byShard: LedgerDatabase[] = [];
  private readonly watches = new Map<Sql, WritableWatch>();

  constructor(
    readonly topology: Topology,
    readonly shardCount: number,
    probeIntervalMs?: number,
  ) {
    const watchOf = (sql: Sql) => {
      let watch = this.watches.get(sql);
      if (!watch) this.watches.set(sql, (watch = watchWritable(sql, probeIntervalMs)));
      return watch;
    };
    this.central = watchOf(topology.central);
    const databases: LedgerDatabase[] = [];
    for (const group of topology.groups) {
      let db = databases.find((d) => d.sql === group.sql);
      if (!db) databases.push((db = { index: databases.length, shards: [], sql: group.sql, watch: watchOf(group.sql) }));
      db.shards = [...db.shards, ...group.shards].sort((a, b) => a - b);
      for (const shard of group.shards) this.byShard[shard] = db;
    }
    for (let shard = 0; shard < shardCount; shard++) if (!this.byShard[shard]) throw new Error(`shard ${shard} is in no shard group`);
    this.databases = databases;
  }

  /** The database holding `shard`'s ledger. */
  ofShard(shard: number): LedgerDatabase {
    const db = this.byShard[shard];
    if (!db) throw new Error(`shard ${shard} is in no shard group`);
    return db;
  }

  /** The database holding a wallet (wallets are placed by `shardOf(id)`). */
  ofWallet(walletId: string): LedgerDatabase {
    return this.ofShard(shardOf(walletId, this.shardCount));
  }

  /** `db`'s pool for a write; 503 while its server takes no writes. */
  writable(db: LedgerDatabase): Sql {
    if (!db.watch.writable) throw unavailable(db, 'accepting writes');
    return db.sql;
  }

  /**
   * `db`'s pool for a read; 503 while its server does not answer. A database last seen down is
   * probed again first (waiting at most `RECHECK_WAIT_MS`), so that reads resume as soon as its
   * server is back rather than at the next periodic probe.
   */
  async readable(db: LedgerDatabase): Promise<Sql> {
    if (!db.watch.reachable) await db.watch.recheck(RECHECK_WAIT_MS);
    if (!db.watch.reachable) throw unavailable(db, 'reachable');
    return db.sql;
  }

  /**
   * Runs a read on `db` (503 while it does not answer). A read whose connection fails under it (a
   * server restarted since the connection was opened) is run once more, on a fresh connection:
   * reads change nothing, and the pool notices a dead connection only when it uses it.
   */
  async read<T>(db: LedgerDatabase, run: (sql: Sql) => Promise<T>): Promise<T> {
    const sql = await this.readable(db);
    try {
      return await run(sql);
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      return run(await this.readable(db));
    }
  }

  /** Runs a read on every database at once, for what needs them all (a listing): 503 if one does not answer. */
  async readAll<T>(run: (sql: Sql, db: LedgerDatabase) => Promise<T>): Promise<T[]> {
    await Promise.all(this.databases.map((db) => this.readable(db)));
    return Promise.all(this.databases.map((db) => this.read(db, (sql) => run(sql, db))));
  }

  /** Groups `items` by the database of `walletOf(item)`. */
  byDatabase<T>(items: readonly T[], walletOf: (item: T) => string): Map<LedgerDatabase, T[]> {
    const out = new Map<LedgerDatabase, T[]>();
    for (const item of items) {
      const db = this.ofWallet(walletOf(item));
      const list = out.get(db);
      if (list) list.push(item);
      else out.set(db, [item]);
    }
    return out;
  }

  stop(): void {
    for (const watch of this.watches.values()) watch.stop();
  }
}

/** The topology of a single database holding the central records and every shard's ledger. */
export function singleDatabaseTopology(sql: Sql, shardCount: number): Topology {
  const group = { id: 0, shards: Array.from({ length: shardCount }, (_, s) => s), url: '', sql };
  return {
    centralUrl: '',
    central: sql,
    groups: [group],
    ofShard: () => sql,
    groupOf: () => group,
    pools: () => [sql],
    end: (o = { timeout: 5 }) => sql.end(o),
  };
}
