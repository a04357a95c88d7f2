/**
 * The two hash chains. Each entry's hash is SHA-256 of its canonical bytes, which include the
 * previous entry's hash (32 zero bytes for the first), and each hash is signed with Ed25519:
 * the issuance chain by the issuer key, each settlement chain by its shard's key.
 *
 * Issuance entry:
 *   "CBDC/issuance/v1" | seq u64 | previous hash (32) | kind u8 (1 mint, 2 retire)
 *   | bank id (u8 len + ASCII) | amount u64 | supply after u64 | time, Unix ms, u64
 *
 * Settlement batch header (docs/canonical-encoding.md, part 2; the shard signs its hash):
 *   "CBDC/batch/v1" | shard u32 | seq u64 | previous hash (32) | Merkle root (32)
 *   | leaf count u32 | time, Unix ms, u64
 *
 * Example: the first mint of 1,000,000 fen to bank "bank-a" at t=1700000000000 is entry seq 1
 * with previous hash 00..00 and supply after 1000000.
 */
import { ByteWriter } from './bytes.js';
import { sha256 } from './crypto.js';

export const GENESIS_HASH = Buffer.alloc(32);
export const ISSUANCE_DOMAIN_TAG = 'CBDC/issuance/v1';
export const BATCH_DOMAIN_TAG = 'CBDC/batch/v1';

export type IssuanceKind = 'mint' | 'retire';

export interface IssuanceEntry {
  seq: bigint;
  prevHash: Buffer;
  kind: IssuanceKind;
  bankId: string;
  amountMinor: bigint;
  supplyAfterMinor: bigint;
  timeMs: bigint;
}

/** Canonical bytes of an issuance entry. */
export function encodeIssuanceEntry(e: IssuanceEntry): Buffer {
  return new ByteWriter()
    .tag(ISSUANCE_DOMAIN_TAG)
    .u64(e.seq)
    .digest(e.prevHash)
    .u8(e.kind === 'mint' ? 1 : 2)
    .shortString(e.bankId)
    .u64(e.amountMinor)
    .u64(e.supplyAfterMinor)
    .u64(e.timeMs)
    .bytes();
}

/** Hash of an issuance entry. */
export function issuanceEntryHash(e: IssuanceEntry): Buffer {
  return sha256(encodeIssuanceEntry(e));
}

export interface BatchHeader {
  shard: number;
  seq: bigint;
  prevHash: Buffer;
  merkleRoot: Buffer;
  count: number;
  timeMs: bigint;
}

/** Canonical bytes of a settlement batch header. */
export function encodeBatchHeader(h: BatchHeader): Buffer {
  return new ByteWriter().tag(BATCH_DOMAIN_TAG).u32(h.shard).u64(h.seq).digest(h.prevHash).digest(h.merkleRoot).u32(h.count).u64(h.timeMs).bytes();
}

/** Hash of a settlement batch header. */
export function batchHeaderHash(h: BatchHeader): Buffer {
  return sha256(encodeBatchHeader(h));
}
