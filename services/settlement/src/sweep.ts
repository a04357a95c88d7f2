/**
 * When the sweeper looks again for credits to send again. A credit still in flight after a few
 * seconds is usually not lost but queued: under load (a burst, a slow disk) the payee's shard has
 * not reached it yet. Sending it again every second then puts one more copy in that queue every
 * second, each answered with one more result for the payer's shard: the busier the shards, the more
 * duplicates they are given, a retry storm (measured: three times the items for the same transfers,
 * `npm run bench -- --cluster`, docs/performance.md). So while sweeps keep finding stale credits,
 * each waits twice as long as the one before, up to `maxMs`; a sweep that finds none starts again
 * from `baseMs`. A lost message is still sent again, within `maxMs` at the latest.
 */
export interface SweepPace {
  baseMs: number;
  maxMs: number;
}

/** The delay before the next sweep, after one that waited `previousMs` and sent `sent` credits. */
export function nextSweepDelayMs(previousMs: number, sent: number, pace: SweepPace): number {
  return sent > 0 ? Math.min(Math.max(previousMs, pace.baseMs) * 2, pace.maxMs) : pace.baseMs;
}

/**
 * Which stale credits to send again. A payee's shard whose queue still has jobs waiting (or being
 * settled) has most likely not reached the credit yet: it is sent again only once it is `overdue` (in flight far
 * longer than the resend age); to a shard whose queue is empty every `stale` credit goes again, as
 * it must have been lost.
 */
export function creditsToResend<T>(stale: ReadonlyMap<number, T[]>, overdue: ReadonlyMap<number, T[]>, busyShards: ReadonlySet<number>): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const [to, list] of stale) {
    const chosen = busyShards.has(to) ? (overdue.get(to) ?? []) : list;
    if (chosen.length > 0) out.set(to, chosen);
  }
  return out;
}
