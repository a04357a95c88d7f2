import { describe, expect, it } from 'vitest';
import { planFreezeChange, type FreezeRecord, type WalletFreezes } from './freezes.js';

const central: FreezeRecord = { by: 'alice', reason: 'court order', reference: 'CASE-1', atMs: 1 };
const bank: FreezeRecord = { by: 'bank-a', reason: 'lost phone', reference: null, atMs: 2 };
const w = (o: Partial<WalletFreezes> = {}): WalletFreezes => ({ status: 'active', central: null, bank: null, ...o });

describe('planFreezeChange', () => {
  it.each([
    ['central bank freezes an active wallet', w(), 'central', { action: 'freeze', record: central }, { status: 'frozen', central, bank: null }],
    ['bank freezes an active wallet', w(), 'bank', { action: 'freeze', record: bank }, { status: 'frozen', central: null, bank }],
    ['bank tries to lift the central freeze', w({ status: 'frozen', central }), 'bank', { action: 'lift' }, 'frozen_by_central_bank'],
    ['bank lifts its own freeze; the central one stays', w({ status: 'frozen', central, bank }), 'bank', { action: 'lift' }, { status: 'frozen', central, bank: null }],
    ['central bank lifts its freeze; the bank one stays', w({ status: 'frozen', central, bank }), 'central', { action: 'lift' }, { status: 'frozen', central: null, bank }],
    ['central bank lifts the only freeze', w({ status: 'frozen', central }), 'central', { action: 'lift' }, { status: 'active', central: null, bank: null }],
    ['central bank cannot lift a bank freeze', w({ status: 'frozen', bank }), 'central', { action: 'lift' }, 'wallet_not_frozen'],
    ['bank lifts nothing', w(), 'bank', { action: 'lift' }, 'wallet_not_frozen'],
    ['freezing twice by one authority', w({ status: 'frozen', bank }), 'bank', { action: 'freeze', record: bank }, 'wallet_already_frozen'],
    ['central freeze on top of a bank freeze', w({ status: 'frozen', bank }), 'central', { action: 'freeze', record: central }, { status: 'frozen', central, bank }],
    ['a closed wallet', w({ status: 'closed' }), 'central', { action: 'freeze', record: central }, 'wallet_closed'],
  ] as const)('%s', (_name, wallet, authority, change, expected) => expect(planFreezeChange(wallet, authority, change)).toEqual(expected));

  it('refuses a central freeze without a reference as a broken invariant', () => {
    expect(() => planFreezeChange(w(), 'central', { action: 'freeze', record: { ...central, reference: null } })).toThrow(/invariant/);
  });
});
