/** Identifiers: wallet ids, shard placement, and ids derived from content. */
import { randomBytes } from 'node:crypto';
import { ByteWriter } from './bytes.js';
import { sha256 } from './crypto.js';

export const BANK_ID_PATTERN = /^[a-z][a-z0-9-]{1,31}$/;
export const WALLET_ID_PATTERN = /^(w_[0-9a-f]{24}|t_[a-z][a-z0-9-]{1,31})$/;
export const TRANSFER_ID_PATTERN = /^[0-9a-f]{64}$/;
/** A payment request id: "pr_" and 32 hex digits (128 random bits). */
export const REQUEST_ID_PATTERN = /^pr_[0-9a-f]{32}$/;

/** A new random customer wallet id: "w_" and 24 hex digits. */
export function newWalletId(): string {
  return `w_${randomBytes(12).toString('hex')}`;
}

/** The treasury wallet of a bank. */
export function treasuryWalletId(bankId: string): string {
  return `t_${bankId}`;
}

/** Whether a wallet id names a bank's treasury. */
export function isTreasuryWalletId(walletId: string): boolean {
  return walletId.startsWith('t_');
}

/** The shard that owns a wallet: the first four bytes of SHA-256(id), modulo the shard count. */
export function shardOf(walletId: string, shardCount: number): number {
  return sha256(walletId).readUInt32BE(0) % shardCount;
}

/** The id of a funding (treasury to customer wallet), derived from the bank and its Idempotency-Key. */
export function fundingIdOf(bankId: string, idempotencyKey: string): string {
  return sha256(new ByteWriter().tag('CBDC/funding/v1').shortString(bankId).shortString(idempotencyKey).bytes()).toString('hex');
}

/**
 * The id of a customer wallet opened with an Idempotency-Key: "w_" and 24 hex digits of a hash of
 * the bank and its key. A retry of the opening names the same wallet, and so the same shard and the
 * same shard-group database, where it finds the key that the first attempt claimed.
 */
export function walletIdOf(bankId: string, idempotencyKey: string): string {
  return `w_${sha256(new ByteWriter().tag('CBDC/wallet/v1').shortString(bankId).shortString(idempotencyKey).bytes()).subarray(0, 12).toString('hex')}`;
}

/**
 * A new random payment request id that lands on `shard`: "pr_" and 32 hex digits, drawn again
 * until shardOf(id) is the shard of the request's payee wallet. A request lives in its payee's
 * shard (where settlement checks it), so its id alone tells where to read it, as a wallet id does.
 * About `shardCount` draws on average, each a SHA-256 of 35 bytes.
 */
export function newPaymentRequestId(shard: number, shardCount: number): string {
  for (;;) {
    const id = `pr_${randomBytes(16).toString('hex')}`;
    if (shardOf(id, shardCount) === shard) return id;
  }
}
