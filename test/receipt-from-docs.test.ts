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
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { verify } from 'node:crypto';
import { ed25519Key, headerBytes, leafHash, legLeaf, rootOf, sha256, transferLeaf, verifyReceiptFromDocs, type HeaderJson, type LegLeafJson, type ReceiptJson, type TransferLeafJson } from './support/receipt-from-docs.js';
import { startTestSystem, type TestSystem } from './support/system.js';

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
