/**
 * The bank-wide event feed (docs/events.md), as pure functions: the cursor and the merge of the
 * bank's shards into one page.
 *
 * A bank's events are numbered per shard (seq 1, 2, ... in commit order on that shard), and no
 * transaction spans two servers, so there is no single order to page through. The cursor therefore
 * holds one position per shard: the last seq of that shard the bank has been given. A page reads
 * each shard's events after its position, in seq order, and merges them by time; the next cursor
 * is the last seq taken from each shard. Each shard is read in its own commit order from its own
 * position, so no event is ever skipped or repeated, whatever the clocks of the shards say.
 *
 * The cursor is small: version 1, the shard count, then each shard's seq as the zigzag varint of
 * its difference from the previous shard's (a bank's shards advance alike, so most take one or two
 * bytes), in base64url. A cursor of another shard count, or that does not parse, is refused.
 */
import type { StoredEvent } from '@cbdc/shared/events';
import { AMOUNT_MINOR_MAX } from '@cbdc/shared/money';

/** One position per shard (index = shard): the last seq given; 0n: none yet. */
export type FeedPositions = bigint[];

const VERSION = 1;

function writeVarint(out: number[], v: bigint): void {
  let x = v;
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

/** Encodes positions as the feed's opaque cursor. */
export function encodeFeedCursor(positions: readonly bigint[]): string {
  const out: number[] = [VERSION];
  writeVarint(out, BigInt(positions.length));
  let previous = 0n;
  for (const seq of positions) {
    const delta = seq - previous;
    writeVarint(out, delta >= 0n ? delta << 1n : (-delta << 1n) - 1n);
    previous = seq;
  }
  return Buffer.from(out).toString('base64url');
}

/** Decodes a cursor for `shardCount` shards; null if it is not one this feed returns. */
export function decodeFeedCursor(text: string, shardCount: number): FeedPositions | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) return null; // one spelling per cursor
  let at = 0;
  const read = (): bigint | null => {
    let v = 0n;
    for (let shift = 0n; shift <= 70n; shift += 7n) {
      if (at >= bytes.length) return null;
      const b = bytes[at++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
    return null;
  };
  if (bytes[at++] !== VERSION) return null;
  if (read() !== BigInt(shardCount)) return null;
  const positions: FeedPositions = [];
  let previous = 0n;
  for (let s = 0; s < shardCount; s++) {
    const z = read();
    if (z === null) return null;
    const seq = previous + ((z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n));
    if (seq < 0n || seq > AMOUNT_MINOR_MAX) return null;
    positions.push(seq);
    previous = seq;
  }
  return at === bytes.length ? positions : null;
}

/**
 * How many events to read from each shard for a page of `limit` over `activeShards` shards with
 * events to give: enough that most pages fill, not `limit` from every one of a thousand shards.
 */
export function perShardReadOf(limit: number, activeShards: number): number {
  return Math.min(limit, Math.max(10, Math.ceil((2 * limit) / Math.max(activeShards, 1))));
}

/**
 * Merges each shard's events (each in seq order after that shard's position) into a page of at most
 * `limit` events, oldest first by time (ties by shard, then seq), and the positions after it. A
 * shard in `full` returned as many rows as it was asked for and may hold more: once its rows are
 * all taken the merge stops, as its next event may be older than every other head. `more` says
 * whether another page may have events now.
 */
export function mergeFeed(rows: readonly StoredEvent[], positions: readonly bigint[], full: ReadonlySet<number>, limit: number): { page: StoredEvent[]; next: FeedPositions; more: boolean } {
  const queues = new Map<number, StoredEvent[]>();
  for (const r of rows) {
    const q = queues.get(r.shard);
    if (q) q.push(r);
    else queues.set(r.shard, [r]);
  }
  const taken = new Map<number, number>();
  const next = [...positions];
  const page: StoredEvent[] = [];
  for (;;) {
    let best: StoredEvent | null = null;
    let stop = page.length >= limit;
    for (const [shard, q] of queues) {
      const i = taken.get(shard) ?? 0;
      if (i === q.length) {
        if (full.has(shard)) stop = true;
        continue;
      }
      const head = q[i];
      if (best === null || head.at_ms < best.at_ms || (head.at_ms === best.at_ms && (head.shard < best.shard || (head.shard === best.shard && head.seq < best.seq)))) best = head;
    }
    if (stop || best === null) return { page, next, more: stop };
    page.push(best);
    taken.set(best.shard, (taken.get(best.shard) ?? 0) + 1);
    next[best.shard] = best.seq;
  }
}
