/** What a route reads off the bank's signed request: the async preference, and the request itself as the authority settlement verifies again. */
import type { FastifyRequest } from 'fastify';
import type { FundingAuthority } from '@cbdc/shared/funding-authority';
import { AUTH_HEADERS } from '@cbdc/shared/request-auth';

/** The caller asks for the async mode with `Prefer: respond-async` (RFC 7240). */
export function wantsAsync(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  return typeof prefer === 'string' && /(^|[,\s])respond-async($|[,;\s])/.test(prefer);
}

/**
 * The bank's signed request as received (verified by the signed-auth hook before this runs),
 * carried to settlement as the authority of a funding, capture or void, which settlement verifies
 * again against the bank's key in force.
 */
export function signedRequestAuthority(req: FastifyRequest, idempotencyKey: string): FundingAuthority {
  const h = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : undefined);
  return {
    pathWithQuery: req.url,
    timestampMs: h(AUTH_HEADERS.timestamp)!,
    nonce: h(AUTH_HEADERS.nonce)!,
    contentType: h('content-type'),
    idempotencyKey,
    prefer: h('prefer'),
    body: (req.rawBody ?? Buffer.alloc(0)).toString('utf8'),
    signature: h(AUTH_HEADERS.signature)!,
  };
}
