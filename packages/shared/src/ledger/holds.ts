/**
 * Holds (conditional payments) in the settlement core, after TigerBeetle's pending transfers: a
 * hold moves an amount from the payer's available balance into held money; then exactly one of a
 * capture (full or partial, by the payee's bank: the captured amount goes to the payee, the rest
 * back to the payer at once), a void (by the payer's bank: everything back) or an expiry (by the
 * system, at the hold's expiry: everything back) closes it. Pure, like settle.ts, which calls
 * `HoldBook` for the hold items of a batch; everything a hold needs is prefetched by the store.
 *
 * Everything happens at the payer's shard, where the hold lives. A capture whose payee lives on
 * another shard becomes money in flight, exactly like a transfer between shards: a credit (under
 * the hold's id) goes to the payee's shard, which applies or refuses it, and the credit result
 * closes it here, returning a refused amount to the payer exactly once.
 *
 * Rules for placing a hold, in precedence order (the first that fails names the outcome):
 *   unauthorized (the customer's signature does not verify against the payer's key in force;
 *     not recorded), malformed_item (not recorded), duplicate (answered, not recorded again),
 *   nonce_reused (the payer's nonces are shared with its transfers), expired (the signature's
 *   expiry), hold_expiry_invalid, payer_not_found, payee_not_found, payer_closed, payer_frozen,
 *   exceeds_payment_limit, exceeds_daily_limit, insufficient_funds.
 * A hold is a payment: the tier's per-payment cap applies to its amount and the amount counts
 * against the payer's daily outflow on the day it is placed, once, whatever becomes of it (as a
 * card authorisation does; nothing is given back when it is voided, expires or is captured in
 * part). The payee's rules (closed, frozen, balance cap) apply when the captured money arrives.
 *
 * Rules for a capture or a void, after the bank's authority (its signed request, verified against
 * its key; unauthorized is not recorded): hold_not_found (no such hold, or the bank is neither the
 * payer's nor the payee's), duplicate (this very request closed it already), hold_action_not_allowed
 * (a capture by a bank other than the payee's, a void by one other than the payer's), then the
 * hold's expiry is applied if it is due (so that whichever comes first wins), hold_expired,
 * hold_not_open, capture_exceeds_hold. A refused action changes nothing.
 */
import type { CaptureOutcome, HoldLeafContent } from '../canonical-hold.js';
import type { NewEvent } from '../events.js';
import type { RejectionCode } from '../errors.js';
import { TRANSFER_ID_PATTERN } from '../ids.js';
import { LIMITS } from '../limits.js';
import { AMOUNT_MINOR_MAX } from '../money.js';
import { memoProblem } from '../text.js';
import { limitsOf } from '../tiers.js';
import type { BatchResult, BatchState, ItemAuthority, Outcome, WalletState } from './settle.js';

/** How long a hold may last: one bound for the gateway and the core (LIMITS, not configurable per service). */
export const HOLD_DURATION_MS_MAX = LIMITS.holdDurationMsMax;

export type HoldStatus = 'open' | 'captured' | 'voided' | 'expired' | 'rejected';

/** A customer-signed hold, at the payer's shard. */
export interface HoldItem {
  type: 'hold';
  id: string;
  /** The bank whose authenticated request this is: only its own wallets may hold. */
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  nonce: bigint;
  /** The signature's expiry: the hold must be placed before this. */
  expiresAtMs: bigint;
  /** When the hold's money returns to the payer unless captured or voided first. */
  holdExpiresAtMs: bigint;
  memo: string;
  /** Null if the item carries no consistent authority (see @cbdc/shared/job). */
  authority: ItemAuthority | null;
}

/** A bank's capture (the payee's bank) or void (the payer's bank) of a hold of this shard. */
export interface HoldActionItem {
  type: 'hold_capture' | 'hold_void';
  /** The action's id: holdActionIdOf(bank, Idempotency-Key). */
  id: string;
  holdId: string;
  bankId: string;
  /** The amount captured; null for a void. */
  amountMinor: bigint | null;
  /** The bank's signed request; null if the item carries no consistent one. */
  authority: ItemAuthority | null;
}

