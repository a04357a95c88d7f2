/**
 * Offline receipt verification: with only the shard's public key, a bank proves that a transfer
 * was committed with the recorded outcome, without trusting the database it read it from.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeLeaf, type ItemKind } from '@cbdc/shared/canonical';
import { encodeBatchHeader } from '@cbdc/shared/chains';
import { leafHash, verifyMerklePath } from '@cbdc/shared/merkle';

export interface Receipt {
  transfer: { id: string; kind: ItemKind; payerWalletId: string; payeeWalletId: string; amountMinor: string; status: 'settled' | 'rejected'; code: string | null };
  leafIndex: number;
  path: string[];
  batch: { shard: number; seq: string; prevHash: string; merkleRoot: string; count: number; timeMs: string; hash: string; signature: string };
  shardPublicKey: string;
}

/** Verifies a receipt against a pinned shard public key; returns null if valid, or the reason it is not. */
export function verifyReceipt(receipt: Receipt, trustedShardPublicKeyHex: string): string | null {
  const b = receipt.batch;
  const header = encodeBatchHeader({ shard: b.shard, seq: BigInt(b.seq), prevHash: Buffer.from(b.prevHash, 'hex'), merkleRoot: Buffer.from(b.merkleRoot, 'hex'), count: b.count, timeMs: BigInt(b.timeMs) });
  const hash = Buffer.from(sha256(header));
  if (hash.toString('hex') !== b.hash) return 'the batch header does not hash to the stated hash';
  if (!ed25519.verify(Buffer.from(b.signature, 'hex'), hash, Buffer.from(trustedShardPublicKeyHex, 'hex'))) return 'the batch signature does not verify with the shard key';
  const t = receipt.transfer;
  const leaf = leafHash(encodeLeaf({ ...t, amountMinor: BigInt(t.amountMinor) }));
  if (!verifyMerklePath(leaf, receipt.leafIndex, b.count, receipt.path.map((p) => Buffer.from(p, 'hex')), Buffer.from(b.merkleRoot, 'hex'))) return 'the Merkle path does not lead from the transfer to the batch root';
  return null;
}
