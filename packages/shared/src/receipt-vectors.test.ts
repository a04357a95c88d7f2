/**
 * The published receipt vectors (docs/vectors/receipts.json) against the code that settlement and
 * the gateway run: every leaf's bytes and hash, every batch's tree, header bytes, hash and shard
 * signature, and every receipt's proofs. A change to an encoding fails here until the document
 * and its vectors change with it (scripts/gen-receipt-vectors.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeLeaf, encodeLeg, type LeafContent, type LegContent } from './canonical.js';
import { encodeBatchHeader, GENESIS_HASH } from './chains.js';
import { ed25519PublicKeyOfSeed, ed25519Verify, sha256, signerFromSeed } from './crypto.js';
import { ed25519VerifyPortable } from './ed25519.js';
import { leafHash, merklePath, merkleRoot, verifyMerklePath } from './merkle.js';

type Wire<T> = Omit<T, 'amountMinor'> & { amountMinor: string };
type LeafVector = { name: string; encoding: string; transfer?: Wire<LeafContent>; leg?: Wire<LegContent>; bytesHex: string; leafHash?: string };
interface Header {
  shard: number;
  seq: string;
  prevHash: string;
  merkleRoot: string;
  count: number;
  timeMs: string;
}
interface Proof {
  leafIndex: number;
  path: string[];
  batch: Header & { hash: string; signature: string };
  shardPublicKey: string;
}
interface Vectors {
  shardKeys: Array<{ shard: number; seed: string; publicKey: string }>;
  leaves: LeafVector[];
  emptyTreeRoot: string;
  batches: Array<{ name: string; leaves: LeafVector[]; leafHashes: string[]; header: Header; headerBytesHex: string; hash: string; signature: string }>;
  receipts: Array<{ name: string; receipt: Proof & { transfer: Wire<LeafContent>; legs: Array<Proof & { leg: Wire<LegContent> }> } }>;
}

const vectors: Vectors = JSON.parse(readFileSync(new URL('../../../docs/vectors/receipts.json', import.meta.url), 'utf8'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Buffer.from(h, 'hex');

/**
 * The bytes of a leaf vector by its encoding (domain tag). A new leaf kind adds its encoder here;
 * a vector of an encoding this table does not know fails the test.
 */
function leafVectorBytes(v: LeafVector): Buffer {
  if (v.encoding === 'CBDC/leaf/v1' && v.transfer) return encodeLeaf({ ...v.transfer, amountMinor: BigInt(v.transfer.amountMinor) });
  if (v.encoding === 'CBDC/leg/v1' && v.leg) return encodeLeg({ ...v.leg, amountMinor: BigInt(v.leg.amountMinor) });
  throw new Error(`no encoder for leaf vector "${v.name}" (encoding ${v.encoding})`);
}

const headerOf = (h: Header) => ({ shard: h.shard, seq: BigInt(h.seq), prevHash: bytes(h.prevHash), merkleRoot: bytes(h.merkleRoot), count: h.count, timeMs: BigInt(h.timeMs) });

describe('receipt vectors against the code', () => {
  it('cover every leaf kind and status the system writes', () => {
    const covered = new Set(vectors.leaves.map((v) => (v.transfer ? `leaf ${v.transfer.kind} ${v.transfer.status}` : `leg ${v.leg!.leg} ${v.leg!.status}`)));
    for (const kind of ['transfer', 'funding']) for (const status of ['settled', 'rejected', 'debited']) expect(covered).toContain(`leaf ${kind} ${status}`);
    for (const c of ['leg credit applied', 'leg credit rejected', 'leg refund applied']) expect(covered).toContain(c);
  });

  it.each(vectors.leaves.map((v) => [v.name, v] as const))('leaf %s: bytes and hash', (_, v) => {
    const encoded = leafVectorBytes(v);
    expect(hex(encoded)).toBe(v.bytesHex);
    expect(hex(leafHash(encoded))).toBe(v.leafHash);
  });

  it('the empty tree root is SHA-256 of no bytes', () => expect(hex(merkleRoot([]))).toBe(vectors.emptyTreeRoot));

  it('the shard keys are the seeds’ public keys', () => {
    for (const k of vectors.shardKeys) expect(hex(ed25519PublicKeyOfSeed(bytes(k.seed)))).toBe(k.publicKey);
  });

  it.each(vectors.batches.map((b) => [b.name, b] as const))('batch %s: leaves, root, header bytes, hash, signature', (_, b) => {
    const hashes = b.leaves.map((v) => leafHash(leafVectorBytes(v)));
    expect(hashes.map(hex)).toEqual(b.leafHashes);
    expect(b.header.count).toBe(b.leaves.length);
    expect(hex(merkleRoot(hashes))).toBe(b.header.merkleRoot);
    const headerBytes = encodeBatchHeader(headerOf(b.header));
    expect(hex(headerBytes)).toBe(b.headerBytesHex);
    expect(hex(sha256(headerBytes))).toBe(b.hash);
    const key = vectors.shardKeys.find((k) => k.shard === b.header.shard)!;
    // Ed25519 is deterministic: the same seed signs the same hash to the same bytes.
    expect(hex(signerFromSeed(bytes(key.seed)).sign(bytes(b.hash)))).toBe(b.signature);
    expect(ed25519Verify(bytes(key.publicKey), bytes(b.hash), bytes(b.signature))).toBe(true);
  });

  it('batches of a shard link: each names the previous hash, the first names 32 zero bytes', () => {
    const [first, second] = vectors.batches;
    expect(first.header).toMatchObject({ shard: 0, seq: '1', prevHash: hex(GENESIS_HASH) });
    expect(second.header).toMatchObject({ shard: 0, seq: '2', prevHash: first.hash });
  });

  it.each(vectors.receipts.map((r) => [r.name, r] as const))('receipt %s: every proof is the code’s and verifies', (_, { receipt }) => {
    const check = (leaf: Buffer, p: Proof) => {
      const b = vectors.batches.find((x) => x.header.shard === p.batch.shard && x.header.seq === p.batch.seq)!;
      expect(p.batch).toEqual({ ...b.header, hash: b.hash, signature: b.signature });
      expect(p.path).toEqual(merklePath(b.leafHashes.map(bytes), p.leafIndex).map(hex));
      expect(verifyMerklePath(leafHash(leaf), p.leafIndex, p.batch.count, p.path.map(bytes), bytes(p.batch.merkleRoot))).toBe(true);
      expect(ed25519VerifyPortable(bytes(p.shardPublicKey), bytes(p.batch.hash), bytes(p.batch.signature))).toBe(true);
    };
    check(encodeLeaf({ ...receipt.transfer, amountMinor: BigInt(receipt.transfer.amountMinor) }), receipt);
    for (const l of receipt.legs) check(encodeLeg({ ...l.leg, amountMinor: BigInt(l.leg.amountMinor) }), l);
  });

  it('the receipts include a path of three levels through an odd node, and one through a promoted last leaf', () => {
    const [cross, last] = vectors.receipts.map((r) => r.receipt);
    expect([cross.leafIndex, cross.batch.count, cross.path.length]).toEqual([4, 7, 3]);
    expect([last.leafIndex, last.batch.count, last.path.length]).toEqual([6, 7, 2]);
  });
});
