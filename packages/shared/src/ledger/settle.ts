/**
 * The settlement core: which items of a batch settle, and what they change. Pure: no database,
 * no queue, no clock, no randomness. The settlement worker prefetches the state this needs
 * (the touched wallets, which ids and nonces already exist), calls `settleBatch`, and writes
 * the result back in one transaction.
 *
 * Rules are checked in a fixed precedence order; the first that fails names the outcome:
 *   duplicate (answered with the original outcome, not recorded again)
 *   nonce_reused, expired, payer_not_found, payee_not_found, payer_closed, payee_closed,
 *   payer_frozen, payee_frozen, exceeds_payment_limit, exceeds_daily_limit,
 *   insufficient_funds, exceeds_balance_limit.
 * Per-payment and daily caps apply to payments; a redemption (a customer paying its own bank's
 * treasury) and a funding (treasury to customer) are conversions, not payments, and are exempt.
 */
import type { ItemKind } from '../canonical.js';
import type { RejectionCode } from '../errors.js';
import { AMOUNT_MINOR_MAX } from '../money.js';
import { limitsOf, type Tier } from '../tiers.js';

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
}

export interface SettlementItem {
  id: string;
  kind: ItemKind;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  /** Null for fundings, which are authorized by the bank rather than signed by a customer. */
  nonce: bigint | null;
  expiresAtMs: bigint | null;
}

export type Outcome = { status: 'settled' } | { status: 'rejected'; code: RejectionCode } | { status: 'duplicate' };

export interface BatchState {
  /** Batch time, Unix ms: the expiry and daily-cap clock. */
  nowMs: number;
  /** Every wallet the items name that exists. */
  wallets: ReadonlyMap<string, WalletState>;
  /** Ids of items already recorded (settled or rejected) before this batch. */
  recordedIds: ReadonlySet<string>;
  /** `${payerWalletId}:${nonce}` of transfers already recorded before this batch. */
  usedNonces: ReadonlySet<string>;
}

export interface BatchResult {
  /** One outcome per input item, in input order. */
  outcomes: Outcome[];
  /** The items to record (everything but duplicates), in order, with their outcomes. */
  recorded: Array<{ item: SettlementItem; outcome: Exclude<Outcome, { status: 'duplicate' }> }>;
  /** The new state of every wallet whose balance or daily outflow changed. */
  changedWallets: Map<string, WalletState>;
}

/** The UTC day number of a time. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The first rule the item breaks against the current state, or null if it settles. */
export function checkItem(item: SettlementItem, payer: WalletState | undefined, payee: WalletState | undefined, state: { nowMs: number; nonceUsed: boolean }): RejectionCode | null {
  if (state.nonceUsed) return 'nonce_reused';
  if (item.expiresAtMs !== null && item.expiresAtMs <= BigInt(state.nowMs)) return 'expired';
  if (!payer) return 'payer_not_found';
  if (!payee) return 'payee_not_found';
  if (payer.status === 'closed') return 'payer_closed';
  if (payee.status === 'closed') return 'payee_closed';
  if (payer.status === 'frozen') return 'payer_frozen';
  if (payee.status === 'frozen') return 'payee_frozen';
  const payerLimits = limitsOf(payer.kind, payer.tier);
  const isPayment = item.kind === 'transfer' && payee.kind !== 'treasury';
  if (isPayment && payerLimits.paymentMaxMinor !== null && item.amountMinor > payerLimits.paymentMaxMinor) return 'exceeds_payment_limit';
  if (isPayment && payerLimits.dailyOutflowMaxMinor !== null) {
    const spent = payer.dailySpentDay === dayOf(state.nowMs) ? payer.dailySpentMinor : 0n;
    if (spent + item.amountMinor > payerLimits.dailyOutflowMaxMinor) return 'exceeds_daily_limit';
  }
  if (payer.balanceMinor < item.amountMinor) return 'insufficient_funds';
  const payeeCap = limitsOf(payee.kind, payee.tier).balanceMaxMinor ?? AMOUNT_MINOR_MAX;
  if (payee.balanceMinor + item.amountMinor > payeeCap) return 'exceeds_balance_limit';
  return null;
}

/** Applies a batch of items in order. Never mutates its input. */
export function settleBatch(items: readonly SettlementItem[], state: BatchState): BatchResult {
  const wallets = new Map<string, WalletState>();
  const current = (id: string) => wallets.get(id) ?? state.wallets.get(id);
  const seenIds = new Set<string>();
  const seenNonces = new Set<string>();
  const outcomes: Outcome[] = [];
  const recorded: BatchResult['recorded'] = [];
  const today = dayOf(state.nowMs);

  for (const item of items) {
    if (state.recordedIds.has(item.id) || seenIds.has(item.id)) {
      outcomes.push({ status: 'duplicate' });
      continue;
    }
    seenIds.add(item.id);
    const nonceKey = item.nonce === null ? null : `${item.payerWalletId}:${item.nonce}`;
    const nonceUsed = nonceKey !== null && (state.usedNonces.has(nonceKey) || seenNonces.has(nonceKey));
    if (nonceKey !== null) seenNonces.add(nonceKey);

    const payer = current(item.payerWalletId);
    const payee = current(item.payeeWalletId);
    const code = checkItem(item, payer, payee, { nowMs: state.nowMs, nonceUsed });
    if (code !== null) {
      const outcome = { status: 'rejected' as const, code };
      outcomes.push(outcome);
      recorded.push({ item, outcome });
      continue;
    }
    // checkItem returned null, so both wallets exist.
    const isPayment = item.kind === 'transfer' && payee!.kind !== 'treasury';
    const spentBefore = payer!.dailySpentDay === today ? payer!.dailySpentMinor : 0n;
    const newPayer: WalletState = {
      ...payer!,
      balanceMinor: payer!.balanceMinor - item.amountMinor,
      dailySpentDay: today,
      dailySpentMinor: isPayment ? spentBefore + item.amountMinor : spentBefore,
    };
    wallets.set(newPayer.id, newPayer);
    const payeeNow = current(item.payeeWalletId)!;
    wallets.set(payeeNow.id, { ...payeeNow, balanceMinor: payeeNow.balanceMinor + item.amountMinor });
    const outcome = { status: 'settled' as const };
    outcomes.push(outcome);
    recorded.push({ item, outcome });
  }

  // A batch moves money between wallets; it never creates or destroys any.
  let before = 0n;
  let after = 0n;
  for (const [id, w] of wallets) {
    before += state.wallets.get(id)!.balanceMinor;
    after += w.balanceMinor;
    if (w.balanceMinor < 0n) throw new Error(`invariant broken: wallet ${id} would go negative`);
  }
  if (before !== after) throw new Error(`invariant broken: batch changes total balance by ${after - before}`);

  return { outcomes, recorded, changedWallets: wallets };
}
