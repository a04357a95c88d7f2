/**
 * A wallet's history across shard groups. Its outgoing transfers are rows of its own group (a row
 * lives at the payer's shard); its incoming ones from payers of other groups are rows of those
 * groups. Each group's rows naming the wallet are one stream, newest first by that database's own
 * insertion order (`row_no`); a page merges the streams, taking each time the head with the latest
 * settlement time, and the cursor holds one position per group: the row number below which that
 * group's stream continues (`*`: from its newest row; `0`: nothing left). Every row is in exactly
 * one stream and each stream is read in its own order from its own position, so paging misses
 * nothing and shows nothing twice, however the groups' clocks compare. The order across groups is
 * newest first by settlement time; within a group it is commit order.
 *
 * With one group the cursor is that group's row number alone: the cursor of the one-database
 * gateway, unchanged. A history reads every group (incoming payments may be in any): while one
 * does not answer, history answers 503.
 */
import { AMOUNT_MINOR_MAX } from '@cbdc/shared/money';
import type { GatewayContext } from '../context.js';
import { historyRows, transferViewFor, withBanks, type TransferRow, type TransferView } from './store.js';

/** One position per ledger database: continue below this row number; null: from the newest row; 0n: nothing left. */
export type HistoryCursor = Array<bigint | null>;

/** A row number, 0 to 2^63-1 (a Postgres bigint), without leading zeros. */
const ROW_NUMBER = /^(0|[1-9][0-9]{0,18})$/;

/** The text of a cursor (before base64url): positions joined by ",". */
export function encodeHistoryCursor(cursor: HistoryCursor): string {
  return cursor.map((p) => (p === null ? '*' : p.toString())).join(',');
}

/** Parses a cursor's text for `databases` ledger databases; null if it is not one this gateway returns. */
export function decodeHistoryCursor(text: string, databases: number): HistoryCursor | null {
  const parts = text.split(',');
  if (parts.length !== databases) return null;
  const cursor: HistoryCursor = [];
  for (const part of parts) {
    if (part === '*') cursor.push(null);
    else if (ROW_NUMBER.test(part) && BigInt(part) <= AMOUNT_MINOR_MAX) cursor.push(BigInt(part));
    else return null;
  }
  return cursor;
}

/**
 * Merges streams (each newest first in its own order, each holding at most `limit` + 1 rows after
 * its position) into a page of at most `limit` rows, and the positions after it (null when no stream
 * has rows left).
 */
export function mergeHistory(streams: readonly TransferRow[][], positions: HistoryCursor, limit: number): { page: TransferRow[]; next: HistoryCursor | null } {
  const taken = streams.map(() => 0);
  const page: TransferRow[] = [];
  while (page.length < limit) {
    let best = -1;
    for (let i = 0; i < streams.length; i++) {
      if (taken[i] === streams[i].length) continue;
      if (best < 0 || streams[i][taken[i]].settled_at_ms > streams[best][taken[best]].settled_at_ms) best = i;
    }
    if (best < 0) break;
    page.push(streams[best][taken[best]++]);
  }
  if (streams.every((s, i) => taken[i] === s.length)) return { page, next: null };
  // A stream read to its end holds nothing more below its position (it returned fewer than limit + 1 rows).
  const next = streams.map((s, i) => (taken[i] === s.length ? 0n : taken[i] === 0 ? positions[i] : s[taken[i] - 1].row_no));
  return { page, next };
}

/** One page of a wallet's history as `viewerBankId` (its bank) may see it. */
export async function historyPageAcross(ctx: GatewayContext, walletId: string, limit: number, before: HistoryCursor | null, viewerBankId: string): Promise<{ rows: TransferView[]; next: HistoryCursor | null }> {
  const positions: HistoryCursor = before ?? ctx.ledger.databases.map(() => null);
  const streams = await ctx.ledger.readAll(async (sql, db) => (positions[db.index] === 0n ? [] : historyRows(sql, walletId, limit, positions[db.index])));
  const { page, next } = mergeHistory(streams, positions, limit);
  const banked = await withBanks(ctx.walletFacts, page);
  return { rows: banked.map((r) => transferViewFor(r, viewerBankId)), next };
}