/** The system's expiry of a hold of this shard (made by its own settlement worker, never by a request). */
export interface HoldExpireItem {
  type: 'hold_expire';
  /** The hold's id. */
  id: string;
}

export type AnyHoldItem = HoldItem | HoldActionItem | HoldExpireItem;

/** A hold of this shard as recorded before the batch. */
export interface HoldRecord {
  id: string;
  /** The payer's bank (which placed it). */
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  /** The payee's bank, as recorded with the payee wallet when the hold was placed. */
  payeeBankId: string | null;
  amountMinor: bigint;
  holdExpiresAtMs: bigint;
  status: HoldStatus;
  /** The capture or void that closed it, if one did. */
  closedBy: string | null;
  /** Whether the payee lives on another shard. */
  payeeRemote: boolean;
}

/** A capture whose money is in flight to the payee's shard. */
export interface CaptureInFlight {
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
}

/** What the store prefetches for the hold items of a batch. */
export interface HoldBatchState {
  /** The holds of this shard the items name. */
  records: ReadonlyMap<string, HoldRecord>;
  /** The bank of each payee wallet a new hold names (wherever it lives); absent if no such wallet. */
  payeeBanks: ReadonlyMap<string, string>;
  /** Which payee wallets named by new holds live on another shard. */
  remotePayees: ReadonlySet<string>;
  /** Captures of this shard's holds in flight, by hold id (only for the credit results of the batch). */
  capturesInFlight: ReadonlyMap<string, CaptureInFlight>;
}

export const NO_HOLDS: HoldBatchState = { records: new Map(), payeeBanks: new Map(), remotePayees: new Set(), capturesInFlight: new Map() };

/** A change of a hold's state in a batch: its leaf, and what the store writes. */
export interface HoldPlaced {
  item: HoldItem;
  status: 'open' | 'rejected';
  code: RejectionCode | null;
  payeeBankId: string | null;
  leafIndex: number;
}

export interface HoldClosed {
  holdId: string;
  status: 'captured' | 'voided' | 'expired';
  capturedMinor: bigint;
  capture: CaptureOutcome;
  /** The final state of the captured money: settled, rejected (returned), or in flight; null unless captured. */
  captureStatus: 'settled' | 'rejected' | 'in_flight' | null;
  captureCode: RejectionCode | null;
  /** The capture or void that closed it; null for an expiry. */
  closedBy: string | null;
  leafIndex: number;
}

export interface HoldChanges {
  placed: HoldPlaced[];
  closed: HoldClosed[];
  /** Captures whose money in flight reached its end: credited, or refused and returned to the payer. */
  captureFinal: Array<{ holdId: string; status: 'settled' | 'rejected'; code: RejectionCode | null }>;
}

export function noHoldChanges(): HoldChanges {
  return { placed: [], closed: [], captureFinal: [] };
}

/** What settleBatch lends the hold rules: its state, its working wallets and results. */
export interface HoldContext {
  state: BatchState;
  today: number;
  current(id: string): WalletState | undefined;
  put(w: WalletState): void;
  seenIds: Set<string>;
  seenNonces: Set<string>;
  r: BatchResult;
  checkPayee(payee: WalletState | undefined, amount: bigint): RejectionCode | null;
}

export function isHoldItem(item: { type: string }): item is AnyHoldItem {
  return item.type === 'hold' || item.type === 'hold_capture' || item.type === 'hold_void' || item.type === 'hold_expire';
}

const STORABLE_ID = /^[\x21-\x7e]{1,64}$/;
const storableId = (v: unknown) => typeof v === 'string' && STORABLE_ID.test(v);
const u63 = (v: unknown) => typeof v === 'bigint' && v >= 0n && v <= AMOUNT_MINOR_MAX;

