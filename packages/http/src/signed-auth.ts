/**
 * Verifies signed requests (see @cbdc/shared/request-auth for the scheme) before the body is
 * judged, so that an unauthenticated caller learns nothing about the schema: the headers are
 * checked before the body is read (401 for an unsigned request, whatever its body), the signature
 * over the raw body before a body that is not JSON, or not valid, is reported. Only a body too
 * large to read (413) is refused before its signature is verified, as verifying it would mean
 * reading it; the headers of such a request have passed every other check. Routes opt out with
 * `config: { public: true }`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ed25519VerifyRaw, parseHex } from '@cbdc/shared/crypto';
import { ApiError } from '@cbdc/shared/problem';
import { AUTH_HEADERS, NONCE_PATTERN, requestStringToSign, SIGNED_HEADERS } from '@cbdc/shared/request-auth';
import { deferredBodyError } from './problems.js';
import { needsDurableNonce } from './request-nonces.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated bank or operator id. */
    principal: string;
    /** The verified signed request (string to sign, signature, raw body): the authority of what it changes. */
    signedRequest: { message: Buffer; signature: Buffer; body: Buffer } | null;
  }
  interface FastifyContextConfig {
    public?: boolean;
  }
}

export interface SignedAuthOptions {
  /** The raw 32-byte public key of a caller, or null if unknown. */
  lookupKey(keyId: string): Promise<Buffer | null>;
  /** Records a read's nonce (in Redis); false if it was already used within the window. */
  claimNonce(keyId: string, nonce: string, ttlMs: number): Promise<boolean>;
  /** Records the nonce of a request that changes something, durably (Postgres; see request-nonces.ts). */
  claimNonceDurably(keyId: string, nonce: string, ttlMs: number): Promise<boolean>;
  clockSkewMs: number;
  /** This environment's id: a request signed for another environment does not verify here. */
  audience: string;
  now?: () => number;
}

/** Bank ids and operator ids have one form; a claimed key id of another form is never looked up. */
export const KEY_ID_PATTERN = /^[a-z][a-z0-9-]{1,31}$/;

function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The values of the signed non-authentication headers. A header sent twice, or holding a line
 * break, cannot be signed unambiguously: refused before anything else is looked at.
 */
function signedHeaderValues(req: FastifyRequest): Partial<Record<(typeof SIGNED_HEADERS)[number], string>> {
  const out: Partial<Record<(typeof SIGNED_HEADERS)[number], string>> = {};
  for (const name of SIGNED_HEADERS) {
    const value = req.headers[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new ApiError('unauthenticated', `the ${name} header cannot be signed`, { errors: [{ field: `header/${name}`, rule: 'single_line_header', message: 'must be sent once, on one line' }] });
    }
    out[name] = value;
  }
  return out;
}

/** What the headers of a request claim, checked before its body is read. */
interface ClaimedAuth {
  keyId: string;
  timestamp: string;
  nonce: string;
  signature: Buffer;
  key: Buffer;
  signed: Partial<Record<(typeof SIGNED_HEADERS)[number], string>>;
}

const signatureRefused = () =>
  new ApiError('unauthenticated', 'the signature does not verify against a registered key', { errors: [{ field: `header/${AUTH_HEADERS.signature}`, rule: 'ed25519_request_signature', message: 'does not verify' }] });

