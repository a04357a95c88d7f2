/**
 * Dual control, pure: does this operator action need a second operator, and may this operator
 * approve that pending one now?
 *
 * The two-person rule holds per window, not per request, so that it cannot be structured: an
 * action moving money executes on one operator's authority only if it stays within the
 * single-action maximum AND keeps both the requester's and the bank's single-operator totals
 * over the rolling window (same kind, pending and executed-alone actions counted) within their
 * maxima. With every maximum at 1,000,000 fen, five mints of 1,000,000 by one operator execute as
 * one alone and four pending approval. Onboarding a bank and registering or re-keying an operator
 * always need a second operator.
 */

export const OPERATOR_ACTION_KINDS = ['mint', 'retire', 'reserve_deposit', 'reserve_withdrawal', 'bank_onboarding', 'operator_registration', 'operator_key_change'] as const;
export type OperatorActionKind = (typeof OPERATOR_ACTION_KINDS)[number];

/** The kinds that move money, each with its own window totals. */
export const MONEY_ACTION_KINDS = ['mint', 'retire', 'reserve_deposit', 'reserve_withdrawal'] as const satisfies readonly OperatorActionKind[];
export type MoneyActionKind = (typeof MONEY_ACTION_KINDS)[number];

/** The dual-control settings of the issuer (its config; see services/issuer/src/config.ts). */
export interface DualControlPolicy {
  /** One action moving more than this needs a second operator. */
  singleActionMaxMinor: bigint;
  /** What one operator may move alone per kind over the window (pending and executed alone). */
  operatorWindowMaxMinor: bigint;
  /** What may be moved for one bank per kind over the window on single-operator authority. */
  bankWindowMaxMinor: bigint;
  /** The rolling window of the two totals above. */
  windowMs: number;
  /** How long a pending action can be approved; after that it is expired and never executes. */
  approvalTtlMs: number;
}

/**
 * Single-operator totals in the window for the action's kind: amounts of actions executed without
 * a second operator plus actions still pending (not expired), by this requester and for this bank.
 */
export interface SingleOperatorTotals {
  requesterMinor: bigint;
  bankMinor: bigint;
}

/** Why an action waits for a second operator. */
export type DualControlReason = 'always_dual' | 'above_single_action_max' | 'operator_window_max' | 'bank_window_max';

/** Whether a money kind. */
export function isMoneyAction(kind: OperatorActionKind): kind is MoneyActionKind {
  return (MONEY_ACTION_KINDS as readonly string[]).includes(kind);
}

/** The rule that requires a second operator for this action, or null if one operator may do it alone. */
export function secondOperatorNeeded(policy: DualControlPolicy, kind: OperatorActionKind, amountMinor: bigint | null, totals: SingleOperatorTotals): DualControlReason | null {
  if (!isMoneyAction(kind)) return 'always_dual';
  if (amountMinor === null || amountMinor <= 0n) throw new Error(`invariant broken: a ${kind} moves a positive amount`);
  if (amountMinor > policy.singleActionMaxMinor) return 'above_single_action_max';
  if (totals.requesterMinor + amountMinor > policy.operatorWindowMaxMinor) return 'operator_window_max';
  if (totals.bankMinor + amountMinor > policy.bankWindowMaxMinor) return 'bank_window_max';
  return null;
}

export interface PendingActionFacts {
  status: 'pending_approval' | 'executed';
  requestedBy: string;
  expiresAtMs: number;
}

export type ApprovalRefusal = 'action_not_pending' | 'approval_expired' | 'approver_is_requester';

/** Why `approver` may not approve the action at `nowMs`, or null if they may (checked in this order). */
export function approvalRefusal(action: PendingActionFacts, approver: string, nowMs: number): ApprovalRefusal | null {
  if (action.status !== 'pending_approval') return 'action_not_pending';
  if (nowMs >= action.expiresAtMs) return 'approval_expired';
  if (action.requestedBy === approver) return 'approver_is_requester';
  return null;
}

/** The status a reader sees: a pending action past its expiry is expired. */
export function actionStatusAt(action: Pick<PendingActionFacts, 'status' | 'expiresAtMs'>, nowMs: number): 'pending_approval' | 'executed' | 'expired' {
  return action.status === 'pending_approval' && nowMs >= action.expiresAtMs ? 'expired' : action.status;
}

/** Checks a policy's values and how they relate; throws naming the setting. */
export function checkDualControlPolicy(p: DualControlPolicy): void {
  const rules: Array<[boolean, string]> = [
    [p.singleActionMaxMinor >= 0n, 'singleActionMaxMinor must be >= 0'],
    [p.operatorWindowMaxMinor >= 0n, 'operatorWindowMaxMinor must be >= 0'],
    [p.bankWindowMaxMinor >= 0n, 'bankWindowMaxMinor must be >= 0'],
    [Number.isSafeInteger(p.windowMs) && p.windowMs > 0, 'windowMs must be a positive whole number'],
    [Number.isSafeInteger(p.approvalTtlMs) && p.approvalTtlMs > 0, 'approvalTtlMs must be a positive whole number'],
  ];
  for (const [ok, message] of rules) if (!ok) throw new Error(`dual control: ${message}`);
}
