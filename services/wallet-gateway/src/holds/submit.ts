/**
 * Placing holds (the payer's bank, a customer-signed hold) and capturing or voiding them (the
 * payee's bank, the payer's bank, each on its own signed request): check what can be checked
 * without the ledger, queue the item for the hold's shard, wait (bounded) for the committed
 * outcome and answer with the hold as recorded. Settlement decides again on its own authority.
 */
import { encodeHold, holdActionIdOf, holdIdOf } from '@cbdc/shared/canonical-hold';
import { ed25519VerifyRaw } from '@cbdc/shared/crypto';
import { API_ERRORS, type ApiErrorCode } from '@cbdc/shared/errors';
import type { HoldAction, HoldActionAuthority } from '@cbdc/shared/hold-authority';
import type { JobHold, JobHoldAction, JobOutcome } from '@cbdc/shared/job';
import { ApiError, problemOf, type Problem } from '@cbdc/shared/problem';
import type { SignedHoldWire } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import type { CommittedOutcome, GatewayJobItem } from '../transfers/settlement-client.js';
import { holdById, holdView, type HoldRow, type HoldView } from './store.js';

/** What a hold request is answered with: the recorded hold, a pending one, or a problem. */
export type HoldAnswer = { kind: 'recorded'; view: HoldView } | { kind: 'pending'; view: HoldView | PendingHoldView } | { kind: 'problem'; problem: Problem };

export interface PendingHoldView {
  id: string;
  status: 'pending';
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  holdExpiresAtMs: string;
}

const refuse = (code: ApiErrorCode, field: string, rule: string, message: string) => new ApiError(code, message, { errors: [{ field, rule, message }] });

/** Queues one item and waits (bounded) for its committed outcome; null if it is still pending. */
async function settleOne(ctx: GatewayContext, shard: number, item: GatewayJobItem, async: boolean): Promise<CommittedOutcome | null> {
  ctx.settlement.checkCapacity([shard], 1);
  const submission = ctx.settlement.submit([{ shard, item }]);
  await submission.enqueued;
  if (async) {
    ctx.settlement.release([item.id]);
    return null;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ctx.limits.settleWaitMs)));
  const outcome = await Promise.race([submission.outcomes[0], timeout]);
  clearTimeout(timer);
  if (outcome === null) ctx.settlement.release([item.id]);
  return outcome;
}

/** Checks a customer-signed hold at the gateway; throws the first problem (nothing queued). */
async function checkHold(ctx: GatewayContext, bankId: string, w: SignedHoldWire, bytes: Buffer): Promise<{ shard: number }> {
  ctx.ledger.writable(ctx.ledger.ofWallet(w.payerWalletId));
  const facts = await ctx.walletFacts.get([w.payerWalletId, w.payeeWalletId]);
  const payer = facts.get(w.payerWalletId);
  const payee = facts.get(w.payeeWalletId);
  if (!payer || payer.bankId !== bankId)
    throw new ApiError('wallet_not_found', `payer ${w.payerWalletId} is not a wallet of bank ${bankId}`, { errors: [{ field: 'body/payerWalletId', rule: 'own_wallet', message: 'must be a wallet of the calling bank' }] });
  if (!payee) throw new ApiError('wallet_not_found', `payee ${w.payeeWalletId} does not exist`, { errors: [{ field: 'body/payeeWalletId', rule: 'existing_wallet', message: 'must be an existing wallet' }] });
  if (payer.kind !== 'customer') throw refuse('wallet_is_treasury', 'body/payerWalletId', 'customer_wallet', 'a hold is placed on a customer wallet');
  if (w.payerWalletId === w.payeeWalletId) throw refuse('same_wallet', 'body/payeeWalletId', 'differs_from_payer', 'must differ from the payer');
  if (payee.kind === 'treasury') throw refuse('payee_is_treasury', 'body/payeeWalletId', 'customer_wallet', 'a hold pays a customer wallet');
  const now = BigInt(ctx.now());
  if (BigInt(w.expiresAtMs) <= now) throw refuse('transfer_expired', 'body/expiresAtMs', 'in_future', `expired at ${w.expiresAtMs}; the server time is ${now}`);
  if (BigInt(w.expiresAtMs) > now + BigInt(ctx.limits.expiryAheadMsMax)) throw refuse('expiry_too_far', 'body/expiresAtMs', 'expiry_window', `must be at most ${ctx.limits.expiryAheadMsMax} ms after the server time`);
  const holdExpiry = BigInt(w.holdExpiresAtMs);
  if (holdExpiry <= now || holdExpiry > now + BigInt(ctx.limits.holdDurationMsMax)) {
    throw refuse('hold_expiry_invalid', 'body/holdExpiresAtMs', 'hold_window', `must be after the server time ${now} and at most ${ctx.limits.holdDurationMsMax} ms after it`);
  }
  if (payer.status === 'closed') throw refuse('wallet_closed', 'body/payerWalletId', 'open_wallet', 'the payer wallet is closed');
  if (!ed25519VerifyRaw(payer.publicKey!, bytes, Buffer.from(w.signature, 'hex')))
    throw refuse('bad_signature', 'body/signature', 'ed25519_customer_signature', "does not verify against the payer wallet's public key over the canonical hold bytes");
  return { shard: payer.shard };
}

