/** The stored leaves of settlement batches (transfer rows, legs and hold changes, in leaf order), shared by receipts and the audit. */
import type { FundingAuthority } from '@cbdc/shared/funding-authority';
import { encodeLeaf, encodeLeg, type ItemKind, type LegContent } from '@cbdc/shared/canonical';
import { encodeHoldLeaf, type CaptureOutcome, type HoldEvent, type HoldLeafContent } from '@cbdc/shared/canonical-hold';
import { leafHash } from '@cbdc/shared/merkle';
import type { Sql } from './connect.js';

export interface StoredTransferLeaf {
  type: 'transfer';
  id: string;
  kind: ItemKind;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  nonce: bigint | null;
  expiresAtMs: bigint | null;
  memo: string;
  signature: Buffer | null;
  /** The submitting bank, and for a funding the bank's signed request (without its signature, which is `signature`). */
  bankId: string;
  fundingRequest: Omit<FundingAuthority, 'signature'> | null;
  legStatus: 'settled' | 'rejected' | 'debited';
  code: string | null;
  batchSeq: bigint;
  leafIndex: number;
  /** The payment request a transfer pays (signed as canonical v2), or null. */
  requestId: string | null;
}

export interface StoredLegLeaf extends LegContent {
  type: 'leg';
  batchSeq: bigint;
  leafIndex: number;
}

/**
 * A change of a hold's state, from its row: the placement (or refusal) at (batch_seq, leaf_index),
 * the close at (closed_batch_seq, closed_leaf_index). Carries what the audit checks besides the leaf:
 * the signed hold, and the authority of a capture or void.
 */
export interface StoredHoldLeaf extends HoldLeafContent {
  type: 'hold';
  bankId: string;
  payeeBankId: string | null;
  nonce: bigint;
  expiresAtMs: bigint;
  holdExpiresAtMs: bigint;
  memo: string;
  signature: Buffer;
  closedBy: string | null;
  closingBankId: string | null;
  closingRequest: Omit<FundingAuthority, 'signature'> | null;
  closingSignature: Buffer | null;
  /** The batch time of the leaf's batch. */
  atMs: bigint;
  batchSeq: bigint;
  leafIndex: number;
}

export type StoredLeaf = StoredTransferLeaf | StoredLegLeaf | StoredHoldLeaf;

/** The hold leaf content a stored hold leaf commits to. */
export function holdLeafContent(leaf: StoredHoldLeaf): HoldLeafContent {
  return { holdId: leaf.holdId, event: leaf.event, payerWalletId: leaf.payerWalletId, payeeWalletId: leaf.payeeWalletId, amountMinor: leaf.amountMinor, capturedMinor: leaf.capturedMinor, capture: leaf.capture, code: leaf.code };
}

/** The leaf content that the batch committed to. */
export function leafContent(leaf: StoredTransferLeaf | StoredLegLeaf) {
  return leaf.type === 'transfer'
    ? { id: leaf.id, kind: leaf.kind, payerWalletId: leaf.payerWalletId, payeeWalletId: leaf.payeeWalletId, amountMinor: leaf.amountMinor, status: leaf.legStatus, code: leaf.legStatus === 'rejected' ? leaf.code : null }
    : { transferId: leaf.transferId, leg: leaf.leg, walletId: leaf.walletId, amountMinor: leaf.amountMinor, status: leaf.status, code: leaf.code };
}

/** The Merkle leaf hash of a stored leaf. */
export function storedLeafHash(leaf: StoredLeaf): Buffer {
  if (leaf.type === 'hold') return leafHash(encodeHoldLeaf(holdLeafContent(leaf)));
  return leaf.type === 'transfer' ? leafHash(encodeLeaf(leafContent(leaf) as Parameters<typeof encodeLeaf>[0])) : leafHash(encodeLeg(leafContent(leaf) as Parameters<typeof encodeLeg>[0]));
}

