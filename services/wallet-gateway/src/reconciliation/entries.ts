/**
 * A bank's entries: every movement of one of its wallets' balances, and each of its own requests
 * that settlement refused (which moved nothing). Pure: the order, the cursor, the merge of the
 * shard groups' pages and the wire form; the SQL is in ./store.ts.
 *
 * An entry is one of the flows the audit sums into a balance (packages/db/src/audit.ts):
 * - debit: a transfer or funding row, at the payer's shard, as the payer's bank sees it (applied
 *   when settled or debited towards another shard; a refused request is listed, not applied);
 * - credit: a settled row credits its payee on the same shard; a credit leg credits it on its own
 *   shard (a transfer between shards), later;
 * - refund: the payer's shard returns the amount of a transfer whose credit was refused;
 * - mint, retire: the treasury legs of the central bank's issuance.
 *
 * Settlement time is the time of the batch that committed the movement, at the shard of the wallet
 * it moved (an issuance leg's own time). A transfer between shards is therefore listed at its debit
 * (the payer's bank, status pending until the payee's shard answers), at its credit (the payee's
 * bank, later) and, if the credit was refused, at its refund (the payer's bank, later still).
 *
 * Order: the key (time, shard, batch seq, leaf index, side) is unique and total over every bank's
 * entries, and the same in every group: one key orders a merge of all groups, and a cursor is the
 * last key returned. An issuance leg has batch seq 0 (batches start at 1) and its leg number as leaf
 * index; side 0 is a debit, 1 a credit (a transfer between two wallets of one bank on one shard is
 * both, one leaf).
 *
 * No gaps or repeats while transfers commit: a batch commits after its time, never more than the
 * settled lag later (the worker's commit deadline, plus the clock difference between hosts). A page
 * lists only entries older than now minus that lag (its horizon), so every entry that commits
 * afterwards has a time at or above that horizon, hence a key above the cursor: it comes on a later
 * page. Keys only grow from page to page, so nothing comes twice.
 */
import { rejectionCodeSeenBy } from '@cbdc/shared/errors';
import { isTreasuryWalletId } from '@cbdc/shared/ids';

/** Where an entry stands in the one order of every bank's entries. */
export interface EntryKey {
  atMs: bigint;
  shard: number;
  batchSeq: bigint;
  leafIndex: bigint;
  side: 0 | 1;
}

/** -1, 0 or 1 as `a` comes before, with or after `b`. */
export function compareKeys(a: EntryKey, b: EntryKey): number {
  if (a.atMs !== b.atMs) return a.atMs < b.atMs ? -1 : 1;
  if (a.shard !== b.shard) return a.shard < b.shard ? -1 : 1;
  if (a.batchSeq !== b.batchSeq) return a.batchSeq < b.batchSeq ? -1 : 1;
  if (a.leafIndex !== b.leafIndex) return a.leafIndex < b.leafIndex ? -1 : 1;
  return a.side - b.side;
}

/** The source of an entry row: a transfer row (payer side or payee side), a leg, an issuance leg. */
export type EntrySource = 'payer' | 'payee' | 'leg' | 'issuance';

/** One entry as read from a group's database (./store.ts). */
export interface EntryRow {
  source: EntrySource;
  at_ms: bigint;
  shard: number;
  batch_seq: bigint;
  leaf: bigint;
  side: 0 | 1;
  /** The transfer id, or the issuance request id. */
  subject_id: string;
  /** The transfer's kind (payer and payee sides), or mint or retire; null for a leg (read with its transfer). */
  kind: string | null;
  /** credit or refund for a leg. */
  leg: 'credit' | 'refund' | null;
  /** The bank's wallet that the entry moves (or, for a refused request, names as payer). */
  wallet_id: string;
  payer_wallet_id: string | null;
  payee_wallet_id: string | null;
  amount_minor: bigint;
  applied: boolean;
  /** The transfer row's status (settled, rejected, in_flight) or the issuance leg's (applied, rejected); null for a leg. */
  status: string | null;
  code: string | null;
  /** A credit leg: the payer's shard, where its transfer row is. */
  from_shard: number | null;
}

export const keyOf = (r: Pick<EntryRow, 'at_ms' | 'shard' | 'batch_seq' | 'leaf' | 'side'>): EntryKey => ({ atMs: r.at_ms, shard: r.shard, batchSeq: r.batch_seq, leafIndex: r.leaf, side: r.side });

/**
 * Merges the groups' pages (each in key order, at most `limit` + 1 rows past the cursor) into the
 * first `limit` entries past the cursor, and whether more exist: if a group holds more than it
 * returned, it returned `limit` + 1 rows, so more than `limit` are left over all.
 */
export function mergeEntries<T extends EntryRow>(streams: readonly T[][], limit: number): { page: T[]; more: boolean } {
  const all = streams.flat().sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  return { page: all.slice(0, limit), more: all.length > limit };
}

/** A page's place in a listing: the range asked for, and the last key returned (null: from the start). */
export interface ListPosition {
  fromMs: bigint;
  toMs: bigint;
  after: EntryKey | null;
}

const INT = /^(0|-?[1-9][0-9]{0,18})$/;
const U63_MAX = 9_223_372_036_854_775_807n;

