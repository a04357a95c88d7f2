/**
 * A receipt verifier written from docs/canonical-encoding.md ("Part 2: receipts") alone, as a bank
 * would write it in another language: node:crypto's SHA-256 and Ed25519 and plain byte handling,
 * none of the project's encoders, Merkle code or verifier. It checks the published vectors and a
 * receipt read from a running system (two shards, a payment between them), with the shard keys
 * from GET /v1/shards, and refuses a receipt with a changed amount, code or signature.
 *
 * The system is driven through @cbdc/client (requests and customer signatures: part 1, not what is
 * under test); everything that checks a receipt is in this file.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';

// ---- The verifier, from the document ----

const sha256 = (...parts: Uint8Array[]) => {
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
const digest = (hex: string) => {
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

interface TransferLeafJson {
  id: string;
  kind: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  status: string;
  code: string | null;
}
interface LegLeafJson {
  transferId: string;
  leg: string;
  walletId: string;
  amountMinor: string;
  status: string;
  code: string | null;
}
interface HeaderJson {
  shard: number;
  seq: string;
  prevHash: string;
  merkleRoot: string;
  count: number;
  timeMs: string;
}
interface ProofJson {
  leafIndex: number;
  path: string[];
  batch: HeaderJson & { hash: string; signature: string };
}
interface ReceiptJson extends ProofJson {
  transfer: TransferLeafJson;
  legs: Array<ProofJson & { leg: LegLeafJson }>;
}

/** "Transfer leaf: CBDC/leaf/v1". */
const transferLeaf = (t: TransferLeafJson) =>
  Buffer.concat([ascii('CBDC/leaf/v1'), digest(t.id), code(KIND, t.kind), shortString(t.payerWalletId), shortString(t.payeeWalletId), u64(t.amountMinor), code(STATUS, t.status), shortString(t.code)]);

/** "Leg leaf: CBDC/leg/v1". */
const legLeaf = (l: LegLeafJson) => Buffer.concat([ascii('CBDC/leg/v1'), digest(l.transferId), code(LEG, l.leg), shortString(l.walletId), u64(l.amountMinor), code(LEG_STATUS, l.status), shortString(l.code)]);

/** "Batch header: CBDC/batch/v1". */
const headerBytes = (h: HeaderJson) => Buffer.concat([ascii('CBDC/batch/v1'), u32(h.shard), u64(h.seq), digest(h.prevHash), digest(h.merkleRoot), u32(h.count), u64(h.timeMs)]);

const leafHash = (leaf: Uint8Array) => sha256(u8(0), leaf);
const nodeHash = (left: Uint8Array, right: Uint8Array) => sha256(u8(1), left, right);

/** The root of a whole tree, level by level; an unpaired last node goes up unchanged. */
function rootOf(leafHashes: Buffer[]): Buffer {
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
function rootFromPath(h: Buffer, index: number, count: number, path: Buffer[]): Buffer | null {
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
const ed25519Key = (raw: Buffer) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });

