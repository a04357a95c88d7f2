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
 * String to sign (lines joined with "\n"):
 *   CBDC-REQUEST-V1
 *   METHOD            upper case
 *   PATH              path and query exactly as sent, e.g. /v1/wallets?limit=10
 *   TIMESTAMP
 *   NONCE
 *   BODY-SHA256       lowercase hex SHA-256 of the raw body bytes (of the empty string if none)
 */
import { sha256 } from './crypto.js';

export const AUTH_HEADERS = {
  keyId: 'x-cbdc-key-id',
  timestamp: 'x-cbdc-timestamp',
  nonce: 'x-cbdc-nonce',
  signature: 'x-cbdc-signature',
} as const;

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** The exact bytes a caller signs for one request. */
export function requestStringToSign(method: string, pathWithQuery: string, timestampMs: string, nonce: string, body: Uint8Array | string): Buffer {
  const bodyHash = sha256(typeof body === 'string' ? Buffer.from(body, 'utf8') : body).toString('hex');
  return Buffer.from(['CBDC-REQUEST-V1', method.toUpperCase(), pathWithQuery, timestampMs, nonce, bodyHash].join('\n'), 'utf8');
}
