/**
 * The canonical encodings of holds (conditional payments): the bytes a customer signs to place a
 * hold, and the Merkle leaf that commits each change of a hold's state to its batch. Specified in
 * docs/canonical-encoding.md with test vectors (docs/vectors/holds.json), in the conventions of
 * the transfer encoding (canonical.ts): unsigned big-endian integers, length-prefixed strings.
 *
 * What a customer signs:
 *
 *   "CBDC/hold/v1"                 12 bytes, ASCII domain tag
 *   payer wallet id                u8 length, then ASCII
 *   payee wallet id                u8 length, then ASCII
 *   maximum amount in fen          u64, 1 ..= 2^63-1
 *   nonce                          u64, 0 ..= 2^63-1; the payer's nonce space, shared with its transfers
 *   signature expiry, Unix ms      u64: the hold must be placed before this
 *   hold expiry, Unix ms           u64: the money returns to the payer at this time unless captured or voided
 *   memo                           u16 length, then UTF-8 (the transfer memo's rules)
 *
 * The hold id is the lowercase hex SHA-256 of these bytes: the same signed hold always has the same
 * id, so submitting it twice can never hold twice.
 *
 * Example: payer "w_payer", payee "w_payee", amount 100, nonce 1, expiries 1700000000000 and
 * 1700003600000, memo "" encodes to 12 + 8 + 8 + 8 + 8 + 8 + 8 + 2 = 62 bytes.
 */
import { ByteWriter } from './bytes.js';
import { sha256 } from './crypto.js';

export const HOLD_DOMAIN_TAG = 'CBDC/hold/v1';
export const HOLD_LEAF_DOMAIN_TAG = 'CBDC/hold-leaf/v1';
const HOLD_ACTION_DOMAIN_TAG = 'CBDC/hold-action/v1';

/** What a customer signs to place a hold. */
export interface HoldIntent {
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  nonce: bigint;
  expiresAtMs: bigint;
  holdExpiresAtMs: bigint;
  memo: string;
}

/** The canonical bytes of a hold (the message the customer signs). */
export function encodeHold(h: HoldIntent): Buffer {
  return new ByteWriter().tag(HOLD_DOMAIN_TAG).shortString(h.payerWalletId).shortString(h.payeeWalletId).u64(h.amountMinor).u64(h.nonce).u64(h.expiresAtMs).u64(h.holdExpiresAtMs).longString(h.memo).bytes();
}

/** The hold id: hex SHA-256 of the canonical bytes. */
export function holdIdOf(canonicalBytes: Uint8Array): string {
  return sha256(canonicalBytes).toString('hex');
}

/**
 * The id of a bank's capture or void request, derived from the bank and its Idempotency-Key (as a
 * funding's id is): a request driven again names the same action, which applies at most once.
 */
export function holdActionIdOf(bankId: string, idempotencyKey: string): string {
  return sha256(new ByteWriter().tag(HOLD_ACTION_DOMAIN_TAG).shortString(bankId).shortString(idempotencyKey).bytes()).toString('hex');
}

/** The changes of a hold's state, each committed as one leaf of the batch that makes it. */
export const HOLD_EVENT_CODE = { placed: 1, rejected: 2, captured: 3, voided: 4, expired: 5 } as const;
export type HoldEvent = keyof typeof HOLD_EVENT_CODE;

/**
 * Where the captured money went in the batch of the capture: credited to a payee on this shard
 * (settled), refused by that payee and returned to the payer (rejected), or sent to the payee's
 * shard (debited, in flight; its credit and any refund are leg leaves, see encodeLeg).
 */
export const CAPTURE_OUTCOME_CODE = { none: 0, settled: 1, rejected: 2, debited: 3 } as const;
export type CaptureOutcome = keyof typeof CAPTURE_OUTCOME_CODE;

/** What a hold leaf commits to. */
export interface HoldLeafContent {
  holdId: string;
  event: HoldEvent;
  payerWalletId: string;
  payeeWalletId: string;
  /** The hold's signed maximum. */
  amountMinor: bigint;
  /** The amount captured (0 unless the event is `captured`); the rest went back to the payer. */
  capturedMinor: bigint;
  capture: CaptureOutcome;
  /** The code of a refused hold, or of a payee refusing the captured money on this shard; else null. */
  code: string | null;
}

/**
 * The canonical bytes of a hold leaf:
 *   "CBDC/hold-leaf/v1" | hold id (32 bytes) | event u8 (1 placed, 2 rejected, 3 captured, 4 voided,
 *   5 expired) | payer (u8 len + ASCII) | payee (u8 len + ASCII) | amount u64 | captured u64
 *   | capture outcome u8 (0 none, 1 settled, 2 rejected, 3 debited) | code (u8 len + ASCII, or empty)
 */
export function encodeHoldLeaf(leaf: HoldLeafContent): Buffer {
  return new ByteWriter()
    .tag(HOLD_LEAF_DOMAIN_TAG)
    .digest(Buffer.from(leaf.holdId, 'hex'))
    .u8(HOLD_EVENT_CODE[leaf.event])
    .shortString(leaf.payerWalletId)
    .shortString(leaf.payeeWalletId)
    .u64(leaf.amountMinor)
    .u64(leaf.capturedMinor)
    .u8(CAPTURE_OUTCOME_CODE[leaf.capture])
    .shortString(leaf.code ?? '')
    .bytes();
}
