/**
 * The settlement core: which items of a batch settle, and what they change. Pure: no database,
 * no queue, no clock, no randomness. The settlement worker prefetches the state this needs (the
 * touched wallets, which ids, nonces and legs already exist, which transfers are in flight),
 * calls `settleBatch`, and writes the result back in one transaction.
 *
 * A batch belongs to one shard and holds three kinds of item (and the hold items of holds.ts):
 * - origin: a transfer or funding submitted at the payer's shard. If the payee lives here too it
 *   settles or is rejected outright. If the payee lives on another shard, the payer is debited
 *   and the money is in flight ("debited"); a credit item goes to the payee's shard.
 * - credit: the payee's shard applies the credit, or rejects it (payee missing, closed, frozen or
 *   over its cap); either way a credit result goes back to the payer's shard.
 * - credit result: the payer's shard closes the transfer: settled, or rejected with the payee's
 *   code and the amount refunded to the payer, exactly once.
 *
 * Rules for origin items, in precedence order (the first that fails names the outcome):
 *   unauthorized (the item's authority does not verify against the key in force: the customer's
 *     signature for a transfer, the bank's signed request for a funding; nothing is recorded, so
 *     that whoever forged it cannot spend an id or a nonce of the real owner's)
 *   malformed_item (a field the store cannot hold: answered, never recorded, see checkStorable)
 *   duplicate (answered with the original outcome, not recorded again)
 *   nonce_reused, expired, payer_not_found, payee_not_found, payer_closed, payee_closed,
 *   payer_frozen, payee_frozen, the payment request's rules if the transfer names one and the
 *   payee is here (./requests.ts), exceeds_payment_limit, exceeds_daily_limit,
 *   insufficient_funds, exceeds_balance_limit.
 * Payee rules are checked where the payee lives. Per-payment and daily caps apply to payments;
 * a redemption (a customer paying its own bank's treasury) and a funding (treasury to customer)
 * are conversions, not payments, and are exempt. A payee's balance cap counts the money it has
 * in flight outwards, so that a refund always fits under the cap.
 *
 * A transfer that names a payment request (signed as canonical v2) pays it where the request lives,
 * the payee's shard: at origin if the payee is here, else when its credit arrives, which carries
 * the request id (sent only by the payer's shard, which attests the job and takes the id from the
 * signed bytes). A credit refused for the request is a rejected credit like any other: the payer is
 * refunded exactly once.
 */
import { ITEM_KIND_CODE, type ItemKind } from '../canonical.js';
import type { HoldLeafContent } from '../canonical-hold.js';
import type { NewEvent } from '../events.js';
import type { RejectionCode } from '../errors.js';
import { REQUEST_ID_PATTERN, TRANSFER_ID_PATTERN } from '../ids.js';
import { AMOUNT_MINOR_MAX } from '../money.js';
import { memoProblem } from '../text.js';
import { limitsOf, type Tier } from '../tiers.js';
import { HoldBook, isHoldItem, noHoldChanges, type AnyHoldItem, type HoldBatchState, type HoldChanges } from './holds.js';
import { RequestBook, type PaidRequest, type PaymentRequestState } from './requests.js';

export type { PaidRequest, PaymentRequestState } from './requests.js';

export const DAY_MS = 86_400_000;

export type WalletStatus = 'active' | 'frozen' | 'closed';

export interface WalletState {
  id: string;
  bankId: string;
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  status: WalletStatus;
  balanceMinor: bigint;
  /** Outflow on `dailySpentDay` (days since the Unix epoch, UTC). */
  dailySpentMinor: bigint;
  dailySpentDay: number;
  /** Debited from this wallet and not yet credited to a payee on another shard, nor refunded. */
  inFlightOutMinor: bigint;
  /** Set aside by the wallet's open holds (see holds.ts): neither available nor gone yet. */
  heldMinor: bigint;
  /** The customer's Ed25519 public key in force (null for a treasury, which pays by its bank's authority). */
  publicKey: Uint8Array | null;
}

/**
 * What authorizes an origin item: the bytes its authority signed and the signature. By whom
 * decides the key: the payer wallet's customer key, or the submitting bank's key.
 */
export interface ItemAuthority {
  by: 'customer' | 'bank';
  message: Uint8Array;
  signature: Uint8Array;
}

