/**
 * The wallet facts a gateway needs to authorize, route and verify a transfer (owner bank, kind,
 * shard, public key, status), held in memory so that a busy gateway does not query Postgres for
 * every request.
 *
 * Owner, kind and shard never change once a wallet exists. The status matters here only for closed
 * wallets (refused at the gateway as `wallet_closed`); an entry lives at most `ttlMs`, and a close
 * or key replacement through this process forgets it at once. A wallet closed through another
 * gateway process within the last `ttlMs` may still be accepted here: settlement then refuses it
 * (`payer_closed` or `payee_closed`), so no money moves; only the answer's form differs. Likewise a
 * key replaced through another process: a transfer signed with the old key may be queued here, and
 * settlement refuses it (`authority_refused`: it verifies against the key in force); one signed
 * with the new key fails against the cached key, and the submit path reloads the key once before
 * answering `bad_signature` (`reload`). Freezes are not checked at the gateway at all: settlement
 * applies them.
 */
import { trimOldest } from '@cbdc/shared/bounded-map';
import type { WalletFacts } from './store.js';

export class WalletFactsCache {
  private readonly entries = new Map<string, { facts: WalletFacts; loadedAtMs: number }>();

  constructor(
    /** Reads the facts of those of `ids` that exist (from each wallet's shard-group database). */
    private readonly load: (ids: string[]) => Promise<Map<string, WalletFacts>>,
    private readonly o: { ttlMs: number; capacity: number; now?: () => number },
  ) {}

  /** The facts of those of `ids` that exist. */
  async get(ids: string[]): Promise<Map<string, WalletFacts>> {
    const now = (this.o.now ?? Date.now)();
    const found = new Map<string, WalletFacts>();
    const missing: string[] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e && now - e.loadedAtMs < this.o.ttlMs) found.set(id, e.facts);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const loaded = await this.load(missing);
    for (const [id, facts] of loaded) {
      found.set(id, facts);
      this.entries.delete(id);
      this.entries.set(id, { facts, loadedAtMs: now });
    }
    trimOldest(this.entries, this.o.capacity);
    return found;
  }

  /** The facts of those of `ids` that exist, read afresh (a key may have been replaced elsewhere). */
  async reload(ids: string[]): Promise<Map<string, WalletFacts>> {
    for (const id of ids) this.entries.delete(id);
    return this.get(ids);
  }

  /** Forgets a wallet whose status or key this process just changed. */
  forget(id: string): void {
    this.entries.delete(id);
  }
}