export function installSignedAuth(app: FastifyInstance, options: SignedAuthOptions): void {
  const now = options.now ?? Date.now;
  const claims = new WeakMap<FastifyRequest, ClaimedAuth>();
  app.decorateRequest('principal', '');
  app.decorateRequest('signedRequest', null);

  // Before the body is read (after the rate limits' onRequest hook): a request whose headers cannot
  // authenticate it (missing, malformed, stale, an unknown key id) is 401 whatever its body holds,
  // and its body is never read.
  app.addHook('preParsing', async (req) => {
    if (req.routeOptions.config?.public) return;
    claims.set(req, await claimedAuth(req, options, now()));
  });

  // Once the body is read: the signature over the raw bytes, then the nonce; only then is a body
  // that could not be read (not JSON, malformed) reported, and then the schema checked.
  app.addHook('preValidation', async (req) => {
    if (req.routeOptions.config?.public) {
      const bodyError = deferredBodyError(req);
      if (bodyError) throw bodyError;
      return;
    }
    const claim = claims.get(req);
    if (!claim) throw new Error('signed-auth: preValidation without preParsing');
    const message = requestStringToSign({
      audience: options.audience,
      method: req.method,
      pathWithQuery: req.url,
      timestampMs: claim.timestamp,
      nonce: claim.nonce,
      contentType: claim.signed['content-type'],
      idempotencyKey: claim.signed['idempotency-key'],
      prefer: claim.signed.prefer,
      body: req.rawBody ?? Buffer.alloc(0),
    });
    if (!ed25519VerifyRaw(claim.key, message, claim.signature)) throw signatureRefused();
    // Claimed only after the signature verifies, so nobody can burn another caller's nonces; durably
    // for anything but a read, so that losing Redis data never lets a captured request replay.
    const claimNonce = needsDurableNonce(req.method) ? options.claimNonceDurably : options.claimNonce;
    if (!(await claimNonce(claim.keyId, claim.nonce, options.clockSkewMs * 2))) {
      throw new ApiError('request_replayed', 'this request was already received', { errors: [{ field: `header/${AUTH_HEADERS.nonce}`, rule: 'unique', message: 'was already used' }] });
    }
    req.principal = claim.keyId;
    req.signedRequest = { message, signature: claim.signature, body: req.rawBody ?? Buffer.alloc(0) };
    const bodyError = deferredBodyError(req);
    if (bodyError) throw bodyError;
  });
}

/** Checks the authentication headers of `req` for presence, form, clock window and a registered key id. */
async function claimedAuth(req: FastifyRequest, options: SignedAuthOptions, nowMs: number): Promise<ClaimedAuth> {
  const keyId = header(req, AUTH_HEADERS.keyId);
  const timestamp = header(req, AUTH_HEADERS.timestamp);
  const nonce = header(req, AUTH_HEADERS.nonce);
  const signatureHex = header(req, AUTH_HEADERS.signature);
  const missing = [
    [AUTH_HEADERS.keyId, keyId],
    [AUTH_HEADERS.timestamp, timestamp],
    [AUTH_HEADERS.nonce, nonce],
    [AUTH_HEADERS.signature, signatureHex],
  ].filter(([, v]) => !v);
  if (missing.length || !keyId || !timestamp || !nonce || !signatureHex) {
    throw new ApiError('unauthenticated', 'the request is not signed', { errors: missing.map(([name]) => ({ field: `header/${name}`, rule: 'required', message: 'is required' })) });
  }
  if (!/^\d{1,16}$/.test(timestamp)) throw new ApiError('unauthenticated', 'bad timestamp', { errors: [{ field: `header/${AUTH_HEADERS.timestamp}`, rule: 'unix_ms', message: 'must be Unix milliseconds' }] });
  if (Math.abs(Number(timestamp) - nowMs) > options.clockSkewMs) {
    throw new ApiError('request_expired', `timestamp is more than ${options.clockSkewMs} ms from server time`, {
      errors: [{ field: `header/${AUTH_HEADERS.timestamp}`, rule: 'clock_window', message: `must be within ${options.clockSkewMs} ms of server time` }],
    });
  }
  if (!NONCE_PATTERN.test(nonce)) throw new ApiError('unauthenticated', 'bad nonce', { errors: [{ field: `header/${AUTH_HEADERS.nonce}`, rule: 'nonce_format', message: '16 to 64 characters of A-Z a-z 0-9 _ -' }] });
  const signed = signedHeaderValues(req);
  const signature = parseHex(signatureHex, 64);
  const key = KEY_ID_PATTERN.test(keyId) ? await options.lookupKey(keyId) : null;
  if (!key || !signature) throw signatureRefused();
  return { keyId, timestamp, nonce, signature, key, signed };
}