/** Checks one leaf's proof; the reason it fails, or null. */
function checkProof(leaf: Buffer, p: ProofJson, keys: Map<number, Buffer>): string | null {
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
function verifyReceiptFromDocs(r: ReceiptJson, keys: Map<number, Buffer>): string | null {
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

// ---- The published vectors ----

interface LeafVector {
  name: string;
  encoding: string;
  transfer?: TransferLeafJson;
  leg?: LegLeafJson;
  bytesHex: string;
  leafHash?: string;
}
const vectors = JSON.parse(readFileSync(new URL('../docs/vectors/receipts.json', import.meta.url), 'utf8')) as {
  shardKeys: Array<{ shard: number; publicKey: string }>;
  leaves: LeafVector[];
  emptyTreeRoot: string;
  batches: Array<{ name: string; leaves: LeafVector[]; leafHashes: string[]; header: HeaderJson; headerBytesHex: string; hash: string; signature: string }>;
  receipts: Array<{ name: string; receipt: ReceiptJson }>;
};
const vectorKeys = new Map(vectors.shardKeys.map((k) => [k.shard, Buffer.from(k.publicKey, 'hex')]));
const encodeVector = (v: LeafVector) => {
  if (v.encoding === 'CBDC/leaf/v1' && v.transfer) return transferLeaf(v.transfer);
  if (v.encoding === 'CBDC/leg/v1' && v.leg) return legLeaf(v.leg);
  throw new Error(`this verifier does not know the leaf encoding ${v.encoding} of "${v.name}"`);
};
const hex = (b: Buffer) => b.toString('hex');

describe('a verifier from the document alone, on the published vectors', () => {
  it.each(vectors.leaves.map((v) => [v.name, v] as const))('%s', (_, v) => {
    const bytes = encodeVector(v);
    expect(hex(bytes)).toBe(v.bytesHex);
    expect(hex(leafHash(bytes))).toBe(v.leafHash);
  });

  it('the empty tree', () => expect(hex(rootOf([]))).toBe(vectors.emptyTreeRoot));

  it.each(vectors.batches.map((b) => [b.name, b] as const))('batch %s: root, header, hash, signature; every leaf’s path', (_, b) => {
    const hashes = b.leaves.map((v) => leafHash(encodeVector(v)));
    expect(hashes.map(hex)).toEqual(b.leafHashes);
    expect(hex(rootOf(hashes))).toBe(b.header.merkleRoot);
    expect(hex(headerBytes(b.header))).toBe(b.headerBytesHex);
    expect(hex(sha256(headerBytes(b.header)))).toBe(b.hash);
    expect(verify(null, Buffer.from(b.hash, 'hex'), ed25519Key(vectorKeys.get(b.header.shard)!), Buffer.from(b.signature, 'hex'))).toBe(true);
  });

  it('the chain link: shard 0’s first batch names 32 zero bytes, its second the first’s hash', () => {
    const [first, second] = vectors.batches;
    expect([first.header.seq, first.header.prevHash]).toEqual(['1', '00'.repeat(32)]);
    expect([second.header.seq, second.header.prevHash]).toEqual(['2', hex(sha256(headerBytes(first.header)))]);
  });

  it.each(vectors.receipts.map((r) => [r.name, r.receipt] as const))('receipt %s verifies, and not once tampered', (_, r) => {
    expect(verifyReceiptFromDocs(r, vectorKeys)).toBeNull();
    expect(verifyReceiptFromDocs({ ...r, transfer: { ...r.transfer, amountMinor: String(BigInt(r.transfer.amountMinor) + 1n) } }, vectorKeys)).toMatch(/path|another transfer/);
    expect(verifyReceiptFromDocs({ ...r, transfer: { ...r.transfer, status: 'rejected', code: 'insufficient_funds' } }, vectorKeys)).toMatch(/path/);
    expect(verifyReceiptFromDocs({ ...r, leafIndex: r.leafIndex === 0 ? 1 : r.leafIndex - 1 }, vectorKeys)).toMatch(/path/);
    const swapped = new Map([...vectorKeys].map(([shard, key]) => [shard, vectorKeys.get(1 - shard) ?? key]));
    expect(verifyReceiptFromDocs(r, swapped)).toMatch(/signature/);
  });
});

// ---- A live receipt ----

describe('a verifier from the document alone, on receipts from a running system', () => {
  let sys: TestSystem;
  let bank: BankClient;
  const customer = newCustomerKey();
  const byShard: string[][] = [[], []];
  let keys: Map<number, Buffer>;

  beforeAll(async () => {
    sys = await startTestSystem({ shards: 2 });
    bank = await sys.addBank('bank-a');
    await sys.operators.alice.reserve('bank-a', 'deposit', 10_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 10_000_000n);
    while (byShard[0].length < 2 || byShard[1].length < 1) {
      const w = await bank.openWallet({ publicKey: customer.publicKey, customerRef: `c${byShard[0].length + byShard[1].length}`, tier: 'IV' });
      byShard[w.shard].push(w.id);
    }
    await bank.fund(byShard[0][0], 100_000n, 'fund-payer');
    keys = new Map((await bank.shards()).map((s) => [s.shard, Buffer.from(s.publicKey, 'hex')]));
  });
  afterAll(async () => sys?.close());

  const pay = async (payee: string, amountMinor: bigint) => {
    const res = await bank.transfer(signTransfer({ payerWalletId: byShard[0][0], payeeWalletId: payee, amountMinor }, customer.privateKey).wire);
    expect(res.body.status).toBe('settled');
    return (await bank.receipt(res.body.id)) as unknown as ReceiptJson;
  };

  it('verifies a settled payment between shards (debit leaf at shard 0, credit leg at shard 1) with the keys of GET /v1/shards', async () => {
    const receipt = await pay(byShard[1][0], 1_234n);
    expect([receipt.transfer.status, receipt.legs.map((l) => [l.leg.leg, l.leg.status, l.batch.shard])]).toEqual(['debited', [['credit', 'applied', 1]]]);
    expect(verifyReceiptFromDocs(receipt, keys)).toBeNull();
    expect(verifyReceiptFromDocs({ ...receipt, transfer: { ...receipt.transfer, amountMinor: '1235' } }, keys)).not.toBeNull();
    expect(verifyReceiptFromDocs({ ...receipt, legs: [{ ...receipt.legs[0], leg: { ...receipt.legs[0].leg, amountMinor: '1235' } }] }, keys)).not.toBeNull();
    expect(verifyReceiptFromDocs({ ...receipt, transfer: { ...receipt.transfer, amountMinor: '1235' }, legs: [{ ...receipt.legs[0], leg: { ...receipt.legs[0].leg, amountMinor: '1235' } }] }, keys)).toMatch(/path/);
  });

  it('verifies settled payments within a shard, whose consecutive batches link, up to the head of GET /v1/shards', async () => {
    const first = await pay(byShard[0][1], 10n);
    const second = await pay(byShard[0][1], 20n);
    for (const r of [first, second]) {
      expect(r.transfer.status).toBe('settled');
      expect(verifyReceiptFromDocs(r, keys)).toBeNull();
    }
    expect(BigInt(second.batch.seq)).toBe(BigInt(first.batch.seq) + 1n);
    expect(second.batch.prevHash).toBe(hex(sha256(headerBytes(first.batch))));
    const head = (await bank.shards()).find((s) => s.shard === 0)!;
    expect(BigInt(second.batch.seq)).toBeLessThanOrEqual(BigInt(head.headSeq));
    expect(verifyReceiptFromDocs({ ...first, transfer: { ...first.transfer, amountMinor: '11' } }, keys)).toMatch(/path/);
    expect(verifyReceiptFromDocs({ ...first, batch: { ...first.batch, timeMs: String(BigInt(first.batch.timeMs) + 1n) } }, keys)).toMatch(/hash/);
    expect(verifyReceiptFromDocs(first, new Map([[0, keys.get(1)!]]))).toMatch(/signature/);
  });
});
