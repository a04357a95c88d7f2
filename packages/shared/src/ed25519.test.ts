import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { ed25519PublicKeyCheck, ed25519Verify, ed25519VerifyRaw, signerFromSeed } from './crypto.js';
import { ed25519PublicKeyProblem, ed25519VerifyPortable, isSmallOrderEncoding } from './ed25519.js';
import { ed25519EdgeCases, ed25519EdgeCasesHex, smallOrderPoints } from './ed25519-vectors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vectors = ed25519EdgeCases();

/** node:crypto's verdict (no longer used anywhere): OpenSSL, for the record of why. */
function nodeCryptoVerifies(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

describe('the Ed25519 edge-case table', () => {
  it('holds every case the rule must decide', () => {
    const names = vectors.map((v) => v.name);
    expect(names.filter((n) => /^small-order point \d as A/.test(n))).toHaveLength(8);
    expect(names.filter((n) => /^small-order point \d as R/.test(n))).toHaveLength(8);
    expect(new Set(smallOrderPoints().map((p) => hex(p.toBytes()))).size).toBe(8);
    for (const p of smallOrderPoints()) expect(p.multiplyUnsafe(8n).is0()).toBe(true);
    expect(vectors.filter((v) => v.verifies).map((v) => v.name)).toEqual(['valid signature', expect.stringMatching(/^mixed-order A .* k divisible by 8/)]);
  });

  describe.each(vectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    it(`the server's libsodium verifier says ${v.verifies}`, () => {
      expect(ed25519Verify(v.publicKey, v.message, v.signature)).toBe(v.verifies);
      expect(ed25519VerifyRaw(Buffer.from(v.publicKey), Buffer.from(v.message), Buffer.from(v.signature))).toBe(v.verifies);
    });

    it(`the portable (noble) verifier of the clients says ${v.verifies}`, () => {
      expect(ed25519VerifyPortable(v.publicKey, v.message, v.signature)).toBe(v.verifies);
    });

    it(`registration ${v.keyAccepted ? 'accepts' : 'refuses'} the key, with libsodium and with the portable check`, () => {
      expect(ed25519PublicKeyCheck(v.publicKey) === null).toBe(v.keyAccepted);
      expect(ed25519PublicKeyProblem(v.publicKey) === null).toBe(v.keyAccepted);
      if (!v.keyAccepted) expect(ed25519PublicKeyCheck(v.publicKey)).toEqual(ed25519PublicKeyProblem(v.publicKey));
    });
  });

  it("shows why node:crypto and noble's default verify are not used: both accept the identity-key forgery for any message", () => {
    const forgery = vectors.find((v) => v.name.startsWith('identity key, identity R'))!;
    for (const message of [forgery.message, new TextEncoder().encode('pay 1,000,000 yuan to mallory')]) {
      expect(nodeCryptoVerifies(forgery.publicKey, message, forgery.signature)).toBe(true);
      expect(ed25519.verify(forgery.signature, message, forgery.publicKey)).toBe(true);
      expect(ed25519Verify(forgery.publicKey, message, forgery.signature)).toBe(false);
      expect(ed25519VerifyPortable(forgery.publicKey, message, forgery.signature)).toBe(false);
    }
    // noble's strict mode is cofactored: it accepts a small-order R, which the rule refuses.
    const smallR = vectors.find((v) => v.name.startsWith('small-order point 0 as R'))!;
    expect(ed25519.verify(smallR.signature, smallR.message, smallR.publicKey, { zip215: false })).toBe(true);
  });

  it('is published as docs/vectors/ed25519-edge-cases.json, equal to what the generator makes', () => {
    const published = JSON.parse(readFileSync(new URL('../../../docs/vectors/ed25519-edge-cases.json', import.meta.url), 'utf8'));
    expect(published).toEqual(ed25519EdgeCasesHex());
  });

  it('names the reason a key is refused', () => {
    const byName = (prefix: string) => vectors.find((v) => v.name.startsWith(prefix))!.publicKey;
    expect(ed25519PublicKeyCheck(byName('identity key, identity R'))?.rule).toBe('ed25519_public_key_small_order');
    expect(ed25519PublicKeyCheck(byName('non-canonical A'))?.rule).toBe('ed25519_public_key_not_canonical');
    expect(ed25519PublicKeyCheck(byName('A not a point'))?.rule).toBe('ed25519_public_key_not_a_point');
    expect(ed25519PublicKeyCheck(byName('mixed-order A'))?.rule).toBe('ed25519_public_key_mixed_order');
    expect(ed25519PublicKeyCheck(new Uint8Array(31))?.rule).toBe('ed25519_public_key_length');
    for (const p of smallOrderPoints()) expect(isSmallOrderEncoding(p.toBytes())).toBe(true);
  });

  it('agrees between libsodium and the portable verifier on random keys, messages and one-bit changes', () => {
    for (let i = 0; i < 40; i++) {
      const seed = ed25519.utils.randomSecretKey();
      const signer = signerFromSeed(seed);
      const message = crypto.getRandomValues(new Uint8Array(i * 3));
      const sig = signer.sign(message);
      expect(ed25519PublicKeyCheck(signer.publicKey)).toBeNull();
      expect(ed25519Verify(signer.publicKey, message, sig)).toBe(true);
      expect(ed25519VerifyPortable(signer.publicKey, message, sig)).toBe(true);
      const flipped = Buffer.from(sig);
      flipped[i % 64] ^= 1 << (i % 8);
      expect(ed25519VerifyPortable(signer.publicKey, message, flipped)).toBe(ed25519Verify(signer.publicKey, message, flipped));
      expect(ed25519Verify(signer.publicKey, message, flipped)).toBe(false);
    }
  });
});
