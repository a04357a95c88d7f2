/** Raw signed requests for tests that send what no well-behaved client would. */
import { randomBytes } from 'node:crypto';
import { ed25519PrivateKey, ed25519Sign } from '@cbdc/shared/crypto';
import { AUTH_HEADERS, DEFAULT_AUDIENCE, requestStringToSign } from '@cbdc/shared/request-auth';

export interface RawOptions {
  keyId: string;
  privateKeyHex: string;
  /** Override any auth header, or drop it with null. */
  auth?: Partial<Record<keyof typeof AUTH_HEADERS, string | null>>;
  headers?: Record<string, string>;
  contentType?: string;
  /** The environment signed into the request; DEFAULT_AUDIENCE if absent. */
  audience?: string;
  /** Headers sent but left out of the signature (to try changing a signed header on the way). */
  unsignedHeaders?: Record<string, string>;
}

export async function rawRequest(baseUrl: string, method: string, path: string, body: string | undefined, o: RawOptions) {
  const timestamp = o.auth?.timestamp ?? Date.now().toString();
  const nonce = o.auth?.nonce ?? randomBytes(16).toString('base64url');
  const headers: Record<string, string> = { ...o.headers };
  if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  const message = requestStringToSign({
    audience: o.audience ?? DEFAULT_AUDIENCE,
    method,
    pathWithQuery: path,
    timestampMs: timestamp,
    nonce,
    contentType: headers['content-type'],
    idempotencyKey: headers['idempotency-key'],
    prefer: headers.prefer,
    body: body ?? '',
  });
  const signature = ed25519Sign(ed25519PrivateKey(Buffer.from(o.privateKeyHex, 'hex')), message).toString('hex');
  const auth: Record<string, string | null> = {
    [AUTH_HEADERS.keyId]: o.auth?.keyId === undefined ? o.keyId : o.auth.keyId,
    [AUTH_HEADERS.timestamp]: timestamp,
    [AUTH_HEADERS.nonce]: nonce,
    [AUTH_HEADERS.signature]: o.auth?.signature === undefined ? signature : o.auth.signature,
  };
  for (const [k, v] of Object.entries(auth)) if (v !== null) headers[k] = v;
  Object.assign(headers, o.unsignedHeaders);
  const response = await fetch(new URL(path, baseUrl), { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, nonce, timestamp };
}