/** The leaves of a shard's batches after `afterSeq` up to `lastSeq`, grouped by batch, in leaf order. */
export async function loadBatchLeaves(sql: Sql, shard: number, afterSeq: bigint, lastSeq: bigint): Promise<Map<bigint, StoredLeaf[]>> {
  const transfers = await sql<
    {
      id: string;
      kind: ItemKind;
      payer_wallet_id: string;
      payee_wallet_id: string;
      amount_minor: bigint;
      nonce: bigint | null;
      expires_at_ms: bigint | null;
      memo: string;
      signature: Buffer | null;
      bank_id: string;
      funding_request: Omit<FundingAuthority, 'signature'> | null;
      leg_status: StoredTransferLeaf['legStatus'];
      code: string | null;
      batch_seq: bigint;
      leaf_index: number;
      request_id: string | null;
    }[]
  >`
    select id, kind, payer_wallet_id, payee_wallet_id, amount_minor, nonce, expires_at_ms, memo, signature, bank_id, funding_request, leg_status, code, batch_seq, leaf_index, request_id
    from transfers where shard = ${shard} and batch_seq > ${afterSeq.toString()} and batch_seq <= ${lastSeq.toString()}`;
  const legs = await sql<{ transfer_id: string; leg: 'credit' | 'refund'; wallet_id: string; amount_minor: bigint; status: 'applied' | 'rejected'; code: string | null; batch_seq: bigint; leaf_index: number }[]>`
    select transfer_id, leg, wallet_id, amount_minor, status, code, batch_seq, leaf_index
    from transfer_legs where shard = ${shard} and batch_seq > ${afterSeq.toString()} and batch_seq <= ${lastSeq.toString()}`;
  const all: StoredLeaf[] = [
    ...transfers.map(
      (t): StoredLeaf => ({
        type: 'transfer',
        id: t.id,
        kind: t.kind,
        payerWalletId: t.payer_wallet_id,
        payeeWalletId: t.payee_wallet_id,
        amountMinor: t.amount_minor,
        nonce: t.nonce,
        expiresAtMs: t.expires_at_ms,
        memo: t.memo,
        signature: t.signature,
        bankId: t.bank_id,
        fundingRequest: t.funding_request,
        legStatus: t.leg_status,
        code: t.code,
        batchSeq: t.batch_seq,
        leafIndex: t.leaf_index,
        requestId: t.request_id,
      }),
    ),
    ...legs.map((l): StoredLeaf => ({ type: 'leg', transferId: l.transfer_id, leg: l.leg, walletId: l.wallet_id, amountMinor: l.amount_minor, status: l.status, code: l.code, batchSeq: l.batch_seq, leafIndex: l.leaf_index })),
    ...(await loadHoldLeaves(sql, shard, afterSeq, lastSeq)),
  ];
  all.sort((a, b) => (a.batchSeq === b.batchSeq ? a.leafIndex - b.leafIndex : a.batchSeq < b.batchSeq ? -1 : 1));
  const byBatch = new Map<bigint, StoredLeaf[]>();
  for (const leaf of all) {
    const list = byBatch.get(leaf.batchSeq) ?? [];
    list.push(leaf);
    byBatch.set(leaf.batchSeq, list);
  }
  return byBatch;
}

interface HoldLeafRow {
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
  signature: Buffer;
  status: 'open' | 'captured' | 'voided' | 'expired' | 'rejected';
  code: string | null;
  batch_seq: bigint;
  leaf_index: number;
  placed_at_ms: bigint;
  captured_minor: bigint | null;
  capture_leg_status: 'settled' | 'rejected' | 'debited' | null;
  capture_code: string | null;
  closed_by: string | null;
  closing_bank_id: string | null;
  closing_request: Omit<FundingAuthority, 'signature'> | null;
  closing_signature: Buffer | null;
  closed_batch_seq: bigint | null;
  closed_leaf_index: number | null;
  closed_at_ms: bigint | null;
}

/** The hold leaves of a shard's batches after `afterSeq` up to `lastSeq`: placements and closes, from the holds' rows. */
export async function loadHoldLeaves(sql: Sql, shard: number, afterSeq: bigint, lastSeq: bigint): Promise<StoredHoldLeaf[]> {
  const rows = await sql<HoldLeafRow[]>`
    select * from holds where shard = ${shard}
      and ((batch_seq > ${afterSeq.toString()} and batch_seq <= ${lastSeq.toString()})
        or (closed_batch_seq > ${afterSeq.toString()} and closed_batch_seq <= ${lastSeq.toString()}))`;
  const inRange = (seq: bigint | null) => seq !== null && seq > afterSeq && seq <= lastSeq;
  return rows.flatMap((h) => {
    const common = {
      type: 'hold' as const,
      holdId: h.id,
      payerWalletId: h.payer_wallet_id,
      payeeWalletId: h.payee_wallet_id,
      amountMinor: h.amount_minor,
      bankId: h.bank_id,
      payeeBankId: h.payee_bank_id,
      nonce: h.nonce,
      expiresAtMs: h.expires_at_ms,
      holdExpiresAtMs: h.hold_expires_at_ms,
      memo: h.memo,
      signature: h.signature,
      closedBy: h.closed_by,
      closingBankId: h.closing_bank_id,
      closingRequest: h.closing_request,
      closingSignature: h.closing_signature,
    };
    const leaves: StoredHoldLeaf[] = [];
    if (inRange(h.batch_seq)) {
      const event: HoldEvent = h.status === 'rejected' ? 'rejected' : 'placed';
      leaves.push({ ...common, event, capturedMinor: 0n, capture: 'none', code: event === 'rejected' ? h.code : null, atMs: h.placed_at_ms, batchSeq: h.batch_seq, leafIndex: h.leaf_index });
    }
    if (inRange(h.closed_batch_seq) && (h.status === 'captured' || h.status === 'voided' || h.status === 'expired')) {
      const capture: CaptureOutcome = h.capture_leg_status ?? 'none';
      leaves.push({
        ...common,
        event: h.status,
        capturedMinor: h.captured_minor ?? 0n,
        capture,
        code: capture === 'rejected' ? h.capture_code : null,
        atMs: h.closed_at_ms!,
        batchSeq: h.closed_batch_seq!,
        leafIndex: h.closed_leaf_index!,
      });
    }
    return leaves;
  });
}
