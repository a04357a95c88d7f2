import { describe, expect, it } from 'vitest';
import { creditsToResend, nextSweepDelayMs } from './sweep.js';

const pace = { baseMs: 1000, maxMs: 30_000 };

describe('nextSweepDelayMs', () => {
  it.each([
    { previousMs: 1000, sent: 0, next: 1000, why: 'nothing stale: the base pace' },
    { previousMs: 16_000, sent: 0, next: 1000, why: 'nothing stale after backing off: back to the base pace' },
    { previousMs: 1000, sent: 5, next: 2000, why: 'credits sent again: twice as long' },
    { previousMs: 8000, sent: 1, next: 16_000, why: 'still stale: twice again' },
    { previousMs: 16_000, sent: 1, next: 30_000, why: 'never beyond the maximum' },
    { previousMs: 30_000, sent: 2000, next: 30_000, why: 'at the maximum, stays there' },
  ])('$why', ({ previousMs, sent, next }) => {
    expect(nextSweepDelayMs(previousMs, sent, pace)).toBe(next);
  });
});

describe('creditsToResend', () => {
  const stale = new Map([
    [1, ['a', 'b', 'c']],
    [2, ['d', 'e']],
  ]);
  const overdue = new Map([[1, ['a']]]);
  it('sends every stale credit to a shard whose queue is empty', () => {
    expect(creditsToResend(stale, overdue, new Set())).toEqual(stale);
  });
  it('sends only the overdue credits to a shard with jobs waiting', () => {
    expect(creditsToResend(stale, overdue, new Set([1]))).toEqual(
      new Map([
        [1, ['a']],
        [2, ['d', 'e']],
      ]),
    );
  });
  it('sends nothing to a busy shard with no overdue credit', () => {
    expect(creditsToResend(stale, overdue, new Set([1, 2]))).toEqual(new Map([[1, ['a']]]));
  });
});