/** Ed25519 verification, injected so that the core stays free of I/O and native code. */
export type Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export interface OriginItem {
  type: 'origin';
  id: string;
  kind: ItemKind;
  /** The bank whose authenticated request this is: only its own wallets may pay. */
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  /** Null for fundings, which are authorized by the bank rather than signed by a customer. */
  nonce: bigint | null;
  expiresAtMs: bigint | null;
  /** Whether the payee is a payment (not a redemption or funding); decided where the payee is known. */
  payeeRemote: boolean;
  /** For a remote payee: whether the gateway saw it as a treasury (a redemption), exempt from payment caps. */
  payeeIsTreasury?: boolean;
  /** Null if the item carries no consistent authority (see @cbdc/shared/job authorityOf). */
  authority: ItemAuthority | null;
  /** The signed memo, stored with the transfer ('' or absent for fundings). */
  memo?: string;
  /** The payment request the transfer pays (in its signed bytes, canonical v2), if any. */
  requestId?: string | null;
}

export interface CreditItem {
  type: 'credit';
  /** The transfer id. */
  id: string;
  payeeWalletId: string;
  amountMinor: bigint;
  fromShard: number;
  /** The payment request the transfer pays, forwarded by the payer's shard from the signed transfer. */
  requestId?: string | null;
}

export interface CreditResultItem {
  type: 'credit_result';
  /** The transfer id. */
  id: string;
  status: 'applied' | 'rejected';
  code: RejectionCode | null;
  /** The shard that sent the result; it must be the payee's (the store checks it against the transfer). */
  fromShard: number;
}

export type SettlementItem = OriginItem | CreditItem | CreditResultItem | AnyHoldItem;

export type Outcome = { status: 'settled' } | { status: 'rejected'; code: RejectionCode } | { status: 'debited' } | { status: 'applied' } | { status: 'duplicate' } | { status: 'unauthorized' };

/** A leaf of the batch's Merkle tree: an origin transfer with its outcome here, or a leg. */
export type BatchLeaf =
  | { type: 'transfer'; item: OriginItem; legStatus: 'settled' | 'rejected' | 'debited'; code: RejectionCode | null }
  | { type: 'leg'; transferId: string; leg: 'credit' | 'refund'; walletId: string; amountMinor: bigint; status: 'applied' | 'rejected'; code: RejectionCode | null }
  | { type: 'hold'; leaf: HoldLeafContent };

export interface InFlightTransfer {
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  /** Whether the debit counted against the payer's daily outflow, and on which day. */
  countedAsPayment: boolean;
  debitDay: number;
}

export interface BatchState {
  /** Batch time, Unix ms: the expiry and daily-cap clock. */
  nowMs: number;
  /** Every wallet of this shard the items name that exists. */
  wallets: ReadonlyMap<string, WalletState>;
  /** Ids of origin items already recorded (settled, rejected or debited) before this batch. */
  recordedIds: ReadonlySet<string>;
  /** `${payerWalletId}:${nonce}` of transfers already recorded before this batch. */
  usedNonces: ReadonlySet<string>;
  /** Credit legs already recorded at this shard, by transfer id. */
  recordedCredits: ReadonlyMap<string, { status: 'applied' | 'rejected'; code: RejectionCode | null; fromShard: number }>;
  /** Origin transfers of this shard still in flight, by id. */
  inFlight: ReadonlyMap<string, InFlightTransfer>;
  /** Public keys of the banks that submitted fundings in this batch, by bank id. */
  bankKeys: ReadonlyMap<string, Uint8Array>;
  verify: Verify;
  /** What the batch's hold items need (see holds.ts); absent when it has none. */
  holds?: HoldBatchState;
  /** The payment requests of this shard that the items name and that exist, by id (none if absent). */
  requests?: ReadonlyMap<string, PaymentRequestState>;
}

