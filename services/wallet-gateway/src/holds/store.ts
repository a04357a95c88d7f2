/**
 * Reading holds: a hold's row lives in the database of its payer's shard (see ../ledger.ts), with
 * the leaves of its placement and close; a capture's credit leg in the payee's, its refund in the
 * payer's. A hold is visible to the payer's bank and to the payee's, and to no other (404).
 */
import type { Sql } from '@cbdc/db/connect';
import { rejectionCodeSeenBy } from '@cbdc/shared/errors';
import { ApiError } from '@cbdc/shared/problem';
import type { Ledger } from '../ledger.js';
import { proofOf } from '../transfers/store.js';

export interface HoldRow {
  id: string;
  bank_id: string;
  payer_wallet_id: string;
  payee_wallet_id: string;
  payee_bank_id: string | null;
  amount_minor: bigint;
  nonce: bigint;
  expires_at_ms: bigint;
  hold_expires_at_ms: bigint;
  memo: string;
  status: 'open' | 'captured' | 'voided' | 'expired' | 'rejected';
  code: string | null;
  shard: number;
  batch_seq: bigint;
  leaf_index: number;
  placed_at_ms: bigint;
  captured_minor: bigint | null;
  capture_leg_status: 'settled' | 'rejected' | 'debited' | null;
  capture_status: 'settled' | 'rejected' | 'in_flight' | null;
  capture_code: string | null;
  closed_by: string | null;
  closed_batch_seq: bigint | null;
  closed_leaf_index: number | null;
  closed_at_ms: bigint | null;
}

const COLUMNS =
  'id, bank_id, payer_wallet_id, payee_wallet_id, payee_bank_id, amount_minor, nonce, expires_at_ms, hold_expires_at_ms, memo, status, code, shard, batch_seq, leaf_index, placed_at_ms, captured_minor, capture_leg_status, capture_status, capture_code, closed_by, closed_batch_seq, closed_leaf_index, closed_at_ms';

/**
 * The view of a recorded hold for one bank. What the payer still has held is `amountMinor` while
 * open; once closed, `capturedMinor` went (or is going) to the payee and the rest came back. A code
 * that describes the other bank's customer is shown generically (rejectionCodeSeenBy).
 */
export function holdView(h: HoldRow, viewerBankId: string) {
  const seen = (code: string | null) => rejectionCodeSeenBy(code, viewerBankId, h.bank_id, h.payee_bank_id);
  const captured = h.status === 'captured' ? h.captured_minor! : null;
  return {
    id: h.id,
    status: h.status,
    code: seen(h.code),
    payerWalletId: h.payer_wallet_id,
    payeeWalletId: h.payee_wallet_id,
    amountMinor: h.amount_minor.toString(),
    capturedMinor: captured === null ? null : captured.toString(),
    returnedMinor: h.status === 'open' || h.status === 'rejected' ? null : (h.amount_minor - (captured ?? 0n)).toString(),
    capture: h.status === 'captured' ? { status: h.capture_status === 'in_flight' ? ('pending' as const) : h.capture_status!, code: seen(h.capture_code) } : null,
    nonce: h.nonce.toString(),
    expiresAtMs: h.expires_at_ms.toString(),
    holdExpiresAtMs: h.hold_expires_at_ms.toString(),
    memo: h.memo,
    shard: h.shard,
    batchSeq: h.batch_seq.toString(),
    placedAtMs: h.placed_at_ms.toString(),
    closedAtMs: h.closed_at_ms === null ? null : h.closed_at_ms.toString(),
  };
}
export type HoldView = ReturnType<typeof holdView>;

export async function holdById(sql: Sql, id: string): Promise<HoldRow | null> {
  const [row] = await sql<HoldRow[]>`select ${sql.unsafe(COLUMNS)} from holds where id = ${id}`;
  return row ?? null;
}

/**
 * The row of hold `id`, wherever its payer's shard is: the gateway does not know the payer, so it
 * asks every group at once (one primary-key read each); 503 if not found while a group does not answer.
 */
export async function findHold(ledger: Ledger, id: string): Promise<HoldRow | null> {
  const reads = await Promise.allSettled(ledger.databases.map((db) => ledger.read(db, (sql) => holdById(sql, id))));
  for (const read of reads) if (read.status === 'fulfilled' && read.value) return read.value;
  const failed = reads.find((read) => read.status === 'rejected');
  if (failed) throw failed.reason;
  return null;
}

