/**
 * Writes docs/vectors/receipts.json: test vectors for the receipt encodings (docs/canonical-encoding.md,
 * "Receipts"): one leaf of every kind and status, batch headers with their chain link, Merkle trees,
 * and whole receipts in the API's JSON form, signed with fixed shard keys. Everything is computed
 * with the project's own encoders; `receipt-vectors.test.ts` checks the file against them again, and
 * test/receipt-from-docs.test.ts verifies it with an implementation written from the document alone.
 *
 * Run with `npx tsx scripts/gen-receipt-vectors.ts`. New leaf kinds add a case to LEAVES (and their
 * encoding to the dispatch in `leafVectorBytes` of receipt-vectors.test.ts).
 */
import { writeFileSync } from 'node:fs';
import { encodeLeaf, encodeLeg, type LeafContent, type LegContent } from '@cbdc/shared/canonical';
import { encodeBatchHeader, GENESIS_HASH, type BatchHeader } from '@cbdc/shared/chains';
import { ed25519PublicKeyOfSeed, sha256, signerFromSeed } from '@cbdc/shared/crypto';
import { leafHash, merklePath, merkleRoot } from '@cbdc/shared/merkle';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** A fixed 32-byte id: SHA-256 of a label (stands for a transfer id, the SHA-256 of its signed bytes). */
const idOf = (label: string) => hex(sha256(Buffer.from(label, 'utf8')));

type TransferLeafFields = Omit<LeafContent, 'amountMinor'> & { amountMinor: string };
type LegLeafFields = Omit<LegContent, 'amountMinor'> & { amountMinor: string };
type LeafCase = { name: string; encoding: 'CBDC/leaf/v1'; transfer: TransferLeafFields } | { name: string; encoding: 'CBDC/leg/v1'; leg: LegLeafFields };

const PAY = idOf('vector transfer: alice pays bob');
const CROSS = idOf('vector transfer: alice pays carol on shard 1');
const REFUNDED = idOf('vector transfer: alice pays dave on shard 1, refused there');
const FUNDING = idOf('vector funding: bank-a funds alice');
const ALICE = 'w_0123456789abcdef01234567';
const BOB = 'w_89abcdef0123456789abcdef';
const CAROL = 'w_fedcba9876543210fedcba98';
const DAVE = 'w_00112233445566778899aabb';

const transfer = (name: string, t: TransferLeafFields): LeafCase => ({ name, encoding: 'CBDC/leaf/v1', transfer: t });
const leg = (name: string, l: LegLeafFields): LeafCase => ({ name, encoding: 'CBDC/leg/v1', leg: l });

/** One leaf of every kind and status the system writes (the table in the document). */
const LEAVES: LeafCase[] = [
  transfer('transfer leaf: payment settled', { id: PAY, kind: 'transfer', payerWalletId: ALICE, payeeWalletId: BOB, amountMinor: '150000', status: 'settled', code: null }),
  transfer('transfer leaf: payment rejected (insufficient_funds)', {
    id: idOf('vector transfer: too much'),
    kind: 'transfer',
    payerWalletId: ALICE,
    payeeWalletId: BOB,
    amountMinor: '9000000',
    status: 'rejected',
    code: 'insufficient_funds',
  }),
  transfer('transfer leaf: payment debited towards another shard', { id: CROSS, kind: 'transfer', payerWalletId: ALICE, payeeWalletId: CAROL, amountMinor: '2500', status: 'debited', code: null }),
  transfer('transfer leaf: funding settled', { id: FUNDING, kind: 'funding', payerWalletId: 't_bank-a', payeeWalletId: ALICE, amountMinor: '1000000', status: 'settled', code: null }),
  transfer('transfer leaf: funding rejected (exceeds_balance_limit)', {
    id: idOf('vector funding: over the cap'),
    kind: 'funding',
    payerWalletId: 't_bank-a',
    payeeWalletId: ALICE,
    amountMinor: '99999999',
    status: 'rejected',
    code: 'exceeds_balance_limit',
  }),
  transfer('transfer leaf: funding debited towards another shard', { id: idOf('vector funding: to shard 1'), kind: 'funding', payerWalletId: 't_bank-a', payeeWalletId: CAROL, amountMinor: '500', status: 'debited', code: null }),
  leg('leg leaf: credit applied', { transferId: CROSS, leg: 'credit', walletId: CAROL, amountMinor: '2500', status: 'applied', code: null }),
  leg('leg leaf: credit rejected (payee_frozen)', { transferId: REFUNDED, leg: 'credit', walletId: DAVE, amountMinor: '700', status: 'rejected', code: 'payee_frozen' }),
  leg('leg leaf: refund applied (payee_frozen)', { transferId: REFUNDED, leg: 'refund', walletId: ALICE, amountMinor: '700', status: 'applied', code: 'payee_frozen' }),
];

function leafBytes(c: LeafCase): Buffer {
  return c.encoding === 'CBDC/leaf/v1' ? encodeLeaf({ ...c.transfer, amountMinor: BigInt(c.transfer.amountMinor) }) : encodeLeg({ ...c.leg, amountMinor: BigInt(c.leg.amountMinor) });
}

const leafVectors = LEAVES.map((c) => {
  const bytes = leafBytes(c);
  return { ...c, bytesHex: hex(bytes), leafHash: hex(leafHash(bytes)) };
});
const byName = (name: string) => {
  const found = LEAVES.find((c) => c.name === name);
  if (!found) throw new Error(`no leaf case ${name}`);
  return found;
};

/** The header in the API's JSON form. */
const headerJson = (h: BatchHeader) => ({ shard: h.shard, seq: h.seq.toString(), prevHash: hex(h.prevHash), merkleRoot: hex(h.merkleRoot), count: h.count, timeMs: h.timeMs.toString() });

