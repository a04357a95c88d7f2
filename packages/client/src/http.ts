/** Signed HTTP requests (the scheme of @cbdc/shared/request-auth), signed with @noble/curves. */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AUTH_HEADERS, DEFAULT_AUDIENCE, requestStringToSign } from '@cbdc/shared/request-auth';
import type { Problem } from '@cbdc/shared/problem';

/** An API answer that was not 2xx; carries the RFC 9457 problem. */
export class CbdcApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly headers?: Headers,
  ) {
    super(`${status} ${problem.code}: ${problem.detail ?? problem.title}`);
  }
}

/** The service could not be reached at all. */
export class CbdcUnreachableError extends Error {}

export interface Credentials {
  keyId: string;
  /** The 32-byte Ed25519 seed. */
  privateKey: Uint8Array;
  /** The environment the requests are meant for (the server's CBDC_AUDIENCE); DEFAULT_AUDIENCE if absent. */
  audience?: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface Response<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Signs and sends one request; throws CbdcApiError for non-2xx answers. */
export async function signedRequest<T>(baseUrl: string, creds: Credentials, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Response<T>> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = signedHeaders(creds, method, path, text, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers });
  let response: globalThis.Response;
  try {
    response = await fetch(new URL(path, baseUrl), { method, headers, body: body === undefined ? undefined : text, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new CbdcUnreachableError(`cannot reach ${baseUrl} (${cause})`);
  }
  const raw = await response.text();
  const parsed = raw ? JSON.parse(raw) : undefined;
  if (!response.ok) throw new CbdcApiError(response.status, parsed as Problem, response.headers);
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/**
 * The headers of a signed request: `headers` (header names in lower case) plus the
 * authentication headers, whose signature covers the audience, method, path, timestamp, nonce,
 * Content-Type, Idempotency-Key, Prefer and body (see @cbdc/shared/request-auth).
 */
export function signedHeaders(creds: Credentials, method: string, path: string, body: string, headers: Record<string, string>, at: { timestampMs?: string; nonce?: string } = {}): Record<string, string> {
  const timestamp = at.timestampMs ?? Date.now().toString();
  const nonce = at.nonce ?? randomBytes(16).toString('base64url');
  const message = requestStringToSign({
    audience: creds.audience ?? DEFAULT_AUDIENCE,
    method,
    pathWithQuery: path,
    timestampMs: timestamp,
    nonce,
    contentType: headers['content-type'],
    idempotencyKey: headers['idempotency-key'],
    prefer: headers.prefer,
    body,
  });
  const signature = Buffer.from(ed25519.sign(message, creds.privateKey)).toString('hex');
  return { ...headers, [AUTH_HEADERS.keyId]: creds.keyId, [AUTH_HEADERS.timestamp]: timestamp, [AUTH_HEADERS.nonce]: nonce, [AUTH_HEADERS.signature]: signature };
}
