/** Raw signed requests for tests that send what no well-behaved client would. */
import { signedHeaders } from '@cbdc/client';
import { AUTH_HEADERS } from '@cbdc/shared/request-auth';

export interface RawOptions {
  keyId: string;
  privateKeyHex: string;
  /** Override any auth header, or drop it with null. */
  auth?: Partial<Record<keyof typeof AUTH_HEADERS, string | null>>;
  headers?: Record<string, string>;
  contentType?: string;
  /** The environment signed into the request; the client's default if absent. */
  audience?: string;
  /** Headers sent but left out of the signature (to try changing a signed header on the way). */
  unsignedHeaders?: Record<string, string>;
}

export async function rawRequest(baseUrl: string, method: string, path: string, body: string | undefined, o: RawOptions) {
  const headers: Record<string, string> = { ...o.headers };
  if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  // Signed as the client library signs (one implementation of the scheme), then tampered with.
  const creds = { keyId: o.keyId, privateKey: Buffer.from(o.privateKeyHex, 'hex'), audience: o.audience };
  const signed = signedHeaders(creds, method, path, body ?? '', headers, { timestampMs: o.auth?.timestamp ?? undefined, nonce: o.auth?.nonce ?? undefined });
  for (const name of ['keyId', 'signature'] as const) {
    const override = o.auth?.[name];
    if (override === null) delete signed[AUTH_HEADERS[name]];
    else if (override !== undefined) signed[AUTH_HEADERS[name]] = override;
  }
  Object.assign(signed, o.unsignedHeaders);
  const response = await fetch(new URL(path, baseUrl), { method, headers: signed, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, nonce: signed[AUTH_HEADERS.nonce], timestamp: signed[AUTH_HEADERS.timestamp] };
}
