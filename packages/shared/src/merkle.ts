/**
 * Merkle trees over a batch's leaves, as in RFC 9162 (Certificate Transparency v2):
 * leaf hash = SHA-256(0x00 || leaf bytes), node hash = SHA-256(0x01 || left || right).
 * The tree of n leaves splits at the largest power of two below n; built bottom-up, that is
 * the same as promoting an unpaired last node unchanged to the next level, which is what
 * the code does. Proofs are verified with the RFC 9162 section 2.1.3.2 algorithm.
 */
import { createHash } from 'node:crypto';
import { sha256 } from './crypto.js';

const LEAF_PREFIX = Buffer.of(0x00);
const NODE_PREFIX = Buffer.of(0x01);

/** Hash of one leaf's bytes. */
export function leafHash(leafBytes: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(leafBytes).digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The root over leaf hashes; the empty tree's root is SHA-256 of nothing. */
export function merkleRoot(leafHashes: Buffer[]): Buffer {
  if (leafHashes.length === 0) return sha256(Buffer.alloc(0));
  let level = leafHashes;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? nodeHash(level[i], level[i + 1]) : level[i]);
    }
    level = next;
  }
  return level[0];
}

/** The inclusion path (sibling hashes from the leaf upward) of leaf `index`. */
export function merklePath(leafHashes: Buffer[], index: number): Buffer[] {
  if (index < 0 || index >= leafHashes.length) throw new RangeError('leaf index out of range');
  const path: Buffer[] = [];
  let level = leafHashes;
  let i = index;
  while (level.length > 1) {
    const sibling = i ^ 1;
    if (sibling < level.length) path.push(level[sibling]);
    const next: Buffer[] = [];
    for (let j = 0; j < level.length; j += 2) {
      next.push(j + 1 < level.length ? nodeHash(level[j], level[j + 1]) : level[j]);
    }
    level = next;
    i >>= 1;
  }
  return path;
}

/** Verifies that `leaf` is at `index` of a tree of `size` leaves with the given root (RFC 9162 2.1.3.2). */
export function verifyMerklePath(leaf: Buffer, index: number, size: number, path: Buffer[], root: Buffer): boolean {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}
