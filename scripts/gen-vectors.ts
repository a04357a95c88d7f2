/**
 * Writes docs/vectors/transfers.json: canonical-encoding test vectors for bank integrators.
 * Keys are fixed seeds so that the file is reproducible; run with `npx tsx scripts/gen-vectors.ts`.
 */
import { writeFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { encodeTransfer, transferIdOf, type TransferIntent } from '@cbdc/shared/canonical';

const cases: Array<{ name: string; seedHex: string; transfer: TransferIntent }> = [
  { name: 'minimal', seedHex: '01'.repeat(32), transfer: { payerWalletId: 'w_000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 1n, nonce: 0n, expiresAtMs: 1700000000000n, memo: '' } },
  { name: 'with memo', seedHex: '02'.repeat(32), transfer: { payerWalletId: 'w_0123456789abcdef01234567', payeeWalletId: 't_bank-b', amountMinor: 123456n, nonce: 42n, expiresAtMs: 1767225600000n, memo: 'lunch 午饭' } },
  {
    name: 'maximum amount and nonce',
    seedHex: '03'.repeat(32),
    transfer: { payerWalletId: 'w_ffffffffffffffffffffffff', payeeWalletId: 'w_eeeeeeeeeeeeeeeeeeeeeeee', amountMinor: 2n ** 63n - 1n, nonce: 2n ** 63n - 1n, expiresAtMs: 4102444800000n, memo: 'x'.repeat(140) },
  },
];

const vectors = cases.map(({ name, seedHex, transfer }) => {
  const bytes = encodeTransfer(transfer);
  const seed = Buffer.from(seedHex, 'hex');
  return {
    name,
    privateKeySeed: seedHex,
    publicKey: Buffer.from(ed25519.getPublicKey(seed)).toString('hex'),
    transfer: { ...transfer, amountMinor: transfer.amountMinor.toString(), nonce: transfer.nonce.toString(), expiresAtMs: transfer.expiresAtMs.toString() },
    canonicalHex: bytes.toString('hex'),
    transferId: transferIdOf(bytes),
    signature: Buffer.from(ed25519.sign(bytes, seed)).toString('hex'),
  };
});
writeFileSync(new URL('../docs/vectors/transfers.json', import.meta.url), JSON.stringify(vectors, null, 2) + '\n');
console.log(`wrote ${vectors.length} vectors`);
