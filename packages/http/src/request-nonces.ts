/**
 * Durable claims of request nonces. A signed request that changes something (any method but GET
 * and HEAD) claims its nonce in Postgres, so that losing Redis data (a restart on an empty
 * directory, a flush) never lets a captured request be replayed. Reads stay on Redis: a replayed
 * GET changes nothing and can only read again, within the clock window, what the captured request
 * read; a Postgres write per read would cost more than that protects.
 *
 * The claim is its own statement, committed before the route runs, not part of the effect's
 * transaction: a request that is refused (a mint the reserve cannot cover yet) must stay spent
 * too, or its capture could be replayed once it would succeed.
 */
import type { Sql } from '@cbdc/db/connect';

/** Methods whose nonces may be claimed in Redis alone. */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** Whether a request of this method must claim its nonce durably. */
export function needsDurableNonce(method: string): boolean {
  return !READ_ONLY_METHODS.has(method.toUpperCase());
}

interface PendingClaim {
  scope: string;
  keyId: string;
  nonce: string;
  expiresAtMs: number;
  resolve(claimed: boolean): void;
  reject(error: unknown): void;
}

/**
 * Durable nonce claims, grouped: one statement at a time per process, carrying every claim that
 * arrived while the one before ran (so a lone request waits for no timer, and a busy gateway
 * writes one row set per round trip instead of one statement per request).
 */
export class DurableNonceClaims {
  private queue: PendingClaim[] = [];
  private flushing = false;

  constructor(
    private readonly sql: Sql,
    private readonly now: () => number,
    private readonly claimsPerStatementMax = 1000,
  ) {}

  /**
   * Claims (scope, key id, nonce) for `ttlMs`; false if it is held. A row whose time has passed no
   * longer holds (a request carrying that nonce is outside the clock window anyway).
   */
  claim(scope: string, keyId: string, nonce: string, ttlMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ scope, keyId, nonce, expiresAtMs: this.now() + ttlMs, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.insert(this.queue.splice(0, this.claimsPerStatementMax));
    } finally {
      this.flushing = false;
    }
  }

  /** One statement for a group; the second claim of one nonce in a group loses at once. */
  private async insert(group: PendingClaim[]): Promise<void> {
    const idOf = (c: { scope: string; keyId: string; nonce: string }) => `${c.scope}\n${c.keyId}\n${c.nonce}`;
    const first = new Map<string, PendingClaim>();
    for (const c of group) if (!first.has(idOf(c))) first.set(idOf(c), c);
    const sent = [...first.values()];
    try {
      const rows = await this.sql<{ scope: string; key_id: string; nonce: string }[]>`
        insert into request_nonces (scope, key_id, nonce, expires_at_ms)
        select * from unnest(${sent.map((c) => c.scope)}::text[], ${sent.map((c) => c.keyId)}::text[], ${sent.map((c) => c.nonce)}::text[], ${sent.map((c) => c.expiresAtMs)}::bigint[])
        on conflict (scope, key_id, nonce) do update set expires_at_ms = excluded.expires_at_ms
          where request_nonces.expires_at_ms <= ${this.now()}
        returning scope, key_id, nonce`;
      const claimed = new Set(rows.map((r) => idOf({ scope: r.scope, keyId: r.key_id, nonce: r.nonce })));
      for (const c of group) c.resolve(first.get(idOf(c)) === c && claimed.has(idOf(c)));
    } catch (error) {
      for (const c of group) c.reject(error);
    }
  }
}

/** Deletes up to `rowsMax` nonces whose time has passed; returns how many. */
export async function pruneRequestNonces(sql: Sql, nowMs: number, rowsMax: number): Promise<number> {
  const rows = await sql`delete from request_nonces where ctid in (select ctid from request_nonces where expires_at_ms <= ${nowMs} limit ${rowsMax})`;
  return rows.count;
}
