import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from './crypto.js';
import { leafHash, merklePath, merkleRoot, verifyMerklePath } from './merkle.js';

/** RFC 9162 MTH, written straight from the definition, to cross-check the bottom-up builder. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.concat([Buffer.of(1), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k))]));
}

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf-${i}`)));

describe('merkle', () => {
  it('matches the RFC 9162 definition for every size up to 70', () => {
    for (let n = 0; n <= 70; n++) expect(merkleRoot(leavesOf(n)).equals(referenceRoot(leavesOf(n)))).toBe(true);
  });

  it('proves every leaf of every size up to 40, and rejects a wrong index, a wrong leaf or a cut path', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = leavesOf(n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const path = merklePath(leaves, i);
        expect(verifyMerklePath(leaves[i], i, n, path, root)).toBe(true);
        expect(verifyMerklePath(leafHash(Buffer.from('other')), i, n, path, root)).toBe(false);
        if (n > 1) expect(verifyMerklePath(leaves[i], (i + 1) % n, n, path, root)).toBe(false);
        if (path.length > 0) expect(verifyMerklePath(leaves[i], i, n, path.slice(0, -1), root)).toBe(false);
      }
    }
  });

  it('distinguishes a leaf from an inner node (second-preimage resistance by prefix)', () => {
    const leaves = leavesOf(2);
    const inner = sha256(Buffer.concat([Buffer.of(1), leaves[0], leaves[1]]));
    expect(merkleRoot(leaves).equals(inner)).toBe(true);
    expect(leafHash(Buffer.concat([leaves[0], leaves[1]])).equals(inner)).toBe(false);
  });

  it('property: a random leaf of a random tree verifies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (n, pick) => {
        const leaves = leavesOf(n);
        const i = pick % n;
        return verifyMerklePath(leaves[i], i, n, merklePath(leaves, i), merkleRoot(leaves));
      }),
      { numRuns: 100 },
    );
  });
});
