import { describe, expect, it } from 'vitest';
import { encodeLeaf } from '@cbdc/shared/canonical';
import { batchHeaderHash } from '@cbdc/shared/chains';
import { ed25519EdgeCases } from '@cbdc/shared/ed25519-vectors';
import { leafHash, merkleRoot } from '@cbdc/shared/merkle';
import { verifyReceipt, type Receipt } from './receipt.js';
import { verifyTransferSignature } from './transfer.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A receipt for the only leaf of a batch, its header signed with `signature`. */
function receiptWith(signature: (headerHash: Buffer) => Uint8Array): Receipt {
  const transfer = { id: 'ab'.repeat(32), kind: 'transfer' as const, payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: '100', status: 'settled' as const, code: null };
  const root = merkleRoot([leafHash(encodeLeaf({ ...transfer, amountMinor: 100n }))]);
  const header = { shard: 0, seq: 1n, prevHash: Buffer.alloc(32), merkleRoot: root, count: 1, timeMs: 1_700_000_000_000n };
  const hash = batchHeaderHash(header);
  return {
    transfer,
    leafIndex: 0,
    path: [],
    batch: { shard: 0, seq: '1', prevHash: hex(header.prevHash), merkleRoot: hex(root), count: 1, timeMs: header.timeMs.toString(), hash: hex(hash), signature: hex(signature(hash)) },
    shardPublicKey: '',
    legs: [],
  };
}

describe('verifyReceipt follows the one Ed25519 rule on the edge-case table', () => {
  // The vectors are made over this receipt's header hash, so that each is a batch signature.
  const headerHash = Buffer.from(receiptWith(() => new Uint8Array(64)).batch.hash, 'hex');
  const vectors = ed25519EdgeCases(headerHash).filter((v) => Buffer.from(v.message).equals(headerHash));

  it('has the table over the header hash (all but the wrong-message vector)', () => expect(vectors.length).toBeGreaterThan(20));

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    const problem = verifyReceipt(
      receiptWith(() => v.signature),
      hex(v.publicKey),
    );
    if (v.verifies) expect(problem).toBeNull();
    else expect(problem).toMatch(/signature of shard 0 batch 1 does not verify/);
  });

  it('refuses a receipt "signed" by the identity key with the universal forgery (noble\'s default verify accepted it)', () => {
    const identity = '01' + '00'.repeat(31);
    const forged = receiptWith(() => Buffer.from(identity + '00'.repeat(32), 'hex'));
    expect(verifyReceipt(forged, identity)).toMatch(/does not verify/);
  });
});

describe('verifyTransferSignature', () => {
  it("gives the rule's verdict for a signed transfer", async () => {
    const { newCustomerKey, signTransfer } = await import('./transfer.js');
    const key = newCustomerKey();
    const { wire } = signTransfer({ payerWalletId: 'w_a', payeeWalletId: 'w_b', amountMinor: 5n }, key.privateKey);
    expect(verifyTransferSignature(wire, key.publicKey)).toBe(true);
    expect(verifyTransferSignature({ ...wire, amountMinor: '6' }, key.publicKey)).toBe(false);
    expect(verifyTransferSignature({ ...wire, signature: '01' + '00'.repeat(63) }, '01' + '00'.repeat(31))).toBe(false);
  });
});

describe('verifyReceipt on the published receipt vectors (docs/vectors/receipts.json)', async () => {
  const { readFileSync } = await import('node:fs');
  const file = JSON.parse(readFileSync(new URL('../../../docs/vectors/receipts.json', import.meta.url), 'utf8')) as { shardKeys: Array<{ shard: number; publicKey: string }>; receipts: Array<{ name: string; receipt: Receipt }> };
  const keys = Object.fromEntries(file.shardKeys.map((k) => [k.shard, k.publicKey]));

  it.each(file.receipts.map((r) => [r.name, r.receipt] as const))('%s', (_, receipt) => {
    expect(verifyReceipt(receipt, keys)).toBeNull();
    expect(verifyReceipt({ ...receipt, transfer: { ...receipt.transfer, amountMinor: `${receipt.transfer.amountMinor}0` } }, keys)).toMatch(/Merkle path|leg does not belong/);
  });
});