/** A committed batch: its leaves (in order), tree, header, hash and signature by the shard's seed. */
function batch(shard: number, seq: bigint, prevHash: Buffer, leaves: LeafCase[], timeMs: bigint, seed: Buffer) {
  const hashes = leaves.map((c) => leafHash(leafBytes(c)));
  const header: BatchHeader = { shard, seq, prevHash, merkleRoot: merkleRoot(hashes), count: leaves.length, timeMs };
  const bytes = encodeBatchHeader(header);
  const hash = sha256(bytes);
  const signature = signerFromSeed(seed).sign(hash);
  return { leaves, hashes, header, bytes, hash, signature };
}
type Batch = ReturnType<typeof batch>;

const SEED_0 = Buffer.alloc(32, 0x10);
const SEED_1 = Buffer.alloc(32, 0x11);

// Shard 0: a first batch (seq 1, previous hash all zero), then batch 2 linked to it, with seven
// leaves: the tree's levels hold 7, 4, 2 and 1 nodes, so the last node of the first level is odd.
const shard0First = batch(0, 1n, GENESIS_HASH, [byName('transfer leaf: funding settled')], 1767225600000n, SEED_0);
const shard0 = batch(
  0,
  2n,
  shard0First.hash,
  [
    byName('transfer leaf: payment rejected (insufficient_funds)'),
    byName('transfer leaf: funding rejected (exceeds_balance_limit)'),
    byName('leg leaf: refund applied (payee_frozen)'),
    byName('transfer leaf: funding debited towards another shard'),
    byName('transfer leaf: payment debited towards another shard'),
    transfer('another payment settled', { id: idOf('vector transfer: bob pays alice'), kind: 'transfer', payerWalletId: BOB, payeeWalletId: ALICE, amountMinor: '1', status: 'settled', code: null }),
    byName('transfer leaf: payment settled'),
  ],
  1767225600250n,
  SEED_0,
);
// Shard 1: three leaves, the credit of the cross-shard payment last (promoted unpaired at level 0).
const shard1 = batch(
  1,
  7n,
  sha256(Buffer.from('vector: shard 1 batch 6')),
  [
    byName('leg leaf: credit rejected (payee_frozen)'),
    transfer('a payment within shard 1 settled', { id: idOf('vector transfer: carol pays dave'), kind: 'transfer', payerWalletId: CAROL, payeeWalletId: DAVE, amountMinor: '3', status: 'settled', code: null }),
    byName('leg leaf: credit applied'),
  ],
  1767225600400n,
  SEED_1,
);

/** The proof of leaf `index` of a batch, as the API gives it. */
function proof(b: Batch, index: number, seed: Buffer) {
  return {
    leafIndex: index,
    path: merklePath(b.hashes, index).map(hex),
    batch: { ...headerJson(b.header), hash: hex(b.hash), signature: hex(b.signature) },
    shardPublicKey: hex(ed25519PublicKeyOfSeed(seed)),
  };
}

const transferOf = (c: LeafCase) => {
  if (c.encoding !== 'CBDC/leaf/v1') throw new Error('not a transfer leaf');
  return c.transfer;
};
const legOf = (c: LeafCase) => {
  if (c.encoding !== 'CBDC/leg/v1') throw new Error('not a leg leaf');
  return c.leg;
};

const batchVector = (name: string, b: Batch) => ({
  name,
  leaves: b.leaves.map((c) => ({ ...c, bytesHex: hex(leafBytes(c)) })),
  leafHashes: b.hashes.map(hex),
  header: headerJson(b.header),
  headerBytesHex: hex(b.bytes),
  hash: hex(b.hash),
  signature: hex(b.signature),
});

const vectors = {
  description:
    'Receipt test vectors: see docs/canonical-encoding.md, "Receipts". Amounts are decimal strings, hashes and bytes lowercase hex. Generated by scripts/gen-receipt-vectors.ts; checked by packages/shared/src/receipt-vectors.test.ts and test/receipt-from-docs.test.ts.',
  shardKeys: [
    { shard: 0, seed: hex(SEED_0), publicKey: hex(ed25519PublicKeyOfSeed(SEED_0)) },
    { shard: 1, seed: hex(SEED_1), publicKey: hex(ed25519PublicKeyOfSeed(SEED_1)) },
  ],
  leaves: leafVectors,
  emptyTreeRoot: hex(merkleRoot([])),
  batches: [batchVector('shard 0, batch 1 (the first: previous hash all zero)', shard0First), batchVector('shard 0, batch 2 (seven leaves)', shard0), batchVector('shard 1, batch 7 (three leaves)', shard1)],
  receipts: [
    {
      name: 'payment between shards: debited at shard 0 (leaf 4 of 7: a path of three levels through the odd node), credited at shard 1 (leaf 2 of 3, unpaired at level 0)',
      receipt: { transfer: transferOf(byName('transfer leaf: payment debited towards another shard')), ...proof(shard0, 4, SEED_0), legs: [{ leg: legOf(byName('leg leaf: credit applied')), ...proof(shard1, 2, SEED_1) }] },
    },
    {
      name: 'payment within shard 0: settled (leaf 6 of 7, unpaired at level 0: a path of two hashes)',
      receipt: { transfer: transferOf(byName('transfer leaf: payment settled')), ...proof(shard0, 6, SEED_0), legs: [] },
    },
    {
      name: "funding, the only leaf of the shard's first batch (an empty path)",
      receipt: { transfer: transferOf(byName('transfer leaf: funding settled')), ...proof(shard0First, 0, SEED_0), legs: [] },
    },
  ],
};

writeFileSync(new URL('../docs/vectors/receipts.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${leafVectors.length} leaf vectors, ${vectors.batches.length} batches, ${vectors.receipts.length} receipts`);
