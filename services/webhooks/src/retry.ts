/**
 * What a failed delivery leads to, as a pure rule: retried later (exponential backoff with full
 * jitter, see retryDelayMs), or dead-lettered once either bound is reached: `attemptsMax` attempts
 * in all, or `retryAgeMsMax` since its first failure. The endpoint then moves on to its next event.
 */
import { retryDelayMs } from '@cbdc/shared/webhooks';

export interface RetryPolicy {
  attemptsMax: number;
  retryAgeMsMax: number;
  baseMs: number;
  maxMs: number;
}

/** The retry state of an endpoint's next event on a shard: failed attempts so far, and when the first failed. */
export interface RetryState {
  attempts: number;
  firstFailedAtMs: number | null;
}

export type AfterFailure = { dead: true; attempts: number } | { dead: false; attempts: number; firstFailedAtMs: number; nextAttemptAtMs: number };

/** The state after one more failed attempt at `nowMs`; `random` in [0, 1) draws the jitter. */
export function afterFailure(state: RetryState, nowMs: number, policy: RetryPolicy, random: number): AfterFailure {
  const attempts = state.attempts + 1;
  const firstFailedAtMs = state.firstFailedAtMs ?? nowMs;
  if (attempts >= policy.attemptsMax || nowMs - firstFailedAtMs >= policy.retryAgeMsMax) return { dead: true, attempts };
  return { dead: false, attempts, firstFailedAtMs, nextAttemptAtMs: nowMs + retryDelayMs(attempts, { baseMs: policy.baseMs, maxMs: policy.maxMs }, random) };
}