/** Places a customer-signed hold for the payer's bank. A hold recorded before is answered as recorded. */
export async function placeHold(ctx: GatewayContext, bankId: string, w: SignedHoldWire, async: boolean): Promise<HoldAnswer> {
  const bytes = encodeHold({ ...w, amountMinor: BigInt(w.amountMinor), nonce: BigInt(w.nonce), expiresAtMs: BigInt(w.expiresAtMs), holdExpiresAtMs: BigInt(w.holdExpiresAtMs) });
  const id = holdIdOf(bytes);
  const db = ctx.ledger.ofWallet(w.payerWalletId);
  // A resubmission of a recorded hold (its id is its signed content) learns its outcome, even late.
  const recorded = await ctx.ledger.read(db, (sql) => holdById(sql, id));
  if (recorded && recorded.bank_id === bankId) return { kind: 'recorded', view: holdView(recorded, bankId) };
  const { shard } = await checkHold(ctx, bankId, w, bytes);
  const item: JobHold = { type: 'hold', id, bankId, ...w, submittedAtMs: ctx.now() };
  const outcome = await settleOne(ctx, shard, item, async);
  const pending: PendingHoldView = { id, status: 'pending', payerWalletId: w.payerWalletId, payeeWalletId: w.payeeWalletId, amountMinor: w.amountMinor, holdExpiresAtMs: w.holdExpiresAtMs };
  if (outcome === null) return { kind: 'pending', view: pending };
  if (outcome.status === 'unauthorized') return { kind: 'problem', problem: authorityRefused('body/signature') };
  if (outcome.code === 'malformed_item') return { kind: 'problem', problem: problemOf('invalid_request', 'settlement cannot store this hold', [{ field: 'body', rule: 'storable', message: 'a field the ledger cannot store' }]) };
  const row = await ctx.ledger.read(db, (sql) => holdById(sql, id));
  return row ? { kind: 'recorded', view: holdView(row, bankId) } : { kind: 'pending', view: pending };
}

const authorityRefused = (field: string) =>
  problemOf('authority_refused', 'settlement refused it: its signature does not verify against the key in force; nothing was recorded', [{ field, rule: 'authority_in_force', message: 'does not verify against the key in force' }]);

/** The problem for a settlement refusal of a capture or void (the codes are also API errors). */
function actionRefused(outcome: JobOutcome): Problem {
  const code = outcome.code && outcome.code in API_ERRORS ? (outcome.code as ApiErrorCode) : 'invalid_request';
  const field = code === 'capture_exceeds_hold' ? 'body/amountMinor' : 'params/holdId';
  return problemOf(code, `settlement refused it: ${outcome.code}`, [{ field, rule: outcome.code ?? 'refused', message: API_ERRORS[code].title }]);
}

/** What the gateway can refuse before queueing a capture or void, against the hold as recorded. */
function checkAction(h: HoldRow, bankId: string, action: HoldAction, amountMinor: bigint | null): void {
  if (action === 'capture' && h.payee_bank_id !== bankId) throw refuse('hold_action_not_allowed', 'params/holdId', 'payee_bank', "only the payee's bank captures a hold");
  if (action === 'void' && h.bank_id !== bankId) throw refuse('hold_action_not_allowed', 'params/holdId', 'payer_bank', "only the payer's bank voids a hold");
  if (h.status === 'expired') throw refuse('hold_expired', 'params/holdId', 'open_hold', `the hold expired at ${h.hold_expires_at_ms}; its money went back to the payer`);
  if (h.status !== 'open') throw refuse('hold_not_open', 'params/holdId', 'open_hold', `the hold is ${h.status}`);
  if (amountMinor !== null && amountMinor > h.amount_minor) throw refuse('capture_exceeds_hold', 'body/amountMinor', 'at_most_held', `must be at most the amount held, ${h.amount_minor}`);
}

/**
 * Captures (payee's bank) or voids (payer's bank) a recorded hold, on the bank's own signed request
 * (its authority, carried to settlement). `h` is the hold as read for the request; the answer is the
 * hold as recorded once the action applied (also when this very request applied it before).
 */
export async function actOnHold(ctx: GatewayContext, h: HoldRow, bankId: string, action: HoldAction, amountMinor: bigint | null, authority: HoldActionAuthority, async: boolean): Promise<HoldAnswer> {
  const id = holdActionIdOf(bankId, authority.idempotencyKey);
  const db = ctx.ledger.ofShard(h.shard);
  ctx.ledger.writable(db);
  const now = (await ctx.ledger.read(db, (sql) => holdById(sql, h.id)))!;
  if (now.closed_by === id) return { kind: 'recorded', view: holdView(now, bankId) };
  checkAction(now, bankId, action, amountMinor);
  const item: JobHoldAction = { type: action === 'capture' ? 'hold_capture' : 'hold_void', id, holdId: h.id, bankId, amountMinor: amountMinor?.toString() ?? null, authority, submittedAtMs: ctx.now() };
  const outcome = await settleOne(ctx, h.shard, item, async);
  if (outcome === null) return { kind: 'pending', view: holdView(now, bankId) };
  if (outcome.status === 'unauthorized') return { kind: 'problem', problem: authorityRefused('header/x-cbdc-signature') };
  if (outcome.status === 'rejected') return { kind: 'problem', problem: actionRefused(outcome) };
  const after = (await ctx.ledger.read(db, (sql) => holdById(sql, h.id)))!;
  return after.closed_by === id ? { kind: 'recorded', view: holdView(after, bankId) } : { kind: 'problem', problem: problemOf('hold_not_open', `the hold is ${after.status}`) };
}
