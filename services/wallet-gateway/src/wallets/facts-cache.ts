/**
 * The wallet facts a gateway needs to authorize, route and verify a transfer (owner bank, kind,
 * shard, public key, status), held in memory so that a busy gateway does not query Postgres for
 * every request.
 *
 * All but the status never change once a wallet exists. The status matters here only for closed
 * wallets (refused at the gateway as `wallet_closed`); an entry lives at most `ttlMs`, and a close
 * through this process forgets it at once. A wallet closed through another gateway process within
 * the last `ttlMs` may still be accepted here: settlement then refuses it (`payer_closed` or
 * `payee_closed`), so no money moves; only the answer's form differs. Freezes are not checked at
 * the gateway at all: settlement applies them.
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

  /** Forgets a wallet whose status this process just changed. */
  forget(id: string): void {
    this.entries.delete(id);
  }
}
