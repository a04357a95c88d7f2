import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeReference, paymentRequestChecksum, paymentRequestUri, parsePaymentRequestUri, type PaymentRequestPayload } from './payment-request.js';
import { sha256 } from './crypto.js';

interface Vectors {
  valid: Array<{ name: string; payload: { requestId: string; payeeWalletId: string; amountMinor: string | null; expiresAtMs: string; reference: string }; uri: string; checksum: string }>;
  invalid: Array<{ name: string; uri: string; rule: string }>;
}
const vectors: Vectors = JSON.parse(readFileSync(new URL('../../../docs/vectors/payment-request-uris.json', import.meta.url), 'utf8'));

const payloadOf = (p: Vectors['valid'][number]['payload']): PaymentRequestPayload => ({ ...p, amountMinor: p.amountMinor === null ? null : BigInt(p.amountMinor), expiresAtMs: BigInt(p.expiresAtMs) });

describe('payment request URIs against the published vectors', () => {
  it('has vectors to check, fixed and open amounts among them', () => {
    expect(vectors.valid.length).toBeGreaterThanOrEqual(3);
    expect(vectors.valid.some((v) => v.payload.amountMinor === null)).toBe(true);
    expect(vectors.invalid.length).toBeGreaterThanOrEqual(10);
  });

  for (const v of vectors.valid) {
    it(`builds and parses "${v.name}"`, () => {
      const payload = payloadOf(v.payload);
      expect(paymentRequestUri(payload)).toBe(v.uri);
      expect(parsePaymentRequestUri(v.uri)).toEqual({ ok: true, payload });
      // The checksum, by its definition: the first 4 bytes of SHA-256 over the URI before "&check=".
      const body = v.uri.slice(0, v.uri.lastIndexOf('&check='));
      expect(v.checksum).toBe(sha256(Buffer.from(body, 'ascii')).subarray(0, 4).toString('hex'));
      expect(/^[\x21-\x7e]+$/.test(v.uri)).toBe(true);
    });
  }

  for (const v of vectors.invalid) {
    it(`refuses "${v.name}" (${v.rule})`, () => {
      const parsed = parsePaymentRequestUri(v.uri);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.problem.startsWith(`${v.rule}:`)).toBe(true);
    });
  }
});

describe('payment request URIs, properties', () => {
  const payload = fc.record({
    requestId: fc.stringMatching(/^pr_[0-9a-f]{32}$/),
    payeeWalletId: fc.stringMatching(/^w_[0-9a-f]{24}$/),
    amountMinor: fc.option(fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), { nil: null }),
    expiresAtMs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
    // Printable NFC text of 1 to 140 bytes, as the gateway accepts.
    reference: fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
      .map((s) => s.normalize('NFC'))
      .filter((s) => Buffer.byteLength(s) <= 140 && !/[\p{Cc}\p{Cs}\p{Co}\p{Cn}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u.test(s) && s.normalize('NFC') === s),
  });

  it('parses every URI it builds back to the same payload', () => {
    fc.assert(
      fc.property(payload, (p) => {
        expect(parsePaymentRequestUri(paymentRequestUri(p))).toEqual({ ok: true, payload: p });
      }),
    );
  });

  it('catches any one character changed before the checksum (unless it makes another valid URI with the same checksum)', () => {
    fc.assert(
      fc.property(payload, fc.nat(), fc.integer({ min: 0x21, max: 0x7e }), (p, at, code) => {
        const uri = paymentRequestUri(p);
        const end = uri.lastIndexOf('&check=');
        const i = at % end;
        fc.pre(uri.charCodeAt(i) !== code);
        const changed = uri.slice(0, i) + String.fromCharCode(code) + uri.slice(i + 1);
        expect(parsePaymentRequestUri(changed).ok).toBe(false);
      }),
    );
  });

  it('encodes a reference to ASCII with upper-case escapes, leaving only the unreserved characters', () => {
    expect(encodeReference('a b/ü~')).toBe('a%20b%2F%C3%BC~');
    expect(paymentRequestChecksum('')).toBe('e3b0c442');
  });

  it('refuses what is not a string, or too long, before reading it', () => {
    expect(parsePaymentRequestUri(42 as unknown as string)).toMatchObject({ ok: false });
    expect(parsePaymentRequestUri(`cbdc:pay?v=1${'x'.repeat(2000)}`)).toEqual({ ok: false, problem: 'uri_max: at most 1024 characters' });
  });
});
