import { describe, expect, it } from 'vitest';
import { REJECTION_CODES } from '../errors.js';
import { DAY_MS, settleBatch, type SettlementItem, type WalletState } from './settle.js';

const NOW = 1_700_000_000_000;
const YUAN = 100n;

function wallet(id: string, over: Partial<WalletState> = {}): WalletState {
  return { id, bankId: 'bank-a', kind: 'customer', tier: 'II', status: 'active', balanceMinor: 1_000n * YUAN, dailySpentMinor: 0n, dailySpentDay: Math.floor(NOW / DAY_MS), ...over };
}

function item(over: Partial<SettlementItem> = {}): SettlementItem {
  return { id: 'a'.repeat(64), kind: 'transfer', payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: 10n * YUAN, nonce: 1n, expiresAtMs: BigInt(NOW + 60_000), ...over };
}

function run(it: SettlementItem, payer: Partial<WalletState> | null, payee: Partial<WalletState> | null, extra: { recorded?: string[]; nonces?: string[] } = {}) {
  const wallets = new Map<string, WalletState>();
  if (payer) wallets.set('w_payer', wallet('w_payer', payer));
  if (payee) wallets.set('w_payee', wallet('w_payee', payee));
  return settleBatch([it], { nowMs: NOW, wallets, recordedIds: new Set(extra.recorded ?? []), usedNonces: new Set(extra.nonces ?? []) });
}

/**
 * Each row breaks its own rule and every rule after it in the precedence order, so the row
 * passes only if the rules are checked in exactly that order.
 */
const BREAK_EVERYTHING_FROM: Record<string, () => ReturnType<typeof run>> = {
  nonce_reused: () => run(item({ expiresAtMs: BigInt(NOW - 1) }), { status: 'closed' }, { status: 'closed' }, { nonces: ['w_payer:1'] }),
  expired: () => run(item({ expiresAtMs: BigInt(NOW) }), null, null),
  payer_not_found: () => run(item(), null, null),
  payee_not_found: () => run(item(), { status: 'closed' }, null),
  payer_closed: () => run(item(), { status: 'closed' }, { status: 'closed' }),
  payee_closed: () => run(item(), { status: 'frozen' }, { status: 'closed' }),
  payer_frozen: () => run(item({ amountMinor: 60_000n * YUAN }), { status: 'frozen' }, { status: 'frozen' }),
  payee_frozen: () => run(item({ amountMinor: 60_000n * YUAN }), { balanceMinor: 0n }, { status: 'frozen' }),
  exceeds_payment_limit: () => run(item({ amountMinor: 50_001n * YUAN }), { balanceMinor: 0n, dailySpentMinor: 100_000n * YUAN }, { balanceMinor: 500_000n * YUAN }),
  exceeds_daily_limit: () => run(item({ amountMinor: 1n }), { balanceMinor: 0n, dailySpentMinor: 100_000n * YUAN }, { balanceMinor: 500_000n * YUAN }),
  insufficient_funds: () => run(item({ amountMinor: 101n }), { balanceMinor: 100n }, { balanceMinor: 500_000n * YUAN }),
  exceeds_balance_limit: () => run(item({ amountMinor: 101n }), { balanceMinor: 1000n }, { balanceMinor: 500_000n * YUAN - 100n }),
};

describe('settleBatch result codes in precedence order', () => {
  it('covers every rejection code in the catalogue, in catalogue order', () => {
    expect(Object.keys(BREAK_EVERYTHING_FROM)).toEqual([...REJECTION_CODES]);
  });

  for (const [code, scenario] of Object.entries(BREAK_EVERYTHING_FROM)) {
    it(`rejects with ${code} and changes no wallet`, () => {
      const result = scenario();
      expect(result.outcomes).toEqual([{ status: 'rejected', code }]);
      expect(result.recorded).toHaveLength(1);
      expect(result.changedWallets.size).toBe(0);
    });
  }

  it('answers duplicate before any other rule and records nothing', () => {
    const result = run(item(), null, null, { recorded: ['a'.repeat(64)], nonces: ['w_payer:1'] });
    expect(result.outcomes).toEqual([{ status: 'duplicate' }]);
    expect(result.recorded).toHaveLength(0);
  });
});

