/**
 * A bank's authority for a capture or void of a hold: its own signed request, carried from the
 * gateway to settlement and stored with the hold, so that settlement and the audit check it
 * themselves (as a funding's, see funding-authority.ts). A gateway host, Redis or the network
 * cannot capture or void a hold: the bank's signature covers the audience, the path (which names
 * the hold and the action), the Idempotency-Key (from which the action's id is derived) and the
 * body (the amount captured).
 *
 * Example: the payee's bank signs POST /v1/holds/<hold id>/capture with Idempotency-Key
 * "capture-0001" and the body {"amountMinor":"2500"}; the action's id is
 * holdActionIdOf(bank, "capture-0001"), and it captures 2500 fen of that hold.
 */
import { holdActionIdOf } from './canonical-hold.js';
import { authorityFits, signedPostString, type FundingAuthority } from './funding-authority.js';
import { requestStringToSign } from './request-auth.js';

/** What a capture or void carries of the bank's signed request: the shape of a funding's. */
export type HoldActionAuthority = FundingAuthority;

export type HoldAction = 'capture' | 'void';

/** The capture or void a bank's signed request asks for. */
export interface HoldActionClaim {
  /** The action's id: holdActionIdOf(bankId, the request's Idempotency-Key). */
  id: string;
  bankId: string;
  holdId: string;
  action: HoldAction;
  /** The amount captured, decimal; absent for a void. */
  amountMinor?: string;
}

/** The path of a hold action. */
export function holdActionPath(holdId: string, action: HoldAction): string {
  return `/v1/holds/${holdId}/${action}`;
}

/** Whether the signed body asks for exactly this action: a capture's amount, a void's empty body or `{}`. */
function bodyAsks(body: string, claim: HoldActionClaim): boolean {
  if (claim.action === 'void' && body === '') return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
  const keys = Object.keys(parsed);
  if (claim.action === 'void') return keys.length === 0;
  return keys.length === 1 && (parsed as { amountMinor?: unknown }).amountMinor === claim.amountMinor;
}

/**
 * The exact bytes the bank signed, if `authority` asks for exactly the action `claim` describes in
 * environment `audience`; null if any part disagrees (another hold, action, key or amount) or is
 * malformed. The caller still verifies the signature over these bytes with the bank's key in force.
 */
export function holdActionAuthorityMessage(authority: HoldActionAuthority | undefined, claim: HoldActionClaim, audience: string): Buffer | null {
  if (!authority || typeof authority !== 'object' || !authorityFits(authority)) return null;
  if (authority.pathWithQuery.split('?')[0] !== holdActionPath(claim.holdId, claim.action)) return null;
  if (holdActionIdOf(claim.bankId, authority.idempotencyKey) !== claim.id) return null;
  if (!bodyAsks(authority.body, claim)) return null;
  return signedPostString(authority, audience);
}

/**
 * The authority a bank gives a capture or void, made without HTTP (tests): exactly what its client
 * signs for that request with this Idempotency-Key.
 */
export function holdActionAuthorityFor(o: { audience: string; idempotencyKey: string; holdId: string; action: HoldAction; amountMinor?: string; timestampMs: number }, sign: (message: Buffer) => Uint8Array): HoldActionAuthority {
  const parts = {
    pathWithQuery: holdActionPath(o.holdId, o.action),
    timestampMs: String(o.timestampMs),
    nonce: `hold-${o.idempotencyKey}`
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 64)
      .padEnd(16, '_'),
    contentType: 'application/json',
    idempotencyKey: o.idempotencyKey,
    body: o.action === 'capture' ? JSON.stringify({ amountMinor: o.amountMinor }) : '{}',
  };
  const message = requestStringToSign({ audience: o.audience, method: 'POST', ...parts });
  return { ...parts, signature: Buffer.from(sign(message)).toString('hex') };
}
