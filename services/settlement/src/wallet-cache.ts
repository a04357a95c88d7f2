/**
 * The wallets a settlement worker holds in memory between batches, so that a batch reads from
 * Postgres only the wallets it has not seen (TigerBeetle's "the ledger state lives with its single
 * writer", kept honest by the database).
 *
 * Correctness does not rest on this process being the only writer: every transaction that writes
 * a shard's existing wallet rows bumps `shards.wallets_version` under the shard head lock (this
 * worker's batches and, through lockShard, the issuer and wallet controls). A batch compares the
 * version it reads under that lock with the one the cache was filled at, and starts from empty if
 * they differ. The cache changes only after a commit it saw succeed; a batch that failed, or whose
 * commit answer was lost, empties it.
 *
 * Another writer's transaction empties the whole cache, whichever wallet it touched: cheap while
 * such writes (freezes, closes, mints to a treasury) are rare next to payments. If they were not,
 * the refinement is a log of changed wallet ids per version instead of one counter.
 */
import { trimOldest } from '@cbdc/shared/bounded-map';
import type { WalletState } from '@cbdc/shared/ledger';

export interface CacheTicket {
  readonly version: bigint;
  readonly generation: number;
}

export class WalletCache {
  private readonly wallets = new Map<string, WalletState>();
  /** The `wallets_version` the entries are current at; null when nothing is known. */
  private version: bigint | null = null;
  /** Changes on every validation, commit and reset, so that a late commit cannot apply over a newer one. */
  private generation = 0;

  constructor(private readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('WalletCache capacity must be positive');
  }

  get size(): number {
    return this.wallets.size;
  }

  /**
   * Called under the shard head lock with the version read there: empties the cache if another
   * writer has been, and returns the ticket the batch commits with.
   */
  validate(versionInDb: bigint): CacheTicket {
    if (this.version !== versionInDb) {
      this.wallets.clear();
      this.version = versionInDb;
    }
    return { version: versionInDb, generation: ++this.generation };
  }

  /** Whether the entries are current at this `wallets_version`. */
  isAt(version: bigint): boolean {
    return this.version === version;
  }

  get(id: string): WalletState | undefined {
    return this.wallets.get(id);
  }

  /**
   * After a commit: the wallets read from Postgres and then the ones the batch changed, current at
   * `committedVersion`. If anything touched the cache since `ticket` was issued, it is emptied
   * instead: the next batch reads what it needs again.
   */
  committed(ticket: CacheTicket, committedVersion: bigint, read: Iterable<WalletState>, changed: Iterable<WalletState>): void {
    if (this.generation !== ticket.generation || this.version !== ticket.version) {
      this.reset();
      return;
    }
    for (const w of read) this.wallets.set(w.id, w);
    for (const w of changed) {
      // Re-inserted, so that eviction (oldest insertion first) spares the wallets in use.
      this.wallets.delete(w.id);
      this.wallets.set(w.id, w);
    }
    this.version = committedVersion;
    this.generation++;
    trimOldest(this.wallets, this.capacity);
  }

  /** Forgets everything (a failed or unknown commit). */
  reset(): void {
    this.wallets.clear();
    this.version = null;
    this.generation++;
  }
}