export interface BatchResult {
  /** One outcome per input item, in input order. */
  outcomes: Outcome[];
  /** What this batch commits to, in leaf order. */
  leaves: BatchLeaf[];
  /** Transfers of this shard that became final: settled, or rejected and refunded. */
  finalized: Array<{ id: string; status: 'settled' | 'rejected'; code: RejectionCode | null }>;
  /** Messages for other shards: credits for remote payees, results back to payers' shards (including replies to repeated credits). */
  creditsToSend: Array<{ id: string; payeeWalletId: string; amountMinor: bigint; requestId?: string }>;
  resultsToSend: Array<{ id: string; toShard: number; status: 'applied' | 'rejected'; code: RejectionCode | null }>;
  /** The new state of every wallet that changed. */
  changedWallets: Map<string, WalletState>;
  /**
   * What the banks are told (@cbdc/shared/events), in leaf order: recorded in the same transaction.
   * A transfer's counterparty is not repeated in its events: it is on the transfer row, written in
   * the same transaction on the same shard, and joined when events are read (half the bytes).
   */
  events: NewEvent[];
  /** Holds placed, refused or closed, and captures whose money in flight reached its end. */
  holds: HoldChanges;
  /** Payment requests of this shard that this batch pays, in leaf order: marked paid in the same transaction. */
  paidRequests: PaidRequest[];
}

/** The UTC day number of a time. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

function payeeHeadroomCheck(payee: WalletState, amount: bigint): boolean {
  const cap = limitsOf(payee.kind, payee.tier).balanceMaxMinor ?? AMOUNT_MINOR_MAX;
  // Held money and money in flight may come back to the wallet: they must fit under its cap too.
  return payee.balanceMinor + payee.heldMinor + payee.inFlightOutMinor + amount <= cap;
}

/** The payee-side rules of a credit or a captured hold, with the rule its payment request breaks (if it names one) in its place. */
export function checkPayee(payee: WalletState | undefined, amount: bigint, requestCode: RejectionCode | null): RejectionCode | null {
  if (!payee) return 'payee_not_found';
  if (payee.status === 'closed') return 'payee_closed';
  if (payee.status === 'frozen') return 'payee_frozen';
  if (requestCode !== null) return requestCode;
  if (!payeeHeadroomCheck(payee, amount)) return 'exceeds_balance_limit';
  return null;
}

/**
 * A wallet or bank id the ledger can store and encode in a leaf: 1 to 64 printable ASCII
 * characters. The gateway's patterns are stricter; an id that names no wallet is answered
 * payer_not_found or payee_not_found by the rules below, as usual.
 */
const STORABLE_ID = /^[\x21-\x7e]{1,64}$/;

function isStorableId(v: unknown): boolean {
  return typeof v === 'string' && STORABLE_ID.test(v);
}

function isU63OrNull(v: bigint | null): boolean {
  return v === null || (typeof v === 'bigint' && v >= 0n && v <= AMOUNT_MINOR_MAX);
}

/**
 * Why an origin item cannot be stored as it is (a forged job, or one from an older gateway), or
 * null. Such an item is answered `malformed_item` and not recorded: a row holding the very field
 * Postgres refuses could not be written either, and writing another value in its place would
 * record content that was never signed. It changes nothing, so it never fails its neighbours.
 */
export function checkStorable(item: OriginItem): string | null {
  if (typeof item.id !== 'string' || !TRANSFER_ID_PATTERN.test(item.id)) return 'id: must be 64 lowercase hex digits';
  if (!Object.hasOwn(ITEM_KIND_CODE, item.kind)) return 'kind: must be transfer or funding';
  if (!isStorableId(item.bankId)) return 'bankId: must be 1 to 64 printable ASCII characters';
  if (!isStorableId(item.payerWalletId)) return 'payerWalletId: must be 1 to 64 printable ASCII characters';
  if (!isStorableId(item.payeeWalletId)) return 'payeeWalletId: must be 1 to 64 printable ASCII characters';
  if (typeof item.amountMinor !== 'bigint' || item.amountMinor < 1n || item.amountMinor > AMOUNT_MINOR_MAX) return 'amountMinor: must be 1 to 2^63-1';
  if (!isU63OrNull(item.nonce) || (item.kind === 'transfer' && item.nonce === null)) return 'nonce: must be 0 to 2^63-1, present on a transfer';
  if (!isU63OrNull(item.expiresAtMs)) return 'expiresAtMs: must be 0 to 2^63-1';
  if (item.requestId != null && (typeof item.requestId !== 'string' || !REQUEST_ID_PATTERN.test(item.requestId))) return 'requestId: must be pr_ and 32 lowercase hex digits';
  // A funding's authority (the bank's signed request) does not name a request: it pays none.
  if (item.requestId != null && item.kind !== 'transfer') return 'requestId: only a customer-signed transfer pays a request';
  return item.memo === undefined ? null : memoProblem(item.memo);
}

