/**
 * The one error catalogue. Every code the APIs can return, and every settlement outcome code,
 * lives here with its HTTP status and title. docs/errors.md is checked against this table by a
 * test (errors.test.ts), so the reference and the code cannot drift apart.
 */

export const API_ERRORS = {
  // Request shape
  invalid_request: { status: 400, title: 'The request does not match the schema' },
  malformed_json: { status: 400, title: 'The body is not valid JSON' },
  body_too_large: { status: 413, title: 'The body is larger than allowed' },
  unsupported_media_type: { status: 415, title: 'Only application/json bodies are accepted' },
  idempotency_key_required: { status: 400, title: 'This request needs an Idempotency-Key header' },
  idempotency_key_reused: { status: 422, title: 'The Idempotency-Key was used with a different request' },
  idempotency_key_in_use: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  route_not_found: { status: 404, title: 'No such route' },
  // Authentication and authorization
  unauthenticated: { status: 401, title: 'The request is not signed by a known key' },
  request_expired: { status: 401, title: 'The request timestamp is outside the allowed window' },
  request_replayed: { status: 401, title: 'The request nonce was already used' },
  forbidden: { status: 403, title: 'The caller may not do this' },
  // Wallets and transfers (checked at the gateway before anything is queued)
  wallet_not_found: { status: 404, title: 'No such wallet for this bank' },
  transfer_not_found: { status: 404, title: "No transfer with this id involving this bank's wallets is recorded, or accepted and pending" },
  receipt_withheld: { status: 403, title: "The receipt would prove why another bank's customer refused this transfer; that bank and the central bank hold it" },
  bad_signature: { status: 422, title: 'The customer signature does not verify' },
  authority_refused: { status: 422, title: 'Settlement refused the item: its authority does not verify against the key in force' },
  transfer_expired: { status: 422, title: 'The transfer expired before it was submitted' },
  expiry_too_far: { status: 422, title: 'The transfer expires too far in the future' },
  same_wallet: { status: 422, title: 'Payer and payee are the same wallet' },
  wallet_closed: { status: 422, title: 'The wallet is closed' },
  payee_is_treasury: { status: 422, title: 'Payments to a treasury wallet are redemptions by its own bank' },
  not_a_redemption: { status: 422, title: "A redemption pays the payer bank's own treasury wallet" },
  wallet_not_empty: { status: 409, title: 'A wallet must be empty before it is closed' },
  wallet_is_treasury: { status: 422, title: 'A treasury wallet cannot be changed this way' },
  // Holds (conditional payments)
  hold_not_found: { status: 404, title: "No hold with this id has this bank's wallet as payer or payee" },
  hold_action_not_allowed: { status: 403, title: "Only the payee's bank captures a hold, and only the payer's bank voids it" },
  hold_not_open: { status: 409, title: 'The hold was already captured, voided or refused' },
  hold_expired: { status: 409, title: 'The hold expired; its money went back to the payer' },
  capture_exceeds_hold: { status: 422, title: 'The amount captured is above the amount held' },
  hold_expiry_invalid: { status: 422, title: 'The hold expiry is not in the allowed window after the server time' },
  // Wallet lifecycle (tier changes, customer key replacements)
  tier_below_balance: { status: 409, title: "The wallet holds more than the new tier's balance cap (counting money on its way out and held by open holds); redeem, void or pay out the excess first" },
  tier_unchanged: { status: 409, title: 'The wallet already has this tier' },
  key_unchanged: { status: 409, title: 'The wallet already has this customer key' },
  // Capacity
  rate_limited: { status: 429, title: 'Too many requests from this caller' },
  overloaded: { status: 503, title: 'Settlement is at capacity; retry after the indicated time' },
  dependency_unavailable: { status: 503, title: 'A backing service is unavailable; retry after the indicated time' },
  internal_error: { status: 500, title: 'Internal error' },
  // Issuer
  bank_exists: { status: 409, title: 'A bank with this id already exists' },
  bank_not_found: { status: 404, title: 'No such bank' },
  operator_not_found: { status: 404, title: 'No such operator' },
  insufficient_reserve: { status: 409, title: "The bank's free reserve does not cover this amount" },
  insufficient_treasury_balance: { status: 409, title: "The bank's treasury wallet does not hold this amount" },
  operator_exists: { status: 409, title: 'An operator with this id already exists' },
  reserve_reference_exists: { status: 409, title: 'This reserve reference is already recorded (or pending) for the bank' },
  action_not_found: { status: 404, title: 'No such operator action' },
  action_not_pending: { status: 409, title: 'The operator action is not awaiting approval' },
  approval_expired: { status: 409, title: 'The pending action expired before a second operator approved it' },
  approver_is_requester: { status: 403, title: 'A second, different operator must approve' },
  // Freezes (central bank and bank, recorded separately)
  wallet_already_frozen: { status: 409, title: 'The wallet is already frozen by this authority' },
  wallet_not_frozen: { status: 409, title: 'The wallet holds no freeze of this authority to lift' },
  frozen_by_central_bank: { status: 403, title: 'A central-bank freeze holds; only the central bank can lift it' },
  // Payment requests (pull payments)
  payment_request_not_found: { status: 404, title: 'No such payment request for this bank' },
  payment_request_paid: { status: 409, title: 'The payment request is paid; it can no longer be cancelled' },
  // Events and webhooks (docs/events.md)
  cursor_expired: { status: 410, title: 'Events after this cursor are past their retention; read the feed again from the oldest retained event (omit `after`)' },
  webhook_endpoint_not_found: { status: 404, title: 'No such webhook endpoint for this bank' },
  webhook_endpoint_limit: { status: 409, title: 'The bank has as many webhook endpoints as allowed; delete one first' },
  dead_letter_not_found: { status: 404, title: "No such dead letter for this bank's endpoint" },
  webhooks_not_configured: { status: 503, title: 'Webhooks are not configured on this gateway (no sealing key for endpoint secrets)' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/**
 * Settlement outcome codes, in the order the settlement core checks them (first failing rule
 * wins). A rejected transfer is recorded with its code and is final: resubmitting returns it.
 */
export const REJECTION_CODES = [
  'malformed_item',
  'nonce_reused',
  'expired',
  'hold_expiry_invalid',
  'payer_not_found',
  'payee_not_found',
  'payer_closed',
  'payee_closed',
  'payer_frozen',
  'payee_frozen',
  'request_not_found',
  'request_payee_mismatch',
  'request_cancelled',
  'request_already_paid',
  'request_expired',
  'request_amount_mismatch',
  'exceeds_payment_limit',
  'exceeds_daily_limit',
  'insufficient_funds',
  'exceeds_balance_limit',
  // A capture or void of a hold is answered with one of these when it cannot apply (checked in
  // this order after its bank's authority); it is not recorded and changes nothing.
  'hold_not_found',
  'hold_action_not_allowed',
  'hold_not_open',
  'hold_expired',
  'capture_exceeds_hold',
] as const;

export type RejectionCode = (typeof REJECTION_CODES)[number];

/** The codes only holds are answered with (see ledger/holds.ts): a transfer never is. */
export const HOLD_ONLY_CODES: readonly RejectionCode[] = ['hold_expiry_invalid', 'hold_not_found', 'hold_action_not_allowed', 'hold_not_open', 'hold_expired', 'capture_exceeds_hold'];

export const REJECTION_TITLES: Record<RejectionCode, string> = {
  malformed_item: 'The item holds a field the ledger cannot store (no gateway sends one); it is answered, not recorded, and changes nothing',
  nonce_reused: 'The payer already used this nonce for another transfer',
  expired: 'The transfer (or hold) expired before settlement',
  hold_expiry_invalid: 'A hold whose expiry is not after the batch time, or more than LIMITS.holdDurationMsMax (30 days) after it',
  payer_not_found: 'The payer wallet does not exist, or is not a wallet of the submitting bank',
  payee_not_found: 'The payee wallet does not exist',
  payer_closed: 'The payer wallet is closed',
  payee_closed: 'The payee wallet is closed',
  payer_frozen: 'The payer wallet is frozen',
  payee_frozen: 'The payee wallet is frozen',
  request_not_found: "The transfer names a payment request that does not exist on its payee's shard",
  request_payee_mismatch: 'The transfer names a payment request of another payee wallet',
  request_cancelled: "The payment request was cancelled by the payee's bank",
  request_already_paid: 'The payment request was already paid by another transfer (a request is paid at most once)',
  request_expired: 'The payment request expired before settlement',
  request_amount_mismatch: 'The amount differs from the fixed amount of the payment request',
  exceeds_payment_limit: "The amount is above the payer tier's per-payment cap",
  exceeds_daily_limit: "The payment would take the payer over its tier's daily cap",
  insufficient_funds: 'The payer balance does not cover the amount',
  exceeds_balance_limit: "The payment would take the payee over its tier's balance cap",
  hold_not_found: "A capture or void names no hold of this shard, or its bank is neither the hold's payer's nor its payee's",
  hold_action_not_allowed: "A capture by a bank other than the payee's, or a void by a bank other than the payer's",
  hold_not_open: 'A capture or void of a hold already captured, voided or refused (by another request)',
  hold_expired: 'A capture or void of a hold past its expiry: the expiry was applied first and returned the money',
  capture_exceeds_hold: 'A capture of more than the amount held',
};

/**
 * What another bank may learn of a rejection. A code that describes the payee wallet's state is
 * shown to the payer's bank, when the payee is another bank's customer, only as
 * `payee_unavailable`; one that describes the payer wallet's state is shown to the payee's bank,
 * when the payer is another bank's customer, only as `payer_unavailable`. Otherwise a bank could
 * probe a foreign customer (its exact balance through `exceeds_balance_limit`, whether it is
 * frozen or closed). The stored rows and leaves keep the precise code, for the central bank.
 */
export const FOREIGN_VIEW_CODES = ['payee_unavailable', 'payer_unavailable'] as const;

export type ForeignViewCode = (typeof FOREIGN_VIEW_CODES)[number];

/** What each generic code means, for docs/errors.md. */
export const FOREIGN_VIEW_TITLES: Record<ForeignViewCode, string> = {
  payee_unavailable: 'The payee, a customer of another bank, cannot receive this payment (closed, frozen or over its cap: only its bank and the central bank see which)',
  payer_unavailable: 'The payer, a customer of another bank, cannot make this payment (closed, frozen, over a cap or short of funds: only its bank and the central bank see which)',
};

const PAYEE_SIDE_CODES: ReadonlySet<string> = new Set<RejectionCode>(['payee_closed', 'payee_frozen', 'exceeds_balance_limit']);
const PAYER_SIDE_CODES: ReadonlySet<string> = new Set<RejectionCode>(['payer_closed', 'payer_frozen', 'exceeds_payment_limit', 'exceeds_daily_limit', 'insufficient_funds']);

/** The rejection code `viewerBankId` may see of a transfer between the given banks' wallets (null bank: unknown wallet). */
export function rejectionCodeSeenBy(code: string | null, viewerBankId: string, payerBankId: string | null, payeeBankId: string | null): string | null {
  if (code === null) return null;
  if (PAYEE_SIDE_CODES.has(code) && payeeBankId !== viewerBankId) return 'payee_unavailable';
  if (PAYER_SIDE_CODES.has(code) && payerBankId !== viewerBankId) return 'payer_unavailable';
  return code;
}