/** Why a hold item cannot be stored as it is (answered malformed_item, not recorded), or null. */
export function checkHoldStorable(item: HoldItem): string | null {
  if (typeof item.id !== 'string' || !TRANSFER_ID_PATTERN.test(item.id)) return 'id: must be 64 lowercase hex digits';
  if (!storableId(item.bankId)) return 'bankId: must be 1 to 64 printable ASCII characters';
  if (!storableId(item.payerWalletId)) return 'payerWalletId: must be 1 to 64 printable ASCII characters';
  if (!storableId(item.payeeWalletId) || item.payeeWalletId === item.payerWalletId) return 'payeeWalletId: must be 1 to 64 printable ASCII characters, not the payer';
  if (!u63(item.amountMinor) || item.amountMinor < 1n) return 'amountMinor: must be 1 to 2^63-1';
  if (!u63(item.nonce)) return 'nonce: must be 0 to 2^63-1';
  if (!u63(item.expiresAtMs) || !u63(item.holdExpiresAtMs)) return 'expiresAtMs, holdExpiresAtMs: must be 0 to 2^63-1';
  return typeof item.memo === 'string' ? memoProblem(item.memo) : 'memo: must be a string';
}

/** Why a capture or void cannot be stored (answered malformed_item), or null. */
export function checkHoldActionStorable(item: HoldActionItem): string | null {
  if (typeof item.id !== 'string' || !TRANSFER_ID_PATTERN.test(item.id)) return 'id: must be 64 lowercase hex digits';
  if (typeof item.holdId !== 'string' || !TRANSFER_ID_PATTERN.test(item.holdId)) return 'holdId: must be 64 lowercase hex digits';
  if (!storableId(item.bankId)) return 'bankId: must be 1 to 64 printable ASCII characters';
  if (item.type === 'hold_capture' && (!u63(item.amountMinor) || item.amountMinor! < 1n)) return 'amountMinor: must be 1 to 2^63-1';
  return null;
}

/** The first rule a new hold breaks against the current state, or null if it can be placed. */
export function checkHold(item: HoldItem, payer: WalletState | undefined, payeeBankId: string | undefined, s: { nowMs: number; today: number; nonceUsed: boolean }): RejectionCode | null {
  if (s.nonceUsed) return 'nonce_reused';
  const now = BigInt(s.nowMs);
  if (item.expiresAtMs <= now) return 'expired';
  if (item.holdExpiresAtMs <= now || item.holdExpiresAtMs > now + BigInt(HOLD_DURATION_MS_MAX)) return 'hold_expiry_invalid';
  if (!payer || payer.bankId !== item.bankId) return 'payer_not_found';
  if (payeeBankId === undefined) return 'payee_not_found';
  if (payer.status === 'closed') return 'payer_closed';
  if (payer.status === 'frozen') return 'payer_frozen';
  const limits = limitsOf(payer.kind, payer.tier);
  if (limits.paymentMaxMinor !== null && item.amountMinor > limits.paymentMaxMinor) return 'exceeds_payment_limit';
  if (limits.dailyOutflowMaxMinor !== null) {
    const spent = payer.dailySpentDay === s.today ? payer.dailySpentMinor : 0n;
    if (spent + item.amountMinor > limits.dailyOutflowMaxMinor) return 'exceeds_daily_limit';
  }
  if (payer.balanceMinor < item.amountMinor) return 'insufficient_funds';
  return null;
}

/** The first rule a capture or void breaks against a recorded hold, before its expiry is considered (null: go on). */
export function checkHoldAction(item: HoldActionItem, hold: HoldRecord | undefined): RejectionCode | 'duplicate' | null {
  if (!hold || (item.bankId !== hold.bankId && item.bankId !== hold.payeeBankId)) return 'hold_not_found';
  if (hold.closedBy === item.id) return 'duplicate';
  if (item.type === 'hold_capture' ? item.bankId !== hold.payeeBankId : item.bankId !== hold.bankId) return 'hold_action_not_allowed';
  return null;
}

/**
 * The hold items of one batch, applied in order against the prefetched holds and the batch's
 * working wallets. Each `settle` returns how much money the item let into the shard (a returned
 * capture) or out of it (a capture in flight), for the batch's conservation check.
 */
export class HoldBook {
  private readonly holds = new Map<string, HoldRecord>();
  private readonly seenResults = new Set<string>();

  constructor(private readonly c: HoldContext) {}

  private get prefetched(): HoldBatchState {
    return this.c.state.holds ?? NO_HOLDS;
  }

  /** Whether a credit result is the answer to a capture of this shard in flight. */
  answersCapture(id: string): boolean {
    return this.prefetched.capturesInFlight.has(id);
  }

  private hold(id: string): HoldRecord | undefined {
    return this.holds.get(id) ?? this.prefetched.records.get(id);
  }

