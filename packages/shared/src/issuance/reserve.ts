/**
 * The issuer's rules for reserves and M0, pure.
 *
 * Each bank has a reserve account at the central bank holding its free reserve (deposits from
 * RTGS, not yet exchanged for digital currency). A mint moves free reserve of that bank into
 * the central backing pool and credits its treasury wallet; a retire debits the treasury wallet
 * and moves the same amount from the backing pool back to that bank's free reserve. Currency
 * circulates between banks, so backing is one pool, not per bank: at every instant
 *   backing = supply = all mints - all retirements = all wallet balances (+ money in flight).
 */
export interface IssuanceState {
  bankFreeReserveMinor: bigint;
  treasuryBalanceMinor: bigint;
  /** Currency outstanding, equal to the backing pool. */
  supplyMinor: bigint;
}

export type IssuanceRejection = 'insufficient_reserve' | 'insufficient_treasury_balance';

/** A mint of `amount` against the bank's free reserve. */
export function planMint(s: IssuanceState, amount: bigint): IssuanceState | IssuanceRejection {
  if (amount <= 0n) throw new Error('invariant broken: mint amount must be positive');
  if (s.bankFreeReserveMinor < amount) return 'insufficient_reserve';
  return {
    bankFreeReserveMinor: s.bankFreeReserveMinor - amount,
    treasuryBalanceMinor: s.treasuryBalanceMinor + amount,
    supplyMinor: s.supplyMinor + amount,
  };
}

/** A retire of `amount` from the bank's treasury wallet, returning the same reserve to the bank. */
export function planRetire(s: IssuanceState, amount: bigint): IssuanceState | IssuanceRejection {
  if (amount <= 0n) throw new Error('invariant broken: retire amount must be positive');
  if (s.treasuryBalanceMinor < amount) return 'insufficient_treasury_balance';
  if (s.supplyMinor < amount) throw new Error('invariant broken: a treasury holds more than the supply');
  return {
    bankFreeReserveMinor: s.bankFreeReserveMinor + amount,
    treasuryBalanceMinor: s.treasuryBalanceMinor - amount,
    supplyMinor: s.supplyMinor - amount,
  };
}

/** A reserve withdrawal (back to the bank's RTGS account) takes only free reserve. */
export function planReserveWithdrawal(freeReserveMinor: bigint, amount: bigint): bigint | 'insufficient_reserve' {
  if (amount <= 0n) throw new Error('invariant broken: withdrawal amount must be positive');
  return freeReserveMinor < amount ? 'insufficient_reserve' : freeReserveMinor - amount;
}
