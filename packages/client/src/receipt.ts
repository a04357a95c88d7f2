/**
 * Offline receipt verification: with only the shards' public keys, a bank proves that a transfer
 * was committed with the recorded outcome, and for a transfer between shards that its credit (or
 * refund) was committed too, without trusting the database it read it from.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeLeaf, encodeLeg, type ItemKind } from '@cbdc/shared/canonical';
import { encodeHoldLeaf, type CaptureOutcome, type HoldEvent } from '@cbdc/shared/canonical-hold';
import { encodeBatchHeader } from '@cbdc/shared/chains';
import { ed25519VerifyPortable } from '@cbdc/shared/ed25519';
import { leafHash, verifyMerklePath } from '@cbdc/shared/merkle';

export interface LeafProof {
  leafIndex: number;
  path: string[];
  batch: { shard: number; seq: string; prevHash: string; merkleRoot: string; count: number; timeMs: string; hash: string; signature: string };
  shardPublicKey: string;
}

export interface Receipt extends LeafProof {
  transfer: { id: string; kind: ItemKind; payerWalletId: string; payeeWalletId: string; amountMinor: string; status: 'settled' | 'rejected' | 'debited'; code: string | null };
  legs: Array<LeafProof & { leg: { transferId: string; leg: 'credit' | 'refund'; walletId: string; amountMinor: string; status: 'applied' | 'rejected'; code: string | null } }>;
}

function verifyProof(leaf: Buffer, proof: LeafProof, trustedKeyHex: string | undefined): string | null {
  const b = proof.batch;
  if (!trustedKeyHex) return `no trusted key for shard ${b.shard}`;
  const header = encodeBatchHeader({ shard: b.shard, seq: BigInt(b.seq), prevHash: Buffer.from(b.prevHash, 'hex'), merkleRoot: Buffer.from(b.merkleRoot, 'hex'), count: b.count, timeMs: BigInt(b.timeMs) });
  const hash = Buffer.from(sha256(header));
  if (hash.toString('hex') !== b.hash) return `the batch header of shard ${b.shard} batch ${b.seq} does not hash to the stated hash`;
  // The system's one Ed25519 rule (noble's default verify would accept the identity-key forgery).
  if (!ed25519VerifyPortable(Buffer.from(trustedKeyHex, 'hex'), hash, Buffer.from(b.signature, 'hex'))) return `the signature of shard ${b.shard} batch ${b.seq} does not verify with the shard key`;
  if (
    !verifyMerklePath(
      leaf,
      proof.leafIndex,
      b.count,
      proof.path.map((p) => Buffer.from(p, 'hex')),
      Buffer.from(b.merkleRoot, 'hex'),
    )
  )
    return `the Merkle path does not lead to the root of shard ${b.shard} batch ${b.seq}`;
  return null;
}

/**
 * Verifies a receipt against pinned shard public keys (a map of shard number to hex key, or one
 * key for a single-shard system); returns null if valid, or the reason it is not.
 */
export function verifyReceipt(receipt: Receipt, trustedShardKeys: Record<number, string> | string): string | null {
  const keyOf = (shard: number) => (typeof trustedShardKeys === 'string' ? trustedShardKeys : trustedShardKeys[shard]);
  const t = receipt.transfer;
  const main = verifyProof(leafHash(encodeLeaf({ ...t, amountMinor: BigInt(t.amountMinor) })), receipt, keyOf(receipt.batch.shard));
  if (main) return main;
  for (const l of receipt.legs ?? []) {
    if (l.leg.transferId !== t.id || l.leg.amountMinor !== t.amountMinor) return 'a leg does not belong to this transfer';
    const problem = verifyProof(leafHash(encodeLeg({ ...l.leg, amountMinor: BigInt(l.leg.amountMinor) })), l, keyOf(l.batch.shard));
    if (problem) return problem;
  }
  return null;
}

/** A hold's receipt: its leaves (placement, and close once closed) and a capture's legs between shards. */
export interface HoldReceipt {
  leaves: Array<LeafProof & { leaf: { holdId: string; event: HoldEvent; payerWalletId: string; payeeWalletId: string; amountMinor: string; capturedMinor: string; capture: CaptureOutcome; code: string | null } }>;
  legs: Receipt['legs'];
}

/**
 * Verifies a hold's receipt against pinned shard public keys: every leaf and leg is in a batch the
 * shard signed, and they all belong to the one hold. Returns null if valid, or the reason it is not.
 */
export function verifyHoldReceipt(receipt: HoldReceipt, trustedShardKeys: Record<number, string> | string): string | null {
  const keyOf = (shard: number) => (typeof trustedShardKeys === 'string' ? trustedShardKeys : trustedShardKeys[shard]);
  const first = receipt.leaves[0]?.leaf;
  if (!first) return 'the receipt holds no leaf';
  for (const l of receipt.leaves) {
    if (l.leaf.holdId !== first.holdId || l.leaf.amountMinor !== first.amountMinor || l.leaf.payerWalletId !== first.payerWalletId || l.leaf.payeeWalletId !== first.payeeWalletId) return 'a leaf does not belong to this hold';
    const problem = verifyProof(leafHash(encodeHoldLeaf({ ...l.leaf, amountMinor: BigInt(l.leaf.amountMinor), capturedMinor: BigInt(l.leaf.capturedMinor) })), l, keyOf(l.batch.shard));
    if (problem) return problem;
  }
  for (const l of receipt.legs) {
    if (l.leg.transferId !== first.holdId) return 'a leg does not belong to this hold';
    const problem = verifyProof(leafHash(encodeLeg({ ...l.leg, amountMinor: BigInt(l.leg.amountMinor) })), l, keyOf(l.batch.shard));
    if (problem) return problem;
  }
  return null;
}
