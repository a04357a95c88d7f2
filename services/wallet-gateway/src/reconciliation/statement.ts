/**
 * A treasury's end-of-day statement (pure; the sums come from ./store.ts, read in one snapshot of
 * the treasury's group database, where every movement of the treasury is recorded).
 *
 * Why the balances are right: a wallet's balance is the sum of its movements (the audit checks
 * exactly this, packages/db/src/audit.ts checkBalances), and each movement has one time. So, in one
 * snapshot, with B the balance now and each movement counted once:
 *   opening = the movements before the day         (its history, summed)
 *   closing = B - the movements at or after its end (the balance now, rolled back)
 * The two are derived independently, and the statement checks opening + credits - debits =
 * closing: that holds exactly when the treasury's balance equals the sum of its history, so a
 * statement that does not balance has found a ledger fault (the audit names it). A day is served
 * once it ended at least the settled lag ago, so no movement of it can still commit (see
 * ./entries.ts); afterwards its statement never changes.
 */
import type { EntryKey } from './entries.js';
import type { TreasuryTotals } from './store.js';

const DAY_MS = 86_400_000n;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;

/** The UTC day `YYYY-MM-DD` as [startMs, endMs); null unless it is a real calendar date from 1970 on. */
export function dayRange(date: string): { startMs: bigint; endMs: bigint } | null {
  const m = DATE.exec(date);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (Number.isNaN(ms) || ms < 0 || new Date(ms).toISOString().slice(0, 10) !== date) return null;
  return { startMs: BigInt(ms), endMs: BigInt(ms) + DAY_MS };
}

/** The balances and totals of a statement, and whether they reconcile. */
export function statementTotals(t: TreasuryTotals) {
  const opening = t.beforeMinor;
  const closing = t.balanceMinor - t.afterMinor;
  const expected = opening + t.creditsMinor - t.debitsMinor;
  return {
    openingBalanceMinor: opening.toString(),
    closingBalanceMinor: closing.toString(),
    totalCreditsMinor: t.creditsMinor.toString(),
    totalDebitsMinor: t.debitsMinor.toString(),
    creditCount: t.creditCount,
    debitCount: t.debitCount,
    check: { openingPlusCreditsMinusDebitsMinor: expected.toString(), balanced: expected === closing },
  };
}

/** Where a statement page starts: after key `after`, as page number `page` (for camt.053's pagination). */
export interface StatementPosition {
  page: number;
  after: EntryKey;
}

/** A statement page's cursor text (before base64url): `s1.<date>.<page>.<key>`. */
export function encodeStatementCursor(date: string, p: StatementPosition): string {
  const k = p.after;
  return `s1.${date}.${p.page}.${k.atMs}.${k.shard}.${k.batchSeq}.${k.leafIndex}.${k.side}`;
}

const U63 = /^(0|[1-9][0-9]{0,18})$/;
const U63_MAX = 9_223_372_036_854_775_807n;

/** Parses a statement cursor for `date` (whose day is [startMs, endMs)); null unless this gateway returned it for that date. */
export function decodeStatementCursor(text: string, date: string, day: { startMs: bigint; endMs: bigint }): StatementPosition | null {
  const parts = text.split('.');
  if (parts.length !== 8 || parts[0] !== 's1' || parts[1] !== date || !parts.slice(2).every((p) => U63.test(p))) return null;
  const [page, atMs, shard, batchSeq, leafIndex, side] = parts.slice(2).map((p) => BigInt(p));
  if (page < 2n || page > 99_999n || atMs < day.startMs || atMs >= day.endMs || shard > 1023n || side > 1n || batchSeq > U63_MAX || leafIndex > U63_MAX) return null;
  return { page: Number(page), after: { atMs, shard: Number(shard), batchSeq, leafIndex, side: Number(side) as 0 | 1 } };
}
