import { describe, expect, it } from 'vitest';
import { actionStatusAt, approvalRefusal, checkDualControlPolicy, secondOperatorNeeded, type DualControlPolicy, type OperatorActionKind } from './dual-control.js';

const T = 1_000_000n;
const policy: DualControlPolicy = { singleActionMaxMinor: T, operatorWindowMaxMinor: 2n * T, bankWindowMaxMinor: 3n * T, windowMs: 86_400_000, approvalTtlMs: 3_600_000 };
const totals = (requesterMinor: bigint, bankMinor = requesterMinor) => ({ requesterMinor, bankMinor });

describe('secondOperatorNeeded', () => {
  const cases: Array<[string, OperatorActionKind, bigint | null, ReturnType<typeof totals>, ReturnType<typeof secondOperatorNeeded>]> = [
    ['a mint at the threshold, nothing before', 'mint', T, totals(0n), null],
    ['a mint one fen above the threshold', 'mint', T + 1n, totals(0n), 'above_single_action_max'],
    ['the second threshold-sized mint fits the operator window', 'mint', T, totals(T), null],
    ['the third threshold-sized mint by one operator', 'mint', T, totals(2n * T), 'operator_window_max'],
    ['one fen over the operator window', 'reserve_deposit', 1n, totals(2n * T), 'operator_window_max'],
    ['another operator, but the bank window is full', 'mint', T, totals(0n, 3n * T), 'bank_window_max'],
    ['a withdrawal within every limit', 'reserve_withdrawal', 5n, totals(10n, 10n), null],
    ['a retire above the threshold', 'retire', 2n * T, totals(0n), 'above_single_action_max'],
    ['onboarding a bank', 'bank_onboarding', null, totals(0n), 'always_dual'],
    ['registering an operator', 'operator_registration', null, totals(0n), 'always_dual'],
    ['changing an operator key', 'operator_key_change', null, totals(0n), 'always_dual'],
  ];
  it.each(cases)('%s', (_name, kind, amount, t, expected) => expect(secondOperatorNeeded(policy, kind, amount, t)).toBe(expected));

  it('five threshold-sized mints by one operator: only the first executes alone when the window equals the threshold', () => {
    const tight = { ...policy, operatorWindowMaxMinor: T, bankWindowMaxMinor: T };
    let alone = 0n;
    const decisions = Array.from({ length: 5 }, () => {
      const reason = secondOperatorNeeded(tight, 'mint', T, totals(alone));
      alone += T; // pending ones count too
      return reason;
    });
    expect(decisions).toEqual([null, 'operator_window_max', 'operator_window_max', 'operator_window_max', 'operator_window_max']);
  });

  it('treats a missing or non-positive amount of a money kind as a broken invariant', () => {
    expect(() => secondOperatorNeeded(policy, 'mint', null, totals(0n))).toThrow(/invariant/);
    expect(() => secondOperatorNeeded(policy, 'reserve_deposit', 0n, totals(0n))).toThrow(/invariant/);
  });
});

describe('approvalRefusal', () => {
  const pending = { status: 'pending_approval' as const, requestedBy: 'alice', expiresAtMs: 1_000 };
  it.each([
    ['another operator before expiry', pending, 'bob', 999, null],
    ['the requester', pending, 'alice', 0, 'approver_is_requester'],
    ['at the expiry instant', pending, 'bob', 1_000, 'approval_expired'],
    ['the requester after expiry: expiry is named first', pending, 'alice', 5_000, 'approval_expired'],
    ['an executed action', { ...pending, status: 'executed' as const }, 'bob', 0, 'action_not_pending'],
  ] as const)('%s', (_name, action, approver, nowMs, expected) => expect(approvalRefusal(action, approver, nowMs)).toBe(expected));

  it('reads a pending action past its expiry as expired', () => {
    expect(actionStatusAt({ status: 'pending_approval', expiresAtMs: 10 }, 9)).toBe('pending_approval');
    expect(actionStatusAt({ status: 'pending_approval', expiresAtMs: 10 }, 10)).toBe('expired');
    expect(actionStatusAt({ status: 'executed', expiresAtMs: 10 }, 99)).toBe('executed');
  });
});

describe('checkDualControlPolicy', () => {
  it('accepts the defaults and refuses a non-positive window or expiry, naming it', () => {
    expect(() => checkDualControlPolicy(policy)).not.toThrow();
    expect(() => checkDualControlPolicy({ ...policy, windowMs: 0 })).toThrow(/windowMs/);
    expect(() => checkDualControlPolicy({ ...policy, approvalTtlMs: -1 })).toThrow(/approvalTtlMs/);
    expect(() => checkDualControlPolicy({ ...policy, bankWindowMaxMinor: -1n })).toThrow(/bankWindowMaxMinor/);
  });
});