  private leaf(content: HoldLeafContent): number {
    this.c.r.leaves.push({ type: 'hold', leaf: content });
    return this.c.r.leaves.length - 1;
  }

  private tell(e: NewEvent): void {
    this.c.r.events.push(e);
  }

  private wallet(id: string, why: string): WalletState {
    const w = this.c.current(id);
    if (!w) throw new Error(`invariant broken: wallet ${id} of ${why} is missing`);
    return w;
  }

  /** Applies one hold item; returns the money it lets into the shard (negative: out of it). */
  settle(item: AnyHoldItem | { type: 'credit_result'; id: string; status: 'applied' | 'rejected'; code: RejectionCode | null }): bigint {
    if (item.type === 'hold') return this.place(item);
    if (item.type === 'hold_expire') return this.expireItem(item);
    if (item.type === 'credit_result') return this.captureResult(item);
    return this.act(item);
  }

  private outcome(o: Outcome): void {
    this.c.r.outcomes.push(o);
  }

  private place(item: HoldItem): bigint {
    const { state } = this.c;
    const payer = this.c.current(item.payerWalletId);
    const a = item.authority;
    if (!a || a.by !== 'customer' || payer?.publicKey == null || !state.verify(payer.publicKey, a.message, a.signature)) {
      this.outcome({ status: 'unauthorized' });
      return 0n;
    }
    if (checkHoldStorable(item) !== null) {
      this.outcome({ status: 'rejected', code: 'malformed_item' });
      return 0n;
    }
    if (state.recordedIds.has(item.id) || this.c.seenIds.has(item.id)) {
      this.outcome({ status: 'duplicate' });
      return 0n;
    }
    this.c.seenIds.add(item.id);
    const nonceKey = `${item.payerWalletId}:${item.nonce}`;
    const nonceUsed = state.usedNonces.has(nonceKey) || this.c.seenNonces.has(nonceKey);
    this.c.seenNonces.add(nonceKey);
    const payeeBankId = this.prefetched.payeeBanks.get(item.payeeWalletId);
    const code = checkHold(item, payer, payeeBankId, { nowMs: state.nowMs, today: this.c.today, nonceUsed });
    const content = { holdId: item.id, payerWalletId: item.payerWalletId, payeeWalletId: item.payeeWalletId, amountMinor: item.amountMinor, capturedMinor: 0n, capture: 'none' as const };
    if (code !== null) {
      const leafIndex = this.leaf({ ...content, event: 'rejected', code });
      this.c.r.holds.placed.push({ item, status: 'rejected', code, payeeBankId: payeeBankId ?? null, leafIndex });
      this.outcome({ status: 'rejected', code });
      this.tell({ bankId: item.bankId, type: 'hold.rejected', subjectId: item.id, walletId: payer?.bankId === item.bankId ? payer.id : null, amountMinor: item.amountMinor, code, data: { payeeWalletId: item.payeeWalletId } });
      return 0n;
    }
    const p = payer!;
    const spentBefore = p.dailySpentDay === this.c.today ? p.dailySpentMinor : 0n;
    this.c.put({ ...p, balanceMinor: p.balanceMinor - item.amountMinor, heldMinor: p.heldMinor + item.amountMinor, dailySpentDay: this.c.today, dailySpentMinor: spentBefore + item.amountMinor });
    const leafIndex = this.leaf({ ...content, event: 'placed', code: null });
    this.c.r.holds.placed.push({ item, status: 'open', code: null, payeeBankId: payeeBankId!, leafIndex });
    this.holds.set(item.id, {
      id: item.id,
      bankId: item.bankId,
      payerWalletId: item.payerWalletId,
      payeeWalletId: item.payeeWalletId,
      payeeBankId: payeeBankId!,
      amountMinor: item.amountMinor,
      holdExpiresAtMs: item.holdExpiresAtMs,
      status: 'open',
      closedBy: null,
      payeeRemote: this.prefetched.remotePayees.has(item.payeeWalletId),
    });
    this.outcome({ status: 'settled' });
    this.tell({ bankId: item.bankId, type: 'hold.placed', subjectId: item.id, walletId: p.id, amountMinor: item.amountMinor, code: null, data: { payeeWalletId: item.payeeWalletId, holdExpiresAtMs: item.holdExpiresAtMs.toString() } });
    return 0n;
  }