/** Whether `bankId` may see (and act on) the hold: its payer's bank or its payee's. */
export function isParty(h: HoldRow, bankId: string): boolean {
  return h.bank_id === bankId || h.payee_bank_id === bankId;
}

export const holdNotFound = () =>
  new ApiError('hold_not_found', "no recorded hold with this id has one of this bank's wallets as payer or payee; a hold still being placed is not yet recorded", {
    errors: [{ field: 'params/holdId', rule: 'recorded_hold', message: 'no recorded hold with this id involves this bank' }],
  });

/** The hold if `bankId` may see it, else 404 (never telling another bank's hold from none). */
export async function visibleHold(ledger: Ledger, bankId: string, id: string): Promise<HoldRow> {
  const h = await findHold(ledger, id);
  if (!h || !isParty(h, bankId)) throw holdNotFound();
  return h;
}

type LegRow = { leg: 'credit' | 'refund'; wallet_id: string; amount_minor: bigint; status: 'applied' | 'rejected'; code: string | null; shard: number; batch_seq: bigint; leaf_index: number };

/**
 * A hold's receipt: the proofs of its placement leaf and, once closed, of its close leaf, and of a
 * capture's credit and refund legs. The leaves commit to the precise codes, so a bank that may see
 * only the generic one is refused it (`receipt_withheld`), as for transfers.
 */
export async function holdReceipt(ledger: Ledger, h: HoldRow, viewerBankId: string) {
  const view = holdView(h, viewerBankId);
  if (view.code !== h.code || (view.capture !== null && view.capture.code !== h.capture_code)) {
    throw new ApiError('receipt_withheld', "this hold was refused for a reason that concerns another bank's customer; a receipt would prove which", {
      errors: [{ field: 'params/holdId', rule: 'own_customer_details', message: "the receipt would reveal another bank's customer details" }],
    });
  }
  const proofAt = (shard: number, batchSeq: bigint, leafIndex: number) => ledger.read(ledger.ofShard(shard), (sql) => proofOf(sql, shard, batchSeq, leafIndex));
  const hold = { holdId: h.id, payerWalletId: h.payer_wallet_id, payeeWalletId: h.payee_wallet_id, amountMinor: h.amount_minor.toString() };
  const placedEvent = h.status === 'rejected' ? ('rejected' as const) : ('placed' as const);
  const leaves = [{ leaf: { ...hold, event: placedEvent, capturedMinor: '0', capture: 'none' as const, code: placedEvent === 'rejected' ? h.code : null }, ...(await proofAt(h.shard, h.batch_seq, h.leaf_index)) }];
  if (h.closed_batch_seq !== null && (h.status === 'captured' || h.status === 'voided' || h.status === 'expired')) {
    const capture = h.capture_leg_status ?? 'none';
    leaves.push({
      leaf: { ...hold, event: h.status as never, capturedMinor: (h.captured_minor ?? 0n).toString(), capture: capture as never, code: capture === 'rejected' ? h.capture_code : null },
      ...(await proofAt(h.shard, h.closed_batch_seq, h.closed_leaf_index!)),
    });
  }
  const legDbs = [...new Set([ledger.ofShard(h.shard), ledger.ofWallet(h.payee_wallet_id)])];
  const legRows =
    h.capture_leg_status === 'debited'
      ? (await Promise.all(legDbs.map((db) => ledger.read(db, (sql) => sql<LegRow[]>`select leg, wallet_id, amount_minor, status, code, shard, batch_seq, leaf_index from transfer_legs where transfer_id = ${h.id}`)))).flat()
      : [];
  const legs = await Promise.all(
    legRows
      .filter((l, i, all) => all.findIndex((m) => m.leg === l.leg) === i)
      .sort((a, b) => (a.leg < b.leg ? -1 : a.leg > b.leg ? 1 : 0))
      .map(async (l) => ({ leg: { transferId: h.id, leg: l.leg, walletId: l.wallet_id, amountMinor: l.amount_minor.toString(), status: l.status, code: l.code }, ...(await proofAt(l.shard, l.batch_seq, l.leaf_index)) })),
  );
  return { leaves, legs };
}
