/** Raw signed requests for tests that send what no well-behaved client would. */
import { randomBytes } from 'node:crypto';
import { ed25519PrivateKey, ed25519Sign } from '@cbdc/shared/crypto';
import { AUTH_HEADERS, requestStringToSign } from '@cbdc/shared/request-auth';

export interface RawOptions {
  keyId: string;
  privateKeyHex: string;
  /** Override any auth header, or drop it with null. */
  auth?: Partial<Record<keyof typeof AUTH_HEADERS, string | null>>;
  headers?: Record<string, string>;
  contentType?: string;
}

export async function rawRequest(baseUrl: string, method: string, path: string, body: string | undefined, o: RawOptions) {
  const timestamp = o.auth?.timestamp ?? Date.now().toString();
  const nonce = o.auth?.nonce ?? randomBytes(16).toString('base64url');
  const signature = ed25519Sign(ed25519PrivateKey(Buffer.from(o.privateKeyHex, 'hex')), requestStringToSign(method, path, timestamp, nonce, body ?? '')).toString('hex');
  const auth: Record<string, string | null> = {
    [AUTH_HEADERS.keyId]: o.auth?.keyId === undefined ? o.keyId : o.auth.keyId,
    [AUTH_HEADERS.timestamp]: timestamp,
    [AUTH_HEADERS.nonce]: nonce,
    [AUTH_HEADERS.signature]: o.auth?.signature === undefined ? signature : o.auth.signature,
  };
  const headers: Record<string, string> = { ...o.headers };
  for (const [k, v] of Object.entries(auth)) if (v !== null) headers[k] = v;
  if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  const response = await fetch(new URL(path, baseUrl), { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, nonce, timestamp };
}
