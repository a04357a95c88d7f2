import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '@cbdc/shared/webhooks';
import { afterFailure } from './retry.js';

const policy = { attemptsMax: 4, retryAgeMsMax: 60_000, baseMs: 1000, maxMs: 8000 };

describe('retries of a failed delivery', () => {
  it('backs off exponentially up to the ceiling, with jitter below it', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, policy, 0.999999))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(retryDelayMs(3, policy, 0)).toBe(500);
    expect(retryDelayMs(3, policy, 0.5)).toBe(2000);
  });

  it('retries until the attempts bound, then dead-letters', () => {
    let state = { attempts: 0, firstFailedAtMs: null as number | null };
    const outcomes: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const next = afterFailure(state, 1000 * i, policy, 0.5);
      outcomes.push(next.dead);
      if (!next.dead) state = { attempts: next.attempts, firstFailedAtMs: next.firstFailedAtMs };
    }
    expect(outcomes).toEqual([false, false, false, true]);
    expect(state.firstFailedAtMs).toBe(0);
  });

  it('dead-letters once the age bound passes, whatever the attempts', () => {
    expect(afterFailure({ attempts: 1, firstFailedAtMs: 0 }, 60_000, policy, 0.5)).toEqual({ dead: true, attempts: 2 });
    expect(afterFailure({ attempts: 1, firstFailedAtMs: 0 }, 59_999, policy, 0.5)).toMatchObject({ dead: false, nextAttemptAtMs: 59_999 + 1000 });
  });
});