/** The text of a cursor (before base64url): `e1.<from>.<to>` and, past the start, the key. */
export function encodeListCursor(p: ListPosition): string {
  const head = `e1.${p.fromMs}.${p.toMs}`;
  const k = p.after;
  return k === null ? head : `${head}.${k.atMs}.${k.shard}.${k.batchSeq}.${k.leafIndex}.${k.side}`;
}

/** Parses a cursor's text; null unless it is one this gateway returns. */
export function decodeListCursor(text: string): ListPosition | null {
  const parts = text.split('.');
  if (parts[0] !== 'e1' || (parts.length !== 3 && parts.length !== 8)) return null;
  const n = parts.slice(1).map((p) => (INT.test(p) ? BigInt(p) : null));
  if (n.some((v) => v === null || v < 0n || v > U63_MAX)) return null;
  const [fromMs, toMs, atMs, shard, batchSeq, leafIndex, side] = n as bigint[];
  if (fromMs >= toMs) return null;
  if (parts.length === 3) return { fromMs, toMs, after: null };
  if (shard > 1023n || side > 1n || atMs < fromMs || atMs >= toMs) return null;
  return { fromMs, toMs, after: { atMs, shard: Number(shard), batchSeq, leafIndex, side: Number(side) as 0 | 1 } };
}

/**
 * Where listing stands after a page: the last key read (the cursor's own if the page is empty),
 * and whether the range is complete: nothing more past it, and the horizon past the range's end
 * (entries of the range may still commit until then).
 */
export function afterPage(position: ListPosition, page: readonly EntryRow[], more: boolean, horizonMs: bigint): { next: ListPosition | null } {
  const last = page.length ? keyOf(page[page.length - 1]) : position.after;
  const complete = !more && horizonMs >= position.toMs;
  return { next: complete ? null : { ...position, after: last } };
}

/** The transfer an entry belongs to, with the banks of its wallets (for the codes a bank may see). */
export interface EntryTransfer {
  kind: 'transfer' | 'funding';
  payerWalletId: string;
  payeeWalletId: string;
  status: 'settled' | 'rejected' | 'in_flight';
  code: string | null;
  payerBankId: string | null;
  payeeBankId: string | null;
}

export type EntryType = 'debit' | 'credit' | 'refund' | 'mint' | 'retire';

/** The wire form of an entry, as bank `viewerBankId` may see it. */
export function entryView(r: EntryRow, transfer: EntryTransfer | null, viewerBankId: string) {
  const type: EntryType = r.source === 'issuance' ? (r.kind as 'mint' | 'retire') : r.source === 'leg' ? r.leg! : r.side === 0 ? 'debit' : 'credit';
  const base = {
    id: `${type}:${r.subject_id}`,
    type,
    direction: (r.side === 0 ? 'debit' : 'credit') as 'debit' | 'credit',
    walletId: r.wallet_id,
    amountMinor: r.amount_minor.toString(),
    applied: r.applied,
    settledAt: new Date(Number(r.at_ms)).toISOString(),
    settledAtMs: r.at_ms.toString(),
    shard: r.shard,
  };
  if (r.source === 'issuance') {
    return {
      ...base,
      kind: type as 'mint' | 'retire',
      transferId: null,
      issuanceId: r.subject_id,
      payerWalletId: null,
      payeeWalletId: null,
      counterpartyWalletId: null,
      status: (r.status === 'applied' ? 'settled' : 'rejected') as EntryStatus,
      code: r.code,
      batchSeq: null,
      leafIndex: null,
    };
  }
  if (!transfer) throw new Error(`invariant broken: entry ${base.id} has no transfer row`);
  const counterparty = type === 'credit' ? transfer.payerWalletId : transfer.payeeWalletId;
  // A credit is final where it is applied: the money stays with the payee, whatever the payer's
  // shard has yet to hear. The other entries show the transfer as it stands at the payer's shard.
  const status: EntryStatus = type === 'credit' ? 'settled' : transfer.status === 'in_flight' ? 'pending' : transfer.status;
  const code = type === 'credit' ? null : rejectionCodeSeenBy(transfer.code, viewerBankId, transfer.payerBankId, transfer.payeeBankId);
  return {
    ...base,
    kind: (transfer.kind === 'transfer' && isTreasuryWalletId(transfer.payeeWalletId) ? 'redemption' : transfer.kind) as EntryKind,
    transferId: r.subject_id,
    issuanceId: null,
    payerWalletId: transfer.payerWalletId,
    payeeWalletId: transfer.payeeWalletId,
    counterpartyWalletId: counterparty,
    status,
    code,
    batchSeq: r.batch_seq.toString(),
    leafIndex: Number(r.leaf),
  };
}

export type EntryKind = 'transfer' | 'funding' | 'redemption' | 'mint' | 'retire';
export type EntryStatus = 'settled' | 'rejected' | 'pending';
export type EntryView = ReturnType<typeof entryView>;

/** The signed amount an entry moves its wallet by (0 for a refused request). */
export function deltaOf(r: Pick<EntryRow, 'applied' | 'side' | 'amount_minor'>): bigint {
  if (!r.applied) return 0n;
  return r.side === 0 ? -r.amount_minor : r.amount_minor;
}
