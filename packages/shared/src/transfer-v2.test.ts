import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { encodeTransfer, transferIdOf, TRANSFER_DOMAIN_TAG, TRANSFER_V2_DOMAIN_TAG } from './canonical.js';
import { ed25519Verify } from './crypto.js';
import { ed25519VerifyPortable } from './ed25519.js';

interface Vector {
  name: string;
  privateKeySeed: string;
  publicKey: string;
  transfer: { payerWalletId: string; payeeWalletId: string; amountMinor: string; nonce: string; expiresAtMs: string; memo: string; requestId: string };
  canonicalHex: string;
  transferId: string;
  signature: string;
  v1TransferId: string;
}

const vectors: Vector[] = JSON.parse(readFileSync(new URL('../../../docs/vectors/transfers-v2.json', import.meta.url), 'utf8'));
const intentOf = (t: Vector['transfer']) => ({ ...t, amountMinor: BigInt(t.amountMinor), nonce: BigInt(t.nonce), expiresAtMs: BigInt(t.expiresAtMs) });

describe('canonical transfer v2 (paying a payment request) against the published vectors', () => {
  it('has vectors to check', () => expect(vectors.length).toBeGreaterThanOrEqual(3));

  for (const v of vectors) {
    it(`${v.name}: encodes to the published bytes, id and signature, which both verifiers accept`, () => {
      const bytes = encodeTransfer(intentOf(v.transfer));
      expect(bytes.toString('hex')).toBe(v.canonicalHex);
      expect(bytes.subarray(0, 16).toString('latin1')).toBe(TRANSFER_V2_DOMAIN_TAG);
      expect(transferIdOf(bytes)).toBe(v.transferId);
      const seed = Buffer.from(v.privateKeySeed, 'hex');
      expect(Buffer.from(ed25519.sign(bytes, seed)).toString('hex')).toBe(v.signature);
      const pub = Buffer.from(v.publicKey, 'hex');
      const sig = Buffer.from(v.signature, 'hex');
      expect(ed25519Verify(pub, bytes, sig)).toBe(true);
      expect(ed25519VerifyPortable(pub, bytes, sig)).toBe(true);
    });

    it(`${v.name}: is v1's fields under the v2 tag, then the request id; without the request it is the v1 transfer`, () => {
      const intent = intentOf(v.transfer);
      const v1 = encodeTransfer({ ...intent, requestId: null });
      const v2 = encodeTransfer(intent);
      expect(v1.subarray(0, 16).toString('latin1')).toBe(TRANSFER_DOMAIN_TAG);
      expect(v2.subarray(16, v1.length)).toEqual(v1.subarray(16));
      expect(v2.subarray(v1.length)).toEqual(Buffer.concat([Buffer.from([v.transfer.requestId.length]), Buffer.from(v.transfer.requestId, 'ascii')]));
      expect(transferIdOf(v1)).toBe(v.v1TransferId);
      expect(v.v1TransferId).not.toBe(v.transferId);
    });

    it(`${v.name}: a request id altered in transit fails the signature and names another transfer`, () => {
      const intent = intentOf(v.transfer);
      const altered = encodeTransfer({ ...intent, requestId: `pr_${'9'.repeat(32)}` });
      expect(transferIdOf(altered)).not.toBe(v.transferId);
      expect(ed25519Verify(Buffer.from(v.publicKey, 'hex'), altered, Buffer.from(v.signature, 'hex'))).toBe(false);
      // Nor does the v2 signature hold for the same transfer without the request (downgrade to v1).
      expect(ed25519Verify(Buffer.from(v.publicKey, 'hex'), encodeTransfer({ ...intent, requestId: undefined }), Buffer.from(v.signature, 'hex'))).toBe(false);
    });
  }
});
