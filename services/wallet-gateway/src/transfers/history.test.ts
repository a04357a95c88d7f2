/**
 * Property: paging a history merged over any number of groups, with any page size and any
 * settlement times (clocks that disagree between groups included), shows every row exactly once,
 * each group's rows in its own order, and each page at most the page size. The groups are arrays
 * here, read the way `historyRows` reads a database (below a position, newest first, limit + 1).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeHistoryCursor, encodeHistoryCursor, mergeHistory, type HistoryCursor } from './history.js';
import type { TransferRow } from './store.js';

const rowOf = (group: number, rowNo: number, settledAtMs: number) => ({ id: `${group}:${rowNo}`, row_no: BigInt(rowNo), settled_at_ms: BigInt(settledAtMs) }) as TransferRow;

/** What one database returns: rows below `before` (all when null; none when 0), newest first by row_no, at most limit + 1. */
function read(group: TransferRow[], before: bigint | null, limit: number): TransferRow[] {
  if (before === 0n) return [];
  return group
    .filter((r) => before === null || r.row_no < before)
    .sort((a, b) => Number(b.row_no - a.row_no))
    .slice(0, limit + 1);
}

describe('history across groups', () => {
  it('pages every row exactly once, whatever the groups, page size and clocks', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 12 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 5 }), (times, limit) => {
        const groups = times.map((ts, g) => ts.map((t, i) => rowOf(g, i + 1, t)));
        const seen: string[] = [];
        let cursor: HistoryCursor | null = null;
        for (let pages = 0; ; pages++) {
          expect(pages).toBeLessThanOrEqual(groups.flat().length + 1);
          const positions: HistoryCursor = cursor ?? groups.map(() => null);
          const { page, next } = mergeHistory(
            groups.map((g, i) => read(g, positions[i], limit)),
            positions,
            limit,
          );
          expect(page.length).toBeLessThanOrEqual(limit);
          seen.push(...page.map((r) => r.id));
          if (next === null) break;
          expect(page.length).toBe(limit);
          // The cursor survives its wire form.
          cursor = decodeHistoryCursor(encodeHistoryCursor(next), groups.length);
          expect(cursor).toEqual(next);
        }
        expect([...seen].sort()).toEqual(
          groups
            .flat()
            .map((r) => r.id)
            .sort(),
        );
        // Each group's rows come newest first in its own order.
        for (let g = 0; g < groups.length; g++) {
          const mine = seen.filter((id) => id.startsWith(`${g}:`)).map((id) => Number(id.split(':')[1]));
          expect(mine).toEqual([...mine].sort((a, b) => b - a));
        }
      }),
    );
  });

  it('with one group the cursor is its row number alone, as before the split', () => {
    const rows = [rowOf(0, 3, 30), rowOf(0, 2, 20), rowOf(0, 1, 10)];
    const { page, next } = mergeHistory([rows.slice(0, 3)], [null], 2);
    expect(page.map((r) => r.id)).toEqual(['0:3', '0:2']);
    expect(encodeHistoryCursor(next!)).toBe('2');
    expect(decodeHistoryCursor('2', 1)).toEqual([2n]);
  });

  it.each([
    ['', 1],
    ['01', 1],
    ['1,2', 1],
    ['1', 2],
    ['*,x', 2],
    ['-1', 1],
    ['9223372036854775808', 1],
  ])('refuses the cursor text %j for %i group(s)', (text, groups) => {
    expect(decodeHistoryCursor(text, groups)).toBeNull();
  });
});