  /** Releases an open hold's money to its payer (void or expiry) and records the leaf. */
  private release(hold: HoldRecord, status: 'voided' | 'expired', closedBy: string | null): void {
    const payer = this.wallet(hold.payerWalletId, `hold ${hold.id}`);
    this.c.put({ ...payer, balanceMinor: payer.balanceMinor + hold.amountMinor, heldMinor: payer.heldMinor - hold.amountMinor });
    const leafIndex = this.leaf({ holdId: hold.id, event: status, payerWalletId: hold.payerWalletId, payeeWalletId: hold.payeeWalletId, amountMinor: hold.amountMinor, capturedMinor: 0n, capture: 'none', code: null });
    this.c.r.holds.closed.push({ holdId: hold.id, status, capturedMinor: 0n, capture: 'none', captureStatus: null, captureCode: null, closedBy, leafIndex });
    this.holds.set(hold.id, { ...hold, status, closedBy });
    this.tell({ bankId: hold.bankId, type: status === 'voided' ? 'hold.voided' : 'hold.expired', subjectId: hold.id, walletId: hold.payerWalletId, amountMinor: hold.amountMinor, code: null, data: { payeeWalletId: hold.payeeWalletId } });
  }

  /** Expires `hold` if it is open and due; whether it did. */
  private expireIfDue(hold: HoldRecord): boolean {
    if (hold.status !== 'open' || hold.holdExpiresAtMs > BigInt(this.c.state.nowMs)) return false;
    this.release(hold, 'expired', null);
    return true;
  }

  private expireItem(item: HoldExpireItem): bigint {
    const hold = this.hold(item.id);
    this.outcome(hold && this.expireIfDue(hold) ? { status: 'applied' } : { status: 'duplicate' });
    return 0n;
  }

  private act(item: HoldActionItem): bigint {
    const { state } = this.c;
    const a = item.authority;
    const key = state.bankKeys.get(item.bankId);
    if (!a || a.by !== 'bank' || key === undefined || !state.verify(key, a.message, a.signature)) {
      this.outcome({ status: 'unauthorized' });
      return 0n;
    }
    if (checkHoldActionStorable(item) !== null) {
      this.outcome({ status: 'rejected', code: 'malformed_item' });
      return 0n;
    }
    let hold = this.hold(item.holdId);
    const first = checkHoldAction(item, hold);
    if (first === 'duplicate') {
      this.outcome({ status: 'duplicate' });
      return 0n;
    }
    if (first !== null) {
      this.outcome({ status: 'rejected', code: first });
      return 0n;
    }
    // Whichever the shard applies first wins: a due expiry is applied before the action.
    if (this.expireIfDue(hold!)) hold = this.hold(item.holdId);
    const h = hold!;
    const refusal: RejectionCode | null = h.status === 'expired' ? 'hold_expired' : h.status !== 'open' ? 'hold_not_open' : item.type === 'hold_capture' && item.amountMinor! > h.amountMinor ? 'capture_exceeds_hold' : null;
    if (refusal !== null) {
      this.outcome({ status: 'rejected', code: refusal });
      return 0n;
    }
    this.outcome({ status: 'applied' });
    if (item.type === 'hold_void') {
      this.release(h, 'voided', item.id);
      return 0n;
    }
    return this.capture(h, item.amountMinor!, item.id);
  }

