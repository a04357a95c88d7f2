import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@cbdc/shared/events';
import { decodeFeedCursor, encodeFeedCursor, mergeFeed, perShardReadOf } from './feed.js';

const ev = (shard: number, seq: bigint, atMs: number): StoredEvent => ({ bank_id: 'b', shard, seq, type: 'payment.received', subject_id: 's', wallet_id: 'w', amount_minor: 1n, code: null, data: null, at_ms: BigInt(atMs) });

describe('the feed cursor', () => {
  it('round-trips any positions, and stays small when shards advance alike', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), { minLength: 1, maxLength: 64 }), (positions) => {
        expect(decodeFeedCursor(encodeFeedCursor(positions), positions.length)).toEqual(positions);
      }),
    );
    const alike = Array.from({ length: 1024 }, (_, s) => 1_000_000n + BigInt(s % 7));
    expect(encodeFeedCursor(alike).length).toBeLessThan(1024 * 2);
  });

  it.each([
    ['another shard count', encodeFeedCursor([1n, 2n]), 3],
    ['not base64url', '$$', 2],
    ['another spelling of the same bytes', `${encodeFeedCursor([1n, 2n])}=`, 2],
    ['trailing bytes', Buffer.concat([Buffer.from(encodeFeedCursor([1n, 2n]), 'base64url'), Buffer.from([0])]).toString('base64url'), 2],
    ['a truncated varint', Buffer.from([1, 2, 0x80]).toString('base64url'), 2],
    ['another version', Buffer.from([2, 1, 0]).toString('base64url'), 1],
    ['a negative seq', Buffer.from([1, 1, 1]).toString('base64url'), 1],
    ['empty', '', 1],
  ])('refuses %s', (_, text, shards) => {
    expect(decodeFeedCursor(text as string, shards as number)).toBeNull();
  });
});

describe('merging shards into a page', () => {
  it('orders by time across shards, by seq within one, and moves each position to its last event given', () => {
    const rows = [ev(0, 1n, 10), ev(0, 2n, 30), ev(1, 5n, 20), ev(1, 6n, 40)];
    const { page, next } = mergeFeed(rows, [0n, 4n], new Set(), 3);
    expect(page.map((e) => `${e.shard}/${e.seq}`)).toEqual(['0/1', '1/5', '0/2']);
    expect(next).toEqual([2n, 5n]);
  });

  it('keeps a shard in commit order even when its clock went back', () => {
    const { page } = mergeFeed([ev(0, 1n, 50), ev(0, 2n, 10), ev(1, 1n, 20)], [0n, 0n], new Set(), 10);
    expect(page.map((e) => `${e.shard}/${e.seq}`)).toEqual(['1/1', '0/1', '0/2']);
  });

  it('stops at a shard that may hold more than it returned', () => {
    const { page, next, more } = mergeFeed([ev(0, 1n, 10), ev(0, 2n, 11), ev(1, 1n, 50)], [0n, 0n], new Set([0]), 10);
    expect(page.map((e) => `${e.shard}/${e.seq}`)).toEqual(['0/1', '0/2']);
    expect(next).toEqual([2n, 0n]);
    expect(more).toBe(true);
  });

  it('pages through random shards with no gap and no repeat', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 30 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 7 }), (clocks, limit) => {
        const all = clocks.flatMap((times, shard) => times.map((t, i) => ev(shard, BigInt(i + 1), t)));
        let positions = clocks.map(() => 0n);
        const seen: string[] = [];
        for (let guard = 0; guard < 1000; guard++) {
          const perShard = perShardReadOf(limit, clocks.length);
          const rows = clocks.flatMap((_, shard) => all.filter((e) => e.shard === shard && e.seq > positions[shard]).slice(0, perShard));
          const full = new Set(clocks.map((_, s) => s).filter((s) => rows.filter((e) => e.shard === s).length === perShard));
          const { page, next } = mergeFeed(rows, positions, full, limit);
          if (page.length === 0) break;
          seen.push(...page.map((e) => `${e.shard}/${e.seq}`));
          positions = decodeFeedCursor(encodeFeedCursor(next), clocks.length)!;
        }
        expect(seen.length).toBe(all.length);
        expect(new Set(seen).size).toBe(all.length);
      }),
    );
  });
});
