/** What a request does about a key already stored: the rule, as a table. */
import { describe, expect, it } from 'vitest';
import { decideExistingKey, requestHashOf, type StoredKey } from './idempotency.js';

const NOW = 1_000_000;
const mine = requestHashOf('POST', '/v1/fundings', Buffer.from('{"walletId":"w_1","amountMinor":"5"}'));
const other = requestHashOf('POST', '/v1/fundings', Buffer.from('{"walletId":"w_1","amountMinor":"6"}'));
const row = (over: Partial<StoredKey>): StoredKey => ({ requestHash: mine, statusCode: null, response: null, leaseExpiresAtMs: null, expiresAtMs: BigInt(NOW + 60_000), ...over });

describe('decideExistingKey', () => {
  const cases: Array<[string, StoredKey, Buffer, ReturnType<typeof decideExistingKey>]> = [
    ['a stored answer of the same request is replayed', row({ statusCode: 201, response: { id: 'a' } }), mine, { kind: 'replay', status: 201, body: { id: 'a' } }],
    ['another request with the key is refused, answered or not', row({ statusCode: 201, response: { id: 'a' } }), other, { kind: 'reused' }],
    ['another request is refused while a lease holds', row({ leaseExpiresAtMs: BigInt(NOW + 5_000) }), other, { kind: 'reused' }],
    ['the same request while a lease holds is told to wait until it ends', row({ leaseExpiresAtMs: BigInt(NOW + 2_500) }), mine, { kind: 'in_use', retryAfterMs: 2_500 }],
    ['a lease that has ended (its owner crashed) is taken over', row({ leaseExpiresAtMs: BigInt(NOW) }), mine, { kind: 'take_over' }],
    ['a released lease (answered pending) is taken over', row({ leaseExpiresAtMs: null }), mine, { kind: 'take_over' }],
    ['a released lease is still bound to its request', row({ leaseExpiresAtMs: null }), other, { kind: 'reused' }],
    ['an expired key is new again, even for another request', row({ statusCode: 201, response: {}, expiresAtMs: BigInt(NOW) }), other, { kind: 'take_over' }],
  ];
  for (const [name, stored, hash, expected] of cases) {
    it(name, () => expect(decideExistingKey(stored, hash, NOW)).toEqual(expected));
  }

  it('binds a key to the method, the path with its query, and the body bytes', () => {
    const body = Buffer.from('{}');
    const base = requestHashOf('POST', '/v1/wallets', body);
    expect(requestHashOf('post', '/v1/wallets', body)).toEqual(base);
    expect(requestHashOf('PUT', '/v1/wallets', body)).not.toEqual(base);
    expect(requestHashOf('POST', '/v1/wallets?x=1', body)).not.toEqual(base);
    expect(requestHashOf('POST', '/v1/wallets', Buffer.from('{ }'))).not.toEqual(base);
    expect(requestHashOf('POST', '/v1/wallets', undefined)).toEqual(requestHashOf('POST', '/v1/wallets', Buffer.alloc(0)));
  });
});
