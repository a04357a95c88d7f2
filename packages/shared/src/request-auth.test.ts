import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { sha256 } from './crypto.js';
import { requestStringToSign, type RequestToSign } from './request-auth.js';

const vector: RequestToSign = {
  audience: 'cbdc-dev',
  method: 'POST',
  pathWithQuery: '/v1/fundings',
  timestampMs: '1767225600000',
  nonce: 'q9r8s7t6u5v4w3x2',
  contentType: 'application/json',
  idempotencyKey: 'funding-0001',
  prefer: 'respond-async',
  body: '{"walletId":"w_0123456789abcdef01234567","amountMinor":"10000"}',
};
const seed = Buffer.alloc(32, 7);

describe('the signed request string', () => {
  it('matches the vector published in docs/api.md', () => {
    const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
    const message = requestStringToSign(vector);
    expect(doc).toContain(Buffer.from(ed25519.getPublicKey(seed)).toString('hex'));
    expect(doc).toContain(sha256(message).toString('hex'));
    expect(doc).toContain(Buffer.from(ed25519.sign(message, seed)).toString('hex'));
  });

  it.each([
    ['audience', { audience: 'cbdc-prod' }],
    ['method', { method: 'PUT' }],
    ['path', { pathWithQuery: '/v1/fundings?x=1' }],
    ['timestamp', { timestampMs: '1767225600001' }],
    ['nonce', { nonce: 'q9r8s7t6u5v4w3x3' }],
    ['content type', { contentType: 'text/plain' }],
    ['idempotency key', { idempotencyKey: 'funding-0002' }],
    ['prefer', { prefer: undefined }],
    ['body', { body: '{}' }],
  ] as Array<[string, Partial<RequestToSign>]>)('changes when the %s changes', (_, change) => {
    expect(requestStringToSign({ ...vector, ...change }).equals(requestStringToSign(vector))).toBe(false);
  });

  it('refuses a field holding a line break, which could shift the lines', () => {
    expect(() => requestStringToSign({ ...vector, idempotencyKey: 'a\nb' })).toThrow(RangeError);
  });
});