describe('settleBatch effects', () => {
  it('moves the amount and counts it against the payer daily outflow', () => {
    const result = run(item({ amountMinor: 250n }), { balanceMinor: 1000n, dailySpentMinor: 5n }, { balanceMinor: 0n });
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
    expect(result.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 750n, dailySpentMinor: 255n });
    expect(result.changedWallets.get('w_payee')).toMatchObject({ balanceMinor: 250n });
  });

  it('resets the daily outflow on a new UTC day', () => {
    const result = run(item({ amountMinor: 100n }), { dailySpentMinor: 100_000n * YUAN, dailySpentDay: Math.floor(NOW / DAY_MS) - 1 }, {});
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
    expect(result.changedWallets.get('w_payer')!.dailySpentMinor).toBe(100n);
  });

  it('exempts redemptions to a treasury from payment caps but not from the balance check', () => {
    const wallets = new Map([
      ['w_payer', wallet('w_payer', { tier: 'IV', balanceMinor: 9_000n * YUAN })],
      ['t_bank-a', wallet('t_bank-a', { kind: 'treasury', tier: null, balanceMinor: 0n })],
    ]);
    const redeem = item({ payeeWalletId: 't_bank-a', amountMinor: 9_000n * YUAN });
    const result = settleBatch([redeem, item({ id: 'b'.repeat(64), nonce: 2n, payeeWalletId: 't_bank-a', amountMinor: 1n })], { nowMs: NOW, wallets, recordedIds: new Set(), usedNonces: new Set() });
    expect(result.outcomes).toEqual([{ status: 'settled' }, { status: 'rejected', code: 'insufficient_funds' }]);
    expect(result.changedWallets.get('w_payer')!.dailySpentMinor).toBe(0n);
  });

  it('applies items in order against the state left by earlier items of the same batch', () => {
    const wallets = new Map([
      ['w_payer', wallet('w_payer', { balanceMinor: 100n })],
      ['w_payee', wallet('w_payee', { balanceMinor: 0n })],
    ]);
    const items = [
      item({ id: '1'.repeat(64), nonce: 1n, amountMinor: 60n }),
      item({ id: '2'.repeat(64), nonce: 2n, amountMinor: 60n }),
      item({ id: '3'.repeat(64), nonce: 3n, payerWalletId: 'w_payee', payeeWalletId: 'w_payer', amountMinor: 60n }),
      item({ id: '1'.repeat(64), nonce: 1n, amountMinor: 60n }),
      item({ id: '4'.repeat(64), nonce: 2n, amountMinor: 1n }),
    ];
    const result = settleBatch(items, { nowMs: NOW, wallets, recordedIds: new Set(), usedNonces: new Set() });
    expect(result.outcomes).toEqual([
      { status: 'settled' },
      { status: 'rejected', code: 'insufficient_funds' },
      { status: 'settled' },
      { status: 'duplicate' },
      { status: 'rejected', code: 'nonce_reused' },
    ]);
    expect(result.changedWallets.get('w_payer')!.balanceMinor).toBe(100n);
    expect(result.changedWallets.get('w_payee')!.balanceMinor).toBe(0n);
    expect(wallets.get('w_payer')!.balanceMinor).toBe(100n);
  });

  it('treats a credit that would overflow 2^63-1 as over the balance limit', () => {
    const wallets = new Map([
      ['t_bank-a', wallet('t_bank-a', { kind: 'treasury', tier: null, balanceMinor: 2n ** 63n - 1n })],
      ['w_payer', wallet('w_payer', { tier: 'I', balanceMinor: 5n })],
    ]);
    const result = settleBatch([item({ payeeWalletId: 't_bank-a', amountMinor: 5n })], { nowMs: NOW, wallets, recordedIds: new Set(), usedNonces: new Set() });
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'exceeds_balance_limit' }]);
  });
});