  /**
   * Captures `amount` of an open hold: the rest back to the payer at once; the captured amount to
   * a payee here (or back to the payer if it refuses it), or in flight to the payee's shard.
   */
  private capture(hold: HoldRecord, amount: bigint, closedBy: string): bigint {
    const payer = this.wallet(hold.payerWalletId, `hold ${hold.id}`);
    const returned = hold.amountMinor - amount;
    const base = { holdId: hold.id, event: 'captured' as const, payerWalletId: hold.payerWalletId, payeeWalletId: hold.payeeWalletId, amountMinor: hold.amountMinor, capturedMinor: amount };
    const closed = { holdId: hold.id, status: 'captured' as const, capturedMinor: amount, closedBy };
    this.holds.set(hold.id, { ...hold, status: 'captured', closedBy });
    this.tell({ bankId: hold.bankId, type: 'hold.captured', subjectId: hold.id, walletId: hold.payerWalletId, amountMinor: amount, code: null, data: { payeeWalletId: hold.payeeWalletId, returnedMinor: returned.toString() } });
    if (hold.payeeRemote) {
      this.c.put({ ...payer, heldMinor: payer.heldMinor - hold.amountMinor, balanceMinor: payer.balanceMinor + returned, inFlightOutMinor: payer.inFlightOutMinor + amount });
      const leafIndex = this.leaf({ ...base, capture: 'debited', code: null });
      this.c.r.holds.closed.push({ ...closed, capture: 'debited', captureStatus: 'in_flight', captureCode: null, leafIndex });
      this.c.r.creditsToSend.push({ id: hold.id, payeeWalletId: hold.payeeWalletId, amountMinor: amount });
      return -amount;
    }
    const payee = this.c.current(hold.payeeWalletId);
    const code = this.c.checkPayee(payee, amount);
    if (code !== null) {
      // The payee here cannot take it: the whole hold goes back to the payer, exactly once.
      this.c.put({ ...payer, heldMinor: payer.heldMinor - hold.amountMinor, balanceMinor: payer.balanceMinor + hold.amountMinor });
      const leafIndex = this.leaf({ ...base, capture: 'rejected', code });
      this.c.r.holds.closed.push({ ...closed, capture: 'rejected', captureStatus: 'rejected', captureCode: code, leafIndex });
      this.tell({ bankId: hold.bankId, type: 'hold.capture_returned', subjectId: hold.id, walletId: hold.payerWalletId, amountMinor: amount, code, data: { payeeWalletId: hold.payeeWalletId } });
      return 0n;
    }
    this.c.put({ ...payer, heldMinor: payer.heldMinor - hold.amountMinor, balanceMinor: payer.balanceMinor + returned });
    const payeeNow = this.wallet(hold.payeeWalletId, `hold ${hold.id}`);
    this.c.put({ ...payeeNow, balanceMinor: payeeNow.balanceMinor + amount });
    const leafIndex = this.leaf({ ...base, capture: 'settled', code: null });
    this.c.r.holds.closed.push({ ...closed, capture: 'settled', captureStatus: 'settled', captureCode: null, leafIndex });
    this.tell({ bankId: payeeNow.bankId, type: 'payment.received', subjectId: hold.id, walletId: payeeNow.id, amountMinor: amount, code: null, data: { payerWalletId: hold.payerWalletId } });
    return 0n;
  }

  /** The payee's shard answered a capture in flight: settled, or refused and returned to the payer once. */
  private captureResult(item: { id: string; status: 'applied' | 'rejected'; code: RejectionCode | null }): bigint {
    const flight = this.prefetched.capturesInFlight.get(item.id);
    if (!flight || this.seenResults.has(item.id)) {
      this.outcome({ status: 'duplicate' });
      return 0n;
    }
    this.seenResults.add(item.id);
    const payer = this.wallet(flight.payerWalletId, `the capture of hold ${item.id}`);
    if (item.status === 'applied') {
      this.c.put({ ...payer, inFlightOutMinor: payer.inFlightOutMinor - flight.amountMinor });
      this.c.r.holds.captureFinal.push({ holdId: item.id, status: 'settled', code: null });
      this.outcome({ status: 'settled' });
      return 0n;
    }
    this.c.put({ ...payer, balanceMinor: payer.balanceMinor + flight.amountMinor, inFlightOutMinor: payer.inFlightOutMinor - flight.amountMinor });
    this.c.r.leaves.push({ type: 'leg', transferId: item.id, leg: 'refund', walletId: flight.payerWalletId, amountMinor: flight.amountMinor, status: 'applied', code: item.code });
    this.c.r.holds.captureFinal.push({ holdId: item.id, status: 'rejected', code: item.code });
    this.tell({ bankId: payer.bankId, type: 'hold.capture_returned', subjectId: item.id, walletId: payer.id, amountMinor: flight.amountMinor, code: item.code, data: { payeeWalletId: flight.payeeWalletId } });
    this.outcome({ status: 'rejected', code: item.code! });
    return flight.amountMinor;
  }
}
