import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { encodeHold, encodeHoldLeaf, holdActionIdOf, holdIdOf, type HoldLeafContent } from './canonical-hold.js';
import { ed25519PrivateKey, ed25519Sign, ed25519Verify, signerFromSeed } from './crypto.js';
import { ed25519VerifyPortable } from './ed25519.js';
import { holdActionAuthorityFor, holdActionAuthorityMessage } from './hold-authority.js';
import { leafHash } from './merkle.js';
import { DEFAULT_AUDIENCE } from './request-auth.js';

interface HoldVector {
  name: string;
  privateKeySeed: string;
  publicKey: string;
  hold: { payerWalletId: string; payeeWalletId: string; amountMinor: string; nonce: string; expiresAtMs: string; holdExpiresAtMs: string; memo: string };
  canonicalHex: string;
  holdId: string;
  signature: string;
}
interface LeafVector {
  name: string;
  leaf: Omit<HoldLeafContent, 'amountMinor' | 'capturedMinor'> & { amountMinor: string; capturedMinor: string };
  leafHex: string;
  leafHash: string;
}

const vectors: { holds: HoldVector[]; leaves: LeafVector[] } = JSON.parse(readFileSync(new URL('../../../docs/vectors/holds.json', import.meta.url), 'utf8'));

describe('canonical hold encoding against the published vectors', () => {
  it('has vectors of holds and of every leaf event and capture outcome', () => {
    expect(vectors.holds.length).toBeGreaterThanOrEqual(3);
    expect(new Set(vectors.leaves.map((l) => l.leaf.event))).toEqual(new Set(['placed', 'rejected', 'captured', 'voided', 'expired']));
    expect(new Set(vectors.leaves.map((l) => l.leaf.capture))).toEqual(new Set(['none', 'settled', 'rejected', 'debited']));
  });

  for (const v of vectors.holds) {
    it(`${v.name}: encodes to the published bytes, id and signature, which both verifiers accept`, () => {
      const bytes = encodeHold({ ...v.hold, amountMinor: BigInt(v.hold.amountMinor), nonce: BigInt(v.hold.nonce), expiresAtMs: BigInt(v.hold.expiresAtMs), holdExpiresAtMs: BigInt(v.hold.holdExpiresAtMs) });
      expect(bytes.toString('hex')).toBe(v.canonicalHex);
      expect(holdIdOf(bytes)).toBe(v.holdId);
      const seed = Buffer.from(v.privateKeySeed, 'hex');
      expect(Buffer.from(ed25519.sign(bytes, seed)).toString('hex')).toBe(v.signature);
      expect(ed25519Sign(ed25519PrivateKey(seed), bytes).toString('hex')).toBe(v.signature);
      const pub = Buffer.from(v.publicKey, 'hex');
      const sig = Buffer.from(v.signature, 'hex');
      expect(ed25519Verify(pub, bytes, sig)).toBe(true);
      expect(ed25519VerifyPortable(pub, bytes, sig)).toBe(true);
      const tampered = Buffer.from(bytes);
      tampered[tampered.length - 3] ^= 1;
      expect(ed25519Verify(pub, tampered, sig)).toBe(false);
    });
  }

  for (const v of vectors.leaves) {
    it(`leaf ${v.name}: encodes to the published bytes and leaf hash`, () => {
      const bytes = encodeHoldLeaf({ ...v.leaf, amountMinor: BigInt(v.leaf.amountMinor), capturedMinor: BigInt(v.leaf.capturedMinor) });
      expect(bytes.toString('hex')).toBe(v.leafHex);
      expect(leafHash(bytes).toString('hex')).toBe(v.leafHash);
    });
  }

  it('changes the id when any signed field changes, and is not a transfer id of the same fields', () => {
    const base = { payerWalletId: 'w_a', payeeWalletId: 'w_b', amountMinor: 1n, nonce: 1n, expiresAtMs: 1n, holdExpiresAtMs: 2n, memo: '' };
    const variants = [base, { ...base, payerWalletId: 'w_c' }, { ...base, payeeWalletId: 'w_c' }, { ...base, amountMinor: 2n }, { ...base, nonce: 2n }, { ...base, expiresAtMs: 2n }, { ...base, holdExpiresAtMs: 3n }, { ...base, memo: 'm' }];
    expect(new Set(variants.map((h) => holdIdOf(encodeHold(h)))).size).toBe(variants.length);
    expect(() => encodeHold({ ...base, amountMinor: -1n })).toThrow(RangeError);
  });
});

describe("a bank's authority for a capture or void", () => {
  const bank = signerFromSeed(Buffer.alloc(32, 9));
  const holdId = 'a'.repeat(64);
  const sign = (m: Buffer) => bank.sign(m);
  const capture = holdActionAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey: 'capture-0001', holdId, action: 'capture', amountMinor: '2500', timestampMs: 1 }, sign);
  const claim = { id: holdActionIdOf('bank-b', 'capture-0001'), bankId: 'bank-b', holdId, action: 'capture' as const, amountMinor: '2500' };

  it('gives the bytes the bank signed when the request asks for exactly this action', () => {
    const message = holdActionAuthorityMessage(capture, claim, DEFAULT_AUDIENCE);
    expect(message).not.toBeNull();
    expect(ed25519Verify(bank.publicKey, message!, Buffer.from(capture.signature, 'hex'))).toBe(true);
    const voided = holdActionAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey: 'void-0001', holdId, action: 'void', timestampMs: 1 }, sign);
    expect(holdActionAuthorityMessage(voided, { id: holdActionIdOf('bank-a', 'void-0001'), bankId: 'bank-a', holdId, action: 'void' }, DEFAULT_AUDIENCE)).not.toBeNull();
    expect(holdActionAuthorityMessage({ ...voided, body: '' }, { id: holdActionIdOf('bank-a', 'void-0001'), bankId: 'bank-a', holdId, action: 'void' }, DEFAULT_AUDIENCE)).not.toBeNull();
  });

  it.each([
    ['another hold', { ...claim, holdId: 'b'.repeat(64) }],
    ['another action', { ...claim, action: 'void' as const, amountMinor: undefined }],
    ['another amount', { ...claim, amountMinor: '2501' }],
    ['another bank (the id is of bank-b and its key)', { ...claim, bankId: 'bank-c' }],
    ['another id', { ...claim, id: holdActionIdOf('bank-b', 'capture-0002') }],
  ])('refuses a request that asks for %s', (_, other) => {
    expect(holdActionAuthorityMessage(capture, other, DEFAULT_AUDIENCE)).toBeNull();
  });

  it('refuses a malformed authority or a body with more than the amount', () => {
    expect(holdActionAuthorityMessage(undefined, claim, DEFAULT_AUDIENCE)).toBeNull();
    expect(holdActionAuthorityMessage({ ...capture, signature: 'zz' }, claim, DEFAULT_AUDIENCE)).toBeNull();
    expect(holdActionAuthorityMessage({ ...capture, body: '{"amountMinor":"2500","x":1}' }, claim, DEFAULT_AUDIENCE)).toBeNull();
    expect(holdActionAuthorityMessage({ ...capture, pathWithQuery: `/v1/holds/${holdId}/void` }, claim, DEFAULT_AUDIENCE)).toBeNull();
  });
});
