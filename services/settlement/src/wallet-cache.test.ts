import { describe, expect, it } from 'vitest';
import type { WalletState } from '@cbdc/shared/ledger';
import { WalletCache } from './wallet-cache.js';

const wallet = (id: string, balanceMinor: bigint): WalletState => ({
  id,
  bankId: 'bank-a',
  kind: 'customer',
  tier: 'II',
  status: 'active',
  balanceMinor,
  dailySpentMinor: 0n,
  dailySpentDay: 0,
  inFlightOutMinor: 0n,
  heldMinor: 0n,
  publicKey: null,
});

describe('WalletCache', () => {
  it('keeps what a batch read and changed while no other writer bumps the version', () => {
    const cache = new WalletCache(10);
    const first = cache.validate(7n);
    cache.committed(first, 8n, [wallet('w1', 5n), wallet('w2', 9n)], [wallet('w1', 3n)]);
    cache.validate(8n);
    expect(cache.get('w1')?.balanceMinor).toBe(3n);
    expect(cache.get('w2')?.balanceMinor).toBe(9n);
  });

  it('starts from empty when the version in the database is not the one it holds', () => {
    const cache = new WalletCache(10);
    cache.committed(cache.validate(1n), 2n, [wallet('w1', 5n)], []);
    cache.validate(3n); // the issuer froze a wallet in between
    expect(cache.get('w1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops a commit that arrives after a newer batch validated (a late answer)', () => {
    const cache = new WalletCache(10);
    const late = cache.validate(1n);
    const newer = cache.validate(1n);
    cache.committed(late, 2n, [wallet('w1', 5n)], []);
    expect(cache.get('w1')).toBeUndefined();
    cache.committed(newer, 2n, [wallet('w1', 4n)], []);
    // The reset above emptied the cache and its version: the newer batch cannot apply either.
    expect(cache.get('w1')).toBeUndefined();
  });

  it('forgets everything on reset, so the next batch reads again', () => {
    const cache = new WalletCache(10);
    cache.committed(cache.validate(1n), 2n, [wallet('w1', 5n)], []);
    cache.reset();
    expect(cache.get('w1')).toBeUndefined();
    cache.validate(2n);
    expect(cache.get('w1')).toBeUndefined();
  });

  it('evicts the oldest tenth when over capacity, sparing the wallets just changed', () => {
    const cache = new WalletCache(10);
    const read = Array.from({ length: 10 }, (_, i) => wallet(`w${i}`, BigInt(i)));
    cache.committed(cache.validate(1n), 2n, read, []);
    cache.committed(cache.validate(2n), 3n, [wallet('w10', 10n)], [wallet('w0', 100n)]);
    expect(cache.size).toBe(9);
    expect(cache.get('w0')?.balanceMinor).toBe(100n);
    expect(cache.get('w1')).toBeUndefined();
    expect(cache.get('w10')?.balanceMinor).toBe(10n);
  });
});
