/**
 * Signed requests. Banks (at the gateway) and operators (at the issuer) sign every request with
 * their Ed25519 API key; the server stores only public keys, so nothing stored can be replayed.
 *
 * Headers:
 *   x-cbdc-key-id     the bank id or operator id
 *   x-cbdc-timestamp  Unix milliseconds; must be within LIMITS.requestClockSkewMs of the server
 *   x-cbdc-nonce      16 to 64 characters [A-Za-z0-9_-], never reused within the window
 *   x-cbdc-signature  hex Ed25519 signature of the string to sign below
 *
 * String to sign (lines joined with "\n", no trailing newline):
 *   CBDC-REQUEST-V2
 *   AUDIENCE          the environment the request is meant for (e.g. "cbdc-dev"); another
 *                     environment refuses it, so a request captured in test cannot be sent to production
 *   METHOD            upper case
 *   PATH              path and query exactly as sent, e.g. /v1/wallets?limit=10
 *   TIMESTAMP
 *   NONCE
 *   CONTENT-TYPE      the Content-Type header exactly as sent, or empty
 *   IDEMPOTENCY-KEY   the Idempotency-Key header exactly as sent, or empty
 *   PREFER            the Prefer header exactly as sent, or empty
 *   BODY-SHA256       lowercase hex SHA-256 of the raw body bytes (of the empty string if none)
 *
 * Every header that changes what a request means is signed: the Idempotency-Key decides a
 * funding's identity, Prefer decides whether the answer waits, Content-Type how the body is read.
 * A header value holding a line break cannot be signed unambiguously and is refused.
 */
import { sha256 } from './crypto.js';

export const AUTH_HEADERS = {
  keyId: 'x-cbdc-key-id',
  timestamp: 'x-cbdc-timestamp',
  nonce: 'x-cbdc-nonce',
  signature: 'x-cbdc-signature',
} as const;

/** The signed headers that are not authentication headers, in the order they are signed. */
export const SIGNED_HEADERS = ['content-type', 'idempotency-key', 'prefer'] as const;

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** The environment id a development machine and the tests use unless configured otherwise. */
export const DEFAULT_AUDIENCE = 'cbdc-dev';
export const AUDIENCE_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export const REQUEST_SIGNATURE_VERSION = 'CBDC-REQUEST-V2';

/** What a caller signs for one request. */
export interface RequestToSign {
  audience: string;
  method: string;
  pathWithQuery: string;
  timestampMs: string;
  nonce: string;
  contentType?: string;
  idempotencyKey?: string;
  prefer?: string;
  body: Uint8Array | string;
}

/** The exact bytes a caller signs for one request. Throws if a header value holds a line break. */
export function requestStringToSign(r: RequestToSign): Buffer {
  const bodyHash = sha256(typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body).toString('hex');
  const lines = [REQUEST_SIGNATURE_VERSION, r.audience, r.method.toUpperCase(), r.pathWithQuery, r.timestampMs, r.nonce, r.contentType ?? '', r.idempotencyKey ?? '', r.prefer ?? '', bodyHash];
  if (lines.some((l) => /[\r\n]/.test(l))) throw new RangeError('a signed request field holds a line break');
  return Buffer.from(lines.join('\n'), 'utf8');
}