/**
 * The first rule an origin item breaks against the current state, or null if it can proceed.
 * `requestCode` is the rule its payment request breaks (./requests.ts), for a transfer that names
 * one and whose payee is on this shard; it takes its place in the order.
 */
export function checkOrigin(item: OriginItem, payer: WalletState | undefined, payee: WalletState | undefined, state: { nowMs: number; nonceUsed: boolean; requestCode?: RejectionCode | null }): RejectionCode | null {
  if (state.nonceUsed) return 'nonce_reused';
  if (item.expiresAtMs !== null && item.expiresAtMs <= BigInt(state.nowMs)) return 'expired';
  // A wallet of another bank is answered as not found, as the gateway answers it (the gateway
  // refuses such a request before it is queued; this is the same rule where money moves).
  if (!payer || payer.bankId !== item.bankId) return 'payer_not_found';
  if (!item.payeeRemote && !payee) return 'payee_not_found';
  if (payer.status === 'closed') return 'payer_closed';
  if (payee?.status === 'closed') return 'payee_closed';
  if (payer.status === 'frozen') return 'payer_frozen';
  if (payee?.status === 'frozen') return 'payee_frozen';
  if (state.requestCode != null) return state.requestCode;
  const payerLimits = limitsOf(payer.kind, payer.tier);
  if (isPayment(item, payee)) {
    if (payerLimits.paymentMaxMinor !== null && item.amountMinor > payerLimits.paymentMaxMinor) return 'exceeds_payment_limit';
    if (payerLimits.dailyOutflowMaxMinor !== null) {
      const spent = payer.dailySpentDay === dayOf(state.nowMs) ? payer.dailySpentMinor : 0n;
      if (spent + item.amountMinor > payerLimits.dailyOutflowMaxMinor) return 'exceeds_daily_limit';
    }
  }
  if (payer.balanceMinor < item.amountMinor) return 'insufficient_funds';
  if (payee && !payeeHeadroomCheck(payee, item.amountMinor)) return 'exceeds_balance_limit';
  return null;
}

/**
 * Whether an origin item's authority holds against the key in force: a transfer signed by the
 * payer wallet's customer key, a funding by the submitting bank's key from its own treasury.
 */
export function authorityHolds(item: OriginItem, payer: WalletState | undefined, bankKeys: ReadonlyMap<string, Uint8Array>, verify: Verify): boolean {
  const a = item.authority;
  if (!a) return false;
  if (item.kind === 'funding') {
    const key = bankKeys.get(item.bankId);
    return a.by === 'bank' && key !== undefined && verify(key, a.message, a.signature);
  }
  return a.by === 'customer' && payer?.publicKey != null && verify(payer.publicKey, a.message, a.signature);
}

function isPayment(item: OriginItem, payee: WalletState | undefined): boolean {
  if (item.kind !== 'transfer') return false;
  return item.payeeRemote ? !item.payeeIsTreasury : payee!.kind !== 'treasury';
}

