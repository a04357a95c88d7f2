import { describe, expect, it } from 'vitest';
import { TIER_LIMITS, type Tier } from './tiers.js';
import { keyInForce, keyReplacementRefusal, tierChangeRefusal, type TierChangeBasis } from './wallet-lifecycle.js';

const IV_CAP = TIER_LIMITS.IV.balanceMaxMinor!;
const customer = (over: Partial<TierChangeBasis> = {}): TierChangeBasis => ({ kind: 'customer', tier: 'II', status: 'active', balanceMinor: 0n, committedMinor: 0n, ...over });

describe('tier changes', () => {
  const cases: Array<[string, TierChangeBasis, Tier, ReturnType<typeof tierChangeRefusal>]> = [
    ['an upgrade', customer({ tier: 'IV', balanceMinor: IV_CAP }), 'II', null],
    ['an upgrade of a frozen wallet', customer({ tier: 'IV', status: 'frozen' }), 'I', null],
    ['a downgrade to exactly the cap', customer({ balanceMinor: IV_CAP - 10n, committedMinor: 10n }), 'IV', null],
    ['a downgrade below the balance', customer({ balanceMinor: IV_CAP + 1n }), 'IV', 'tier_below_balance'],
    ['a downgrade below balance plus money on its way out', customer({ balanceMinor: IV_CAP, committedMinor: 1n }), 'IV', 'tier_below_balance'],
    ['a change to tier I (no cap) whatever the balance', customer({ balanceMinor: 10n ** 15n }), 'I', null],
    ['the tier it has', customer({ tier: 'III' }), 'III', 'tier_unchanged'],
    ['a treasury (it has no tier)', customer({ kind: 'treasury', tier: null }), 'II', 'wallet_is_treasury'],
    ['a closed wallet', customer({ status: 'closed' }), 'III', 'wallet_closed'],
    // Precedence: what the wallet is before what it holds.
    ['a closed treasury', customer({ kind: 'treasury', tier: null, status: 'closed' }), 'II', 'wallet_is_treasury'],
    ['a closed wallet asked for its own tier', customer({ status: 'closed' }), 'II', 'wallet_closed'],
  ];
  it.each(cases)('%s', (_name, wallet, tier, expected) => {
    expect(tierChangeRefusal(wallet, tier)).toBe(expected);
  });
});

describe('key replacements', () => {
  const old = Buffer.alloc(32, 1);
  const fresh = Buffer.alloc(32, 2);
  it.each([
    ['another key', { kind: 'customer', status: 'active', publicKey: old }, fresh, null],
    ['another key for a frozen wallet', { kind: 'customer', status: 'frozen', publicKey: old }, fresh, null],
    ['the key it has', { kind: 'customer', status: 'active', publicKey: old }, Buffer.from(old), 'key_unchanged'],
    ['a treasury', { kind: 'treasury', status: 'active', publicKey: null }, fresh, 'wallet_is_treasury'],
    ['a closed wallet', { kind: 'customer', status: 'closed', publicKey: old }, fresh, 'wallet_closed'],
  ] as const)('%s', (_name, wallet, key, expected) => {
    expect(keyReplacementRefusal(wallet, key)).toBe(expected);
  });
});

describe('the key in force at a batch', () => {
  // Opened with A; replaced by B when the shard's head was batch 7; by C at batch 7 again (no batch
  // in between); by D at batch 20.
  const history = [
    { publicKey: 'A', afterBatchSeq: 0n },
    { publicKey: 'B', afterBatchSeq: 7n },
    { publicKey: 'C', afterBatchSeq: 7n },
    { publicKey: 'D', afterBatchSeq: 20n },
  ];
  it.each([
    [1n, 'A'],
    [7n, 'A'],
    [8n, 'C'],
    [20n, 'C'],
    [21n, 'D'],
    [1000n, 'D'],
  ])('batch %s is governed by key %s', (batch, key) => {
    expect(keyInForce(history, batch)).toBe(key);
  });
  it('is null for a wallet without a key', () => {
    expect(keyInForce([], 5n)).toBeNull();
  });
});
