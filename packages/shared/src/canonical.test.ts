import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { encodeTransfer, transferIdOf } from './canonical.js';
import { ed25519PrivateKey, ed25519Sign, ed25519Verify } from './crypto.js';
import { ed25519VerifyPortable } from './ed25519.js';

interface Vector {
  name: string;
  privateKeySeed: string;
  publicKey: string;
  transfer: { payerWalletId: string; payeeWalletId: string; amountMinor: string; nonce: string; expiresAtMs: string; memo: string };
  canonicalHex: string;
  transferId: string;
  signature: string;
}

const vectors: Vector[] = JSON.parse(readFileSync(new URL('../../../docs/vectors/transfers.json', import.meta.url), 'utf8'));

describe('canonical transfer encoding against the published vectors', () => {
  it('has vectors to check', () => expect(vectors.length).toBeGreaterThanOrEqual(3));

  for (const v of vectors) {
    describe(v.name, () => {
      const intent = { ...v.transfer, amountMinor: BigInt(v.transfer.amountMinor), nonce: BigInt(v.transfer.nonce), expiresAtMs: BigInt(v.transfer.expiresAtMs) };
      const bytes = encodeTransfer(intent);
      const seed = Buffer.from(v.privateKeySeed, 'hex');
      const sig = Buffer.from(v.signature, 'hex');
      const pub = Buffer.from(v.publicKey, 'hex');

      it('encodes to the published bytes and id', () => {
        expect(bytes.toString('hex')).toBe(v.canonicalHex);
        expect(transferIdOf(bytes)).toBe(v.transferId);
      });

      it('signs to the published signature with both @noble/curves and node:crypto', () => {
        expect(Buffer.from(ed25519.sign(bytes, seed)).toString('hex')).toBe(v.signature);
        expect(ed25519Sign(ed25519PrivateKey(seed), bytes).toString('hex')).toBe(v.signature);
      });

      it('verifies with the server (libsodium) and the portable (noble) rule, and neither accepts a changed byte', () => {
        expect(ed25519Verify(pub, bytes, sig)).toBe(true);
        expect(ed25519VerifyPortable(pub, bytes, sig)).toBe(true);
        const tampered = Buffer.from(bytes);
        tampered[tampered.length - 1] ^= 1;
        expect(ed25519Verify(pub, tampered, sig)).toBe(false);
        expect(ed25519VerifyPortable(pub, tampered, sig)).toBe(false);
        const badSig = Buffer.from(sig);
        badSig[10] ^= 1;
        expect(ed25519Verify(pub, bytes, badSig)).toBe(false);
        expect(ed25519VerifyPortable(pub, bytes, badSig)).toBe(false);
        expect(ed25519Verify(pub.subarray(1), bytes, sig)).toBe(false);
      });
    });
  }

  it('changes the id when any field changes', () => {
    const base = { payerWalletId: 'w_a', payeeWalletId: 'w_b', amountMinor: 1n, nonce: 1n, expiresAtMs: 1n, memo: '' };
    const ids = new Set(
      [base, { ...base, payerWalletId: 'w_c' }, { ...base, payeeWalletId: 'w_c' }, { ...base, amountMinor: 2n }, { ...base, nonce: 2n }, { ...base, expiresAtMs: 2n }, { ...base, memo: 'm' }].map((t) => transferIdOf(encodeTransfer(t))),
    );
    expect(ids.size).toBe(7);
  });

  it('refuses values outside the field ranges', () => {
    const base = { payerWalletId: 'w_a', payeeWalletId: 'w_b', amountMinor: 1n, nonce: 1n, expiresAtMs: 1n, memo: '' };
    expect(() => encodeTransfer({ ...base, amountMinor: -1n })).toThrow(RangeError);
    expect(() => encodeTransfer({ ...base, nonce: 2n ** 64n })).toThrow(RangeError);
    expect(() => encodeTransfer({ ...base, payerWalletId: 'w'.repeat(256) })).toThrow(RangeError);
  });
});
