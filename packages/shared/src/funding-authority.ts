/**
 * The bank's authority for a funding (its treasury paying one of its customer wallets): the
 * bank's own signed request, carried from the gateway to settlement and stored with the funding,
 * so that settlement and the audit check it themselves. A gateway host, Redis or the network
 * cannot make a funding the bank did not sign: the signature covers the audience, the path, the
 * Idempotency-Key (from which the funding id is derived) and the body (wallet and amount).
 *
 * Example: the bank signs POST /v1/fundings with Idempotency-Key "funding-0001" and the body
 * {"walletId":"w_…","amountMinor":"10000"}; the funding's id is fundingIdOf(bank, "funding-0001"),
 * its payer the bank's treasury, its payee and amount those of the body.
 */
import { fundingIdOf, treasuryWalletId } from './ids.js';
import { requestStringToSign } from './request-auth.js';

/** What a funding carries of the bank's signed request (headers as sent, body as raw text). */
export interface FundingAuthority {
  /** Path and query as signed; its path must be /v1/fundings. */
  pathWithQuery: string;
  timestampMs: string;
  nonce: string;
  contentType?: string;
  idempotencyKey: string;
  prefer?: string;
  body: string;
  /** The bank's Ed25519 request signature, hex. */
  signature: string;
}

/** The funding a bank's signed request asks for. */
export interface FundingClaim {
  id: string;
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
}

export const FUNDING_PATH = '/v1/fundings';
/** Bounds of what a funding authority may carry; a real request is far smaller. */
const BODY_CHARS_MAX = 1024;
const FIELD_CHARS_MAX = 256;

/** Whether a carried request is well formed and within bounds (a forged job's could be anything). */
export function authorityFits(a: FundingAuthority): boolean {
  const short = [a.pathWithQuery, a.timestampMs, a.nonce, a.contentType ?? '', a.idempotencyKey, a.prefer ?? ''];
  return short.every((s) => typeof s === 'string' && s.length <= FIELD_CHARS_MAX) && typeof a.body === 'string' && a.body.length <= BODY_CHARS_MAX && typeof a.signature === 'string' && /^[0-9a-f]{128}$/.test(a.signature);
}

/**
 * The exact bytes the bank signed, if `authority` asks for exactly the funding `claim`
 * describes in environment `audience`; null if any part of it disagrees (another path, key,
 * wallet or amount) or is malformed. The caller still verifies the signature over these bytes
 * with the bank's key in force.
 */
export function fundingAuthorityMessage(authority: FundingAuthority | undefined, claim: FundingClaim, audience: string): Buffer | null {
  if (!authority || !authorityFits(authority)) return null;
  if (authority.pathWithQuery.split('?')[0] !== FUNDING_PATH) return null;
  if (fundingIdOf(claim.bankId, authority.idempotencyKey) !== claim.id) return null;
  if (claim.payerWalletId !== treasuryWalletId(claim.bankId)) return null;
  let body: unknown;
  try {
    body = JSON.parse(authority.body);
  } catch {
    return null;
  }
  const b = body as { walletId?: unknown; amountMinor?: unknown } | null;
  if (!b || typeof b !== 'object' || b.walletId !== claim.payeeWalletId || b.amountMinor !== claim.amountMinor) return null;
  return signedPostString(authority, audience);
}

/**
 * The authority a bank gives a funding, made without HTTP (seeding, tests): exactly what its
 * client signs for POST /v1/fundings with this Idempotency-Key and body.
 */
export function fundingAuthorityFor(o: { audience: string; idempotencyKey: string; walletId: string; amountMinor: string; timestampMs: number }, sign: (message: Buffer) => Uint8Array): FundingAuthority {
  const parts = {
    pathWithQuery: FUNDING_PATH,
    timestampMs: String(o.timestampMs),
    nonce: `seed-${o.idempotencyKey}`
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 64)
      .padEnd(16, '_'),
    contentType: 'application/json',
    idempotencyKey: o.idempotencyKey,
    body: JSON.stringify({ walletId: o.walletId, amountMinor: o.amountMinor }),
  };
  const message = requestStringToSign({ audience: o.audience, method: 'POST', ...parts });
  return { ...parts, signature: Buffer.from(sign(message)).toString('hex') };
}

/** The exact string the bank signed for the POST it carries as `authority`, in environment `audience`; null if it cannot be built. */
export function signedPostString(authority: FundingAuthority, audience: string): Buffer | null {
  try {
    return requestStringToSign({
      audience,
      method: 'POST',
      pathWithQuery: authority.pathWithQuery,
      timestampMs: authority.timestampMs,
      nonce: authority.nonce,
      contentType: authority.contentType,
      idempotencyKey: authority.idempotencyKey,
      prefer: authority.prefer,
      body: authority.body,
    });
  } catch {
    return null;
  }
}