/** Applies a batch of items in order. Never mutates its input. */
export function settleBatch(items: readonly SettlementItem[], state: BatchState): BatchResult {
  const wallets = new Map<string, WalletState>();
  const current = (id: string) => wallets.get(id) ?? state.wallets.get(id);
  const put = (w: WalletState) => wallets.set(w.id, w);
  const seenIds = new Set<string>();
  const seenNonces = new Set<string>();
  const seenCredits = new Set<string>();
  const seenResults = new Set<string>();
  const today = dayOf(state.nowMs);
  const requests = new RequestBook(state.requests);
  const r: BatchResult = { outcomes: [], leaves: [], finalized: [], creditsToSend: [], resultsToSend: [], changedWallets: wallets, events: [], holds: noHoldChanges(), paidRequests: requests.paid };
  const holdBook = new HoldBook({ state, today, current, put, seenIds, seenNonces, r, checkPayee: (payee, amount) => checkPayee(payee, amount, null) });
  const tell = (w: WalletState, type: NewEvent['type'], transferId: string, amountMinor: bigint, code: string | null, data: NewEvent['data']) =>
    r.events.push({ bankId: w.bankId, type, subjectId: transferId, walletId: w.id, amountMinor, code, data });
  // A request paid: marked in the same transaction, and told to the payee's bank, which created it.
  const payRequest = (requestId: string, transferId: string, amountMinor: bigint) => {
    const paid = requests.pay(requestId, transferId, amountMinor);
    r.events.push({ bankId: paid.bankId, type: 'request.paid', subjectId: paid.id, walletId: paid.payeeWalletId, amountMinor, code: null, data: { transferId } });
  };
  // The money this batch lets out of the shard (debits in flight) and in (credits, refunds).
  let expectedDelta = 0n;

  for (const item of items) {
    if (isHoldItem(item) || (item.type === 'credit_result' && holdBook.answersCapture(item.id))) {
      expectedDelta += holdBook.settle(item);
    } else if (item.type === 'origin') {
      if (!authorityHolds(item, current(item.payerWalletId), state.bankKeys, state.verify)) {
        r.outcomes.push({ status: 'unauthorized' });
        continue;
      }
      if (checkStorable(item) !== null) {
        r.outcomes.push({ status: 'rejected', code: 'malformed_item' });
        continue;
      }
      if (state.recordedIds.has(item.id) || seenIds.has(item.id)) {
        r.outcomes.push({ status: 'duplicate' });
        continue;
      }
      seenIds.add(item.id);
      const nonceKey = item.nonce === null ? null : `${item.payerWalletId}:${item.nonce}`;
      const nonceUsed = nonceKey !== null && (state.usedNonces.has(nonceKey) || seenNonces.has(nonceKey));
      if (nonceKey !== null) seenNonces.add(nonceKey);
      const payer = current(item.payerWalletId);
      const payee = item.payeeRemote ? undefined : current(item.payeeWalletId);
      const requestCode = item.requestId && payee ? requests.check(item.requestId, item.payeeWalletId, item.amountMinor, state.nowMs) : null;
      const code = checkOrigin(item, payer, payee, { nowMs: state.nowMs, nonceUsed, requestCode });
      if (code !== null) {
        r.outcomes.push({ status: 'rejected', code });
        r.leaves.push({ type: 'transfer', item, legStatus: 'rejected', code });
        // Told to the bank whose request it was (the payer may be missing, or another bank's).
        r.events.push({ bankId: item.bankId, type: 'transfer.rejected', subjectId: item.id, walletId: payer?.bankId === item.bankId ? payer.id : null, amountMinor: item.amountMinor, code, data: null });
        continue;
      }
      const payment = isPayment(item, payee);
      const spentBefore = payer!.dailySpentDay === today ? payer!.dailySpentMinor : 0n;
      put({
        ...payer!,
        balanceMinor: payer!.balanceMinor - item.amountMinor,
        dailySpentDay: today,
        dailySpentMinor: payment ? spentBefore + item.amountMinor : spentBefore,
        inFlightOutMinor: payer!.inFlightOutMinor + (item.payeeRemote ? item.amountMinor : 0n),
      });
      if (item.payeeRemote) {
        expectedDelta -= item.amountMinor;
        r.outcomes.push({ status: 'debited' });
        r.leaves.push({ type: 'transfer', item, legStatus: 'debited', code: null });
        r.creditsToSend.push({ id: item.id, payeeWalletId: item.payeeWalletId, amountMinor: item.amountMinor, ...(item.requestId ? { requestId: item.requestId } : {}) });
      } else {
        const payeeNow = current(item.payeeWalletId)!;
        put({ ...payeeNow, balanceMinor: payeeNow.balanceMinor + item.amountMinor });
        r.outcomes.push({ status: 'settled' });
        r.leaves.push({ type: 'transfer', item, legStatus: 'settled', code: null });
        tell(payer!, 'transfer.settled', item.id, item.amountMinor, null, null);
        tell(payeeNow, 'payment.received', item.id, item.amountMinor, null, item.requestId ? { requestId: item.requestId } : null);
        if (item.requestId) payRequest(item.requestId, item.id, item.amountMinor);
      }
    } else if (item.type === 'credit') {
      const recorded = state.recordedCredits.get(item.id);
      if (recorded || seenCredits.has(item.id)) {
        // A repeated credit (the payer's shard did not hear back): answer again, change nothing.
        if (recorded) r.resultsToSend.push({ id: item.id, toShard: item.fromShard, status: recorded.status, code: recorded.code });
        r.outcomes.push({ status: 'duplicate' });
        continue;
      }
      seenCredits.add(item.id);
      const payee = current(item.payeeWalletId);
      const requestCode = item.requestId ? requests.check(item.requestId, item.payeeWalletId, item.amountMinor, state.nowMs) : null;
      const code = checkPayee(payee, item.amountMinor, requestCode);
      if (code !== null) {
        r.outcomes.push({ status: 'rejected', code });
        r.leaves.push({ type: 'leg', transferId: item.id, leg: 'credit', walletId: item.payeeWalletId, amountMinor: item.amountMinor, status: 'rejected', code });
        r.resultsToSend.push({ id: item.id, toShard: item.fromShard, status: 'rejected', code });
        continue;
      }
      put({ ...payee!, balanceMinor: payee!.balanceMinor + item.amountMinor });
      expectedDelta += item.amountMinor;
      tell(payee!, 'payment.received', item.id, item.amountMinor, null, item.requestId ? { requestId: item.requestId } : null);
      if (item.requestId) payRequest(item.requestId, item.id, item.amountMinor);
      r.outcomes.push({ status: 'applied' });
      r.leaves.push({ type: 'leg', transferId: item.id, leg: 'credit', walletId: item.payeeWalletId, amountMinor: item.amountMinor, status: 'applied', code: null });
      r.resultsToSend.push({ id: item.id, toShard: item.fromShard, status: 'applied', code: null });
    } else {
      const flight = state.inFlight.get(item.id);
      if (!flight || seenResults.has(item.id)) {
        r.outcomes.push({ status: 'duplicate' });
        continue;
      }
      seenResults.add(item.id);
      const payer = current(flight.payerWalletId);
      if (!payer) throw new Error(`invariant broken: payer ${flight.payerWalletId} of in-flight transfer ${item.id} is missing`);
      if (item.status === 'applied') {
        put({ ...payer, inFlightOutMinor: payer.inFlightOutMinor - flight.amountMinor });
        tell(payer, 'transfer.settled', item.id, flight.amountMinor, null, null);
        r.outcomes.push({ status: 'settled' });
        r.finalized.push({ id: item.id, status: 'settled', code: null });
      } else {
        // The refund: the money comes back exactly once, whatever the payer's status; its
        // daily allowance is given back if the refund lands on the day of the debit.
        const sameDay = flight.countedAsPayment && payer.dailySpentDay === flight.debitDay;
        put({
          ...payer,
          balanceMinor: payer.balanceMinor + flight.amountMinor,
          inFlightOutMinor: payer.inFlightOutMinor - flight.amountMinor,
          dailySpentMinor: sameDay ? (payer.dailySpentMinor > flight.amountMinor ? payer.dailySpentMinor - flight.amountMinor : 0n) : payer.dailySpentMinor,
        });
        expectedDelta += flight.amountMinor;
        tell(payer, 'transfer.rejected', item.id, flight.amountMinor, item.code, null);
        r.outcomes.push({ status: 'rejected', code: item.code! });
        r.leaves.push({ type: 'leg', transferId: item.id, leg: 'refund', walletId: flight.payerWalletId, amountMinor: flight.amountMinor, status: 'applied', code: item.code });
        r.finalized.push({ id: item.id, status: 'rejected', code: item.code });
      }
    }
  }

  // A batch moves money only by what it lets out of the shard or takes in; it never creates or
  // destroys any, and no balance or in-flight amount goes negative.
  let before = 0n;
  let after = 0n;
  for (const [id, w] of wallets) {
    const was = state.wallets.get(id)!;
    before += was.balanceMinor + was.heldMinor;
    after += w.balanceMinor + w.heldMinor;
    if (w.balanceMinor < 0n || w.inFlightOutMinor < 0n || w.heldMinor < 0n) throw new Error(`invariant broken: wallet ${id} would go negative`);
  }
  if (after - before !== expectedDelta) throw new Error(`invariant broken: batch changes total balance by ${after - before}, expected ${expectedDelta}`);
  return r;
}
