/**
 * A receipt verifier written from docs/canonical-encoding.md ("Part 2: receipts") alone, as a bank
 * would write it in another language: node:crypto's SHA-256 and Ed25519 and plain byte handling,
 * none of the project's encoders, Merkle code or verifier. Used by test/receipt-from-docs.test.ts
 * (the vectors and live receipts) and by the end-to-end test of a bank's integration.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';

export const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const u8 = (n: number) => Buffer.of(n);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (decimal: string) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(decimal));
  return b;
};
const shortString = (s: string | null) => {
  const bytes = Buffer.from(s ?? '', 'utf8');
  if (bytes.length > 255) throw new RangeError('short string over 255 bytes');
  return Buffer.concat([u8(bytes.length), bytes]);
};
export const digest = (hex: string) => {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a 32-byte hex digest: ${hex}`);
  return Buffer.from(hex, 'hex');
};
const ascii = (s: string) => Buffer.from(s, 'ascii');

/** The codes of the document's table "Leaf kinds and codes". */
const KIND: Record<string, number> = { transfer: 1, funding: 2 };
const STATUS: Record<string, number> = { settled: 1, rejected: 2, debited: 3 };
const LEG: Record<string, number> = { credit: 1, refund: 2 };
const LEG_STATUS: Record<string, number> = { applied: 1, rejected: 2 };
const code = (table: Record<string, number>, value: string) => {
  const c = table[value];
  if (c === undefined) throw new Error(`unknown value ${value}`);
  return u8(c);
};

export interface TransferLeafJson {
  id: string;
  kind: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  status: string;
  code: string | null;
}
export interface LegLeafJson {
  transferId: string;
  leg: string;
  walletId: string;
  amountMinor: string;
  status: string;
  code: string | null;
}
export interface HeaderJson {
  shard: number;
  seq: string;
  prevHash: string;
  merkleRoot: string;
  count: number;
  timeMs: string;
}
export interface ProofJson {
  leafIndex: number;
  path: string[];
  batch: HeaderJson & { hash: string; signature: string };
}
export interface ReceiptJson extends ProofJson {
  transfer: TransferLeafJson;
  legs: Array<ProofJson & { leg: LegLeafJson }>;
}

/** "Transfer leaf: CBDC/leaf/v1". */
export const transferLeaf = (t: TransferLeafJson) =>
  Buffer.concat([ascii('CBDC/leaf/v1'), digest(t.id), code(KIND, t.kind), shortString(t.payerWalletId), shortString(t.payeeWalletId), u64(t.amountMinor), code(STATUS, t.status), shortString(t.code)]);

/** "Leg leaf: CBDC/leg/v1". */
export const legLeaf = (l: LegLeafJson) => Buffer.concat([ascii('CBDC/leg/v1'), digest(l.transferId), code(LEG, l.leg), shortString(l.walletId), u64(l.amountMinor), code(LEG_STATUS, l.status), shortString(l.code)]);

/** "Batch header: CBDC/batch/v1". */
export const headerBytes = (h: HeaderJson) => Buffer.concat([ascii('CBDC/batch/v1'), u32(h.shard), u64(h.seq), digest(h.prevHash), digest(h.merkleRoot), u32(h.count), u64(h.timeMs)]);

export const leafHash = (leaf: Uint8Array) => sha256(u8(0), leaf);
export const nodeHash = (left: Uint8Array, right: Uint8Array) => sha256(u8(1), left, right);

/** The root of a whole tree, level by level; an unpaired last node goes up unchanged. */
export function rootOf(leafHashes: Buffer[]): Buffer {
  if (leafHashes.length === 0) return sha256();
  let level = leafHashes;
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? nodeHash(level[i], level[i + 1]) : level[i]);
    level = up;
  }
  return level[0];
}

/** The document's path algorithm: the root that `path` leads to from leaf hash `h` at `index` of `count`, or null. */
export function rootFromPath(h: Buffer, index: number, count: number, path: Buffer[]): Buffer | null {
  if (!Number.isInteger(index) || index < 0 || index >= count) return null;
  let [i, n, k] = [index, count, 0];
  while (n > 1) {
    if (i % 2 === 1) {
      if (k >= path.length) return null;
      h = nodeHash(path[k++], h);
    } else if (i + 1 < n) {
      if (k >= path.length) return null;
      h = nodeHash(h, path[k++]);
    }
    i = Math.floor(i / 2);
    n = Math.floor((n + 1) / 2);
  }
  return k === path.length ? h : null;
}

/** A raw 32-byte Ed25519 public key as a node:crypto KeyObject (SPKI DER prefix, as the document says). */
export const ed25519Key = (raw: Buffer) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });

/** Checks one leaf's proof; the reason it fails, or null. */
export function checkProof(leaf: Buffer, p: ProofJson, keys: Map<number, Buffer>): string | null {
  const root = rootFromPath(leafHash(leaf), p.leafIndex, p.batch.count, p.path.map(digest));
  if (!root || !root.equals(digest(p.batch.merkleRoot))) return `path of shard ${p.batch.shard} batch ${p.batch.seq} does not lead to its root`;
  const hash = sha256(headerBytes(p.batch));
  if (!hash.equals(digest(p.batch.hash))) return `header of shard ${p.batch.shard} batch ${p.batch.seq} does not hash to its hash`;
  const key = keys.get(p.batch.shard);
  if (!key) return `no pinned key for shard ${p.batch.shard}`;
  if (!verify(null, hash, ed25519Key(key), Buffer.from(p.batch.signature, 'hex'))) return `signature of shard ${p.batch.shard} batch ${p.batch.seq} does not verify`;
  return null;
}

/** "Verifying a receipt, step by step": null if it holds. */
export function verifyReceiptFromDocs(r: ReceiptJson, keys: Map<number, Buffer>): string | null {
  const main = checkProof(transferLeaf(r.transfer), r, keys);
  if (main) return main;
  for (const l of r.legs) {
    if (l.leg.transferId !== r.transfer.id || l.leg.amountMinor !== r.transfer.amountMinor) return 'a leg of another transfer';
    if (l.leg.walletId !== (l.leg.leg === 'credit' ? r.transfer.payeeWalletId : r.transfer.payerWalletId)) return 'a leg of another wallet';
    const problem = checkProof(legLeaf(l.leg), l, keys);
    if (problem) return problem;
  }
  return null;
}
