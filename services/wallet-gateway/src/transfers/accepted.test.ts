import { describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { fundingIdOf } from '@cbdc/shared/ids';
import type { JobItem } from '@cbdc/shared/job';
import { LIMITS } from '@cbdc/shared/limits';
import { acceptedTtlMs, acceptedView, encodeAccepted } from './accepted.js';

const NOW = 1_767_225_600_000;
const SKEW = LIMITS.requestClockSkewMs;
const key = newCustomerKey();

function transferItem(expiresAtMs: number): JobItem {
  const { id, wire } = signTransfer({ payerWalletId: 'w_0123456789abcdef01234567', payeeWalletId: 'w_89abcdef0123456789abcdef', amountMinor: 250n, expiresAtMs: BigInt(expiresAtMs), memo: 'tea' }, key.privateKey);
  return { ...wire, id, kind: 'transfer', bankId: 'bank-a', submittedAtMs: NOW - 1000, payeeShard: 1 };
}
const fundingItem = (): JobItem => ({
  id: fundingIdOf('bank-a', 'fund-0001'),
  kind: 'funding',
  bankId: 'bank-a',
  payerWalletId: 't_bank-a',
  payeeWalletId: 'w_0123456789abcdef01234567',
  amountMinor: '500',
  nonce: null,
  expiresAtMs: null,
  memo: '',
  signature: null,
  submittedAtMs: NOW,
  payeeShard: 0,
  authority: { pathWithQuery: '/v1/fundings', timestampMs: String(NOW), nonce: 'n', contentType: 'application/json', idempotencyKey: 'fund-0001', body: '{}', signature: '00' },
});

describe('acceptedView', () => {
  const expiry = NOW + 60_000;
  const item = transferItem(expiry);
  const view = (at: number, stored = encodeAccepted(item), id = item.id) => acceptedView(stored, id, 3, at, SKEW);

  it.each([
    ['before the expiry', NOW, 'pending', null],
    ['at the expiry plus the skew (a slow worker clock could still settle it)', expiry + SKEW, 'pending', null],
    ['past the expiry plus the skew', expiry + SKEW + 1, 'not_settled', 'expired'],
  ] as const)('%s: %s', (_, at, status, code) => {
    expect(view(at)).toEqual({
      bankId: 'bank-a',
      view: {
        id: item.id,
        kind: 'transfer',
        status,
        code,
        payerWalletId: item.payerWalletId,
        payeeWalletId: item.payeeWalletId,
        amountMinor: '250',
        nonce: item.nonce,
        expiresAtMs: String(expiry),
        memo: 'tea',
        shard: 3,
        batchSeq: null,
        submittedAtMs: String(NOW - 1000),
        settledAtMs: null,
      },
    });
  });

  it.each([
    ['stored under another id', encodeAccepted(item), 'ab'.repeat(32)],
    ['with a changed amount (no longer the signed content of its id)', encodeAccepted({ ...item, amountMinor: '251' }), item.id],
    ['with a changed expiry', encodeAccepted({ ...item, expiresAtMs: String(NOW - 1) }), item.id],
    ['without a nonce', encodeAccepted({ ...item, nonce: null }), item.id],
    ['with a non-numeric amount', encodeAccepted({ ...item, amountMinor: 'x' }), item.id],
    ['not JSON', '{', item.id],
    ['JSON without an item', '{}', item.id],
  ])('is no record when %s', (_, stored, id) => expect(view(NOW, stored, id)).toBeNull());

  it('reads a funding pending for as long as its record lives (no expiry), bound to its bank and Idempotency-Key', () => {
    const f = fundingItem();
    expect(acceptedView(encodeAccepted(f), f.id, 0, NOW + 10 * 86_400_000, SKEW)?.view).toMatchObject({ kind: 'funding', status: 'pending', code: null, expiresAtMs: null });
    expect(acceptedView(encodeAccepted({ ...f, bankId: 'bank-b' }), f.id, 0, NOW, SKEW)).toBeNull();
    expect(acceptedView(encodeAccepted({ ...f, payerWalletId: 't_bank-b' }), f.id, 0, NOW, SKEW)).toBeNull();
  });
});

describe('acceptedTtlMs', () => {
  it('keeps a transfer’s record past its expiry by the skew and the retention, and a funding’s for its pending window', () => {
    const limits = { requestClockSkewMs: 60_000, acceptedNotSettledRetentionMs: 3_600_000, acceptedFundingPendingMs: 7_200_000 };
    expect(acceptedTtlMs(transferItem(NOW + 10_000), NOW, limits)).toBe(10_000 + 60_000 + 3_600_000);
    expect(acceptedTtlMs(fundingItem(), NOW, limits)).toBe(7_200_000);
    expect(acceptedTtlMs(transferItem(NOW - 10 * 3_600_000), NOW, limits)).toBe(1);
  });
});
