/**
 * The canonical encoding of a transfer: the exact bytes a customer signs. It is specified in
 * docs/canonical-encoding.md with test vectors, so a bank can implement it in any language.
 *
 *   "CBDC/transfer/v1"             16 bytes, ASCII domain tag
 *   payer wallet id                u8 length, then ASCII
 *   payee wallet id                u8 length, then ASCII
 *   amount in fen                  u64 big-endian, 1 ..= 2^63-1
 *   nonce                          u64 big-endian, 0 ..= 2^63-1, unique per payer wallet
 *   expiry, Unix milliseconds      u64 big-endian
 *   memo                           u16 length, then UTF-8 (at most 140 bytes; printable NFC text, see memoProblem in text.ts)
 *
 * The transfer id is the lowercase hex SHA-256 of these bytes, so the same signed transfer
 * always has the same id and resubmitting it can never pay twice.
 *
 * Example: payer "w_payer", payee "w_payee", amount 100, nonce 1, expiry 1700000000000, memo ""
 * encodes to 16 + 8 + 8 + 8 + 8 + 8 + 2 = 58 bytes (see the vectors in the docs).
 *
 * Version 2 ("CBDC/transfer/v2") pays a payment request: the same fields under its own tag, then
 *   payment request id             u8 length, then ASCII ("pr_" + 32 hex digits)
 * so that the request a customer pays is in what the customer signed (a changed request id is a
 * changed signature and a changed transfer id). A transfer without a request is encoded as v1,
 * exactly as before: both versions are accepted everywhere, and `encodeTransfer` picks the one the
 * intent calls for, so that every signer and verifier applies the same rule.
 * Example: the v1 example above paying "pr_" + 32 zeros encodes to 58 + 1 + 35 = 94 bytes.
 */
import { ByteWriter } from './bytes.js';
import { sha256 } from './crypto.js';

export const TRANSFER_DOMAIN_TAG = 'CBDC/transfer/v1';
/** The tag of a transfer that pays a payment request (v1's fields, then the request id). */
export const TRANSFER_V2_DOMAIN_TAG = 'CBDC/transfer/v2';
export const LEAF_DOMAIN_TAG = 'CBDC/leaf/v1';
export const LEG_DOMAIN_TAG = 'CBDC/leg/v1';

/** What a customer signs. */
export interface TransferIntent {
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  nonce: bigint;
  expiresAtMs: bigint;
  memo: string;
  /** The payment request this transfer pays (encoded as v2), or absent / null (v1). */
  requestId?: string | null;
}

/** The canonical bytes of a transfer intent (the message the customer signs): v2 if it names a payment request, else v1. */
export function encodeTransfer(t: TransferIntent): Buffer {
  const v2 = t.requestId !== undefined && t.requestId !== null;
  const w = new ByteWriter()
    .tag(v2 ? TRANSFER_V2_DOMAIN_TAG : TRANSFER_DOMAIN_TAG)
    .shortString(t.payerWalletId)
    .shortString(t.payeeWalletId)
    .u64(t.amountMinor)
    .u64(t.nonce)
    .u64(t.expiresAtMs)
    .longString(t.memo);
  return (v2 ? w.shortString(t.requestId!) : w).bytes();
}

/** The transfer id: hex SHA-256 of the canonical bytes. */
export function transferIdOf(canonicalBytes: Uint8Array): string {
  return sha256(canonicalBytes).toString('hex');
}

/** Kinds of settlement item, as stored and as encoded in a Merkle leaf. */
export const ITEM_KIND_CODE = { transfer: 1, funding: 2 } as const;
export type ItemKind = keyof typeof ITEM_KIND_CODE;

/** What a Merkle leaf of a settlement batch commits to: a transfer and its outcome. */
export interface LeafContent {
  id: string; // 64 hex chars
  kind: ItemKind;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  /** The outcome at the payer's shard: settled, rejected, or debited towards the payee's shard. */
  status: 'settled' | 'rejected' | 'debited';
  code: string | null;
}

const LEAF_STATUS_CODE = { settled: 1, rejected: 2, debited: 3 } as const;

/**
 * The canonical bytes of a settlement leaf (docs/canonical-encoding.md, part 2, with vectors in
 * docs/vectors/receipts.json):
 *   "CBDC/leaf/v1" | id (32 bytes) | kind u8 | payer (u8 len + ASCII) | payee (u8 len + ASCII)
 *   | amount u64 | status u8 (1 settled, 2 rejected, 3 debited) | code (u8 len + ASCII, empty unless rejected)
 */
export function encodeLeaf(leaf: LeafContent): Buffer {
  return new ByteWriter()
    .tag(LEAF_DOMAIN_TAG)
    .digest(Buffer.from(leaf.id, 'hex'))
    .u8(ITEM_KIND_CODE[leaf.kind])
    .shortString(leaf.payerWalletId)
    .shortString(leaf.payeeWalletId)
    .u64(leaf.amountMinor)
    .u8(LEAF_STATUS_CODE[leaf.status])
    .shortString(leaf.code ?? '')
    .bytes();
}

/** A leg of a cross-shard transfer: the credit at the payee's shard, or the refund at the payer's. */
export interface LegContent {
  transferId: string;
  leg: 'credit' | 'refund';
  walletId: string;
  amountMinor: bigint;
  status: 'applied' | 'rejected';
  code: string | null;
}

/**
 * The canonical bytes of a leg leaf (docs/canonical-encoding.md, part 2):
 *   "CBDC/leg/v1" | transfer id (32 bytes) | leg u8 (1 credit, 2 refund) | wallet (u8 len + ASCII)
 *   | amount u64 | status u8 (1 applied, 2 rejected) | code (u8 len + ASCII; a refund carries the credit's rejection code)
 */
export function encodeLeg(leg: LegContent): Buffer {
  return new ByteWriter()
    .tag(LEG_DOMAIN_TAG)
    .digest(Buffer.from(leg.transferId, 'hex'))
    .u8(leg.leg === 'credit' ? 1 : 2)
    .shortString(leg.walletId)
    .u64(leg.amountMinor)
    .u8(leg.status === 'applied' ? 1 : 2)
    .shortString(leg.code ?? '')
    .bytes();
}
