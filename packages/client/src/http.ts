/** Signed HTTP requests (the scheme of @cbdc/shared/request-auth), signed with @noble/curves. */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AUTH_HEADERS, requestStringToSign } from '@cbdc/shared/request-auth';
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
  const timestamp = Date.now().toString();
  const nonce = randomBytes(16).toString('base64url');
  const signature = Buffer.from(ed25519.sign(requestStringToSign(method, path, timestamp, nonce, text), creds.privateKey)).toString('hex');
  let response: globalThis.Response;
  try {
    response = await fetch(new URL(path, baseUrl), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        [AUTH_HEADERS.keyId]: creds.keyId,
        [AUTH_HEADERS.timestamp]: timestamp,
        [AUTH_HEADERS.nonce]: nonce,
        [AUTH_HEADERS.signature]: signature,
        ...options.headers,
      },
      body: body === undefined ? undefined : text,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new CbdcUnreachableError(`cannot reach ${baseUrl} (${cause})`);
  }
  const raw = await response.text();
  const parsed = raw ? JSON.parse(raw) : undefined;
  if (!response.ok) throw new CbdcApiError(response.status, parsed as Problem, response.headers);
  return { status: response.status, body: parsed as T, headers: response.headers };
}
