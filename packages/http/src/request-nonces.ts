/**
 * Durable claims of request nonces. A signed request that changes something (any method but GET
 * and HEAD) claims its nonce in Postgres, so that losing Redis data (a restart on an empty
 * directory, a flush) never lets a captured request be replayed. Reads stay on Redis: a replayed
 * GET changes nothing and can only read again, within the clock window, what the captured request
 * read; a Postgres write per read would cost more than that protects.
 */
import type { Sql } from '@cbdc/db/connect';

/** Methods whose nonces may be claimed in Redis alone. */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** Whether a request of this method must claim its nonce durably. */
export function needsDurableNonce(method: string): boolean {
  return !READ_ONLY_METHODS.has(method.toUpperCase());
}

/**
 * Claims (scope, key id, nonce) until `nowMs + ttlMs`; false if it is held. A row whose time has
 * passed no longer holds (a request carrying that nonce is outside the clock window anyway).
 */
export async function claimNonceDurably(sql: Sql, scope: string, keyId: string, nonce: string, nowMs: number, ttlMs: number): Promise<boolean> {
  const rows = await sql`
    insert into request_nonces (scope, key_id, nonce, expires_at_ms) values (${scope}, ${keyId}, ${nonce}, ${nowMs + ttlMs})
    on conflict (scope, key_id, nonce) do update set expires_at_ms = excluded.expires_at_ms
      where request_nonces.expires_at_ms <= ${nowMs}
    returning 1`;
  return rows.length === 1;
}

/** Deletes up to `rowsMax` nonces whose time has passed; returns how many. */
export async function pruneRequestNonces(sql: Sql, nowMs: number, rowsMax: number): Promise<number> {
  const rows = await sql`delete from request_nonces where ctid in (select ctid from request_nonces where expires_at_ms <= ${nowMs} limit ${rowsMax})`;
  return rows.count;
}
