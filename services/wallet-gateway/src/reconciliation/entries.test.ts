/**
 * Property: listing entries page by page while they commit, over any number of groups, with any
 * page size, shows every entry of the range exactly once and in key order, provided each entry
 * commits no later than the settled lag after its time (the assumption the horizon rests on). The
 * groups are arrays read the way ./store.ts reads a database (time in range and below the
 * horizon, key above the cursor, key order, limit + 1).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { afterPage, compareKeys, decodeListCursor, encodeListCursor, keyOf, mergeEntries, type EntryRow, type ListPosition } from './entries.js';

const LAG = 50n;

interface Stored {
  row: EntryRow;
  committedAtMs: bigint;
}

const rowOf = (atMs: bigint, shard: number, batchSeq: bigint, leaf: bigint, side: 0 | 1): EntryRow => ({
  source: side === 0 ? 'payer' : 'payee',
  at_ms: atMs,
  shard,
  batch_seq: batchSeq,
  leaf,
  side,
  subject_id: `${atMs}/${shard}/${batchSeq}/${leaf}/${side}`,
  kind: 'transfer',
  leg: null,
  wallet_id: 'w',
  payer_wallet_id: 'w',
  payee_wallet_id: 'v',
  amount_minor: 1n,
  applied: true,
  status: 'settled',
  code: null,
  from_shard: null,
});

/** What one group's database returns: committed rows with a time in [from, to) and a key above the cursor, in key order, limit + 1. */
function read(group: Stored[], nowMs: bigint, range: { fromMs: bigint; toMs: bigint }, p: ListPosition, limit: number): EntryRow[] {
  return group
    .filter((s) => s.committedAtMs <= nowMs && s.row.at_ms >= range.fromMs && s.row.at_ms < range.toMs && (p.after === null || compareKeys(keyOf(s.row), p.after) > 0))
    .map((s) => s.row)
    .sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
    .slice(0, limit + 1);
}

/** Entries of `groups` shards each (shard s in group s mod groups), each committing 0 to LAG ms after its time. */
const groupsArbitrary = fc.integer({ min: 1, max: 3 }).chain((groups) =>
  fc
    .array(fc.record({ at: fc.integer({ min: 0, max: 300 }), shard: fc.integer({ min: 0, max: 5 }), late: fc.integer({ min: 0, max: Number(LAG) }), sides: fc.constantFrom<Array<0 | 1>>([0], [1], [0, 1]) }), { maxLength: 40 })
    .map((specs) => {
      const out: Stored[][] = Array.from({ length: groups }, () => []);
      const seqs = new Map<number, bigint>();
      for (const s of specs) {
        const seq = (seqs.get(s.shard) ?? 0n) + 1n;
        seqs.set(s.shard, seq);
        for (const side of s.sides) out[s.shard % groups].push({ row: rowOf(BigInt(s.at), s.shard, seq, 0n, side), committedAtMs: BigInt(s.at + s.late) });
      }
      return out;
    }),
);

describe('listing entries while they commit', () => {
  it('shows every entry of the range once, in key order, whatever the groups, page size and commit delays within the lag', () => {
    fc.assert(
      fc.property(
        groupsArbitrary,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 10 }),
        (groups, limit, from, span, steps) => {
          const range = { fromMs: BigInt(from), toMs: BigInt(from + span) };
          let position: ListPosition | null = { ...range, after: null };
          let nowMs = 0n;
          const seen: EntryRow[] = [];
          for (let i = 0; position !== null; i++) {
            expect(i).toBeLessThan(1000);
            // The clock moves on between pages (and, once the steps run out, far enough to end the listing).
            nowMs += i < steps.length ? BigInt(steps[i]) : 100n;
            const horizon = nowMs - LAG;
            const listedTo = horizon < range.toMs ? horizon : range.toMs;
            const streams = listedTo <= range.fromMs ? [] : groups.map((g) => read(g, nowMs, { fromMs: range.fromMs, toMs: listedTo }, position!, limit));
            const { page, more } = mergeEntries(streams, limit);
            expect(page.length).toBeLessThanOrEqual(limit);
            seen.push(...page);
            const { next } = afterPage(position, page, more, horizon);
            // The cursor survives its wire form.
            if (next !== null) expect(decodeListCursor(encodeListCursor(next))).toEqual(next);
            position = next;
          }
          const expected = groups
            .flat()
            .map((s) => s.row)
            .filter((r) => r.at_ms >= range.fromMs && r.at_ms < range.toMs)
            .sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
          expect(seen.map((r) => r.subject_id)).toEqual(expected.map((r) => r.subject_id));
        },
      ),
    );
  });

  it('without the lag an entry committing late below the cursor would be missed (why the horizon exists)', () => {
    const early = { row: rowOf(10n, 0, 1n, 0n, 0), committedAtMs: 40n };
    const later = { row: rowOf(20n, 1, 1n, 0n, 0), committedAtMs: 20n };
    const range = { fromMs: 0n, toMs: 100n };
    // Read at 30 with no lag: only the later entry is there; the cursor passes time 20.
    const first = mergeEntries([read([early, later], 30n, range, { ...range, after: null }, 10)], 10);
    expect(first.page.map((r) => r.at_ms)).toEqual([20n]);
    const cursor = { ...range, after: keyOf(first.page[0]) };
    expect(read([early, later], 1000n, range, cursor, 10)).toEqual([]);
  });

  it.each([['e1.5.5'], ['e1.6.5'], ['e2.1.5'], ['e1.1.5.7.0.1.0'], ['e1.1.5.3.0.1.0.2'], ['e1.1.5.3.1024.1.0.0'], ['e1.1.5.3.0.1.0.-1'], ['e1.01.5'], ['e1.1.9223372036854775808'], ['']])('refuses the cursor text %j', (text) => {
    expect(decodeListCursor(text)).toBeNull();
  });
});
