/** F6: Redis full (maxmemory, noeviction), and Postgres refusing writes (read-only). */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, drained, Ledger, recordRun, resolveUnknown, startFaultSystem, submitBatch, type FaultSystem, invariantFigures } from './support/harness.js';

describe('F6: backing stores refusing writes', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem({ redisMaxmemory: '32mb' });
  });
  afterAll(async () => f?.close());

  const attempt = async (ledger: Ledger, n: number) => {
    const payers = f.pop.wallets.filter((w) => w.bankId === f.pop.banks[0]);
    for (let i = 0; i < n; i++)
      await submitBatch(
        f,
        ledger,
        Array.from({ length: 5 }, (_, j) => ledger.sign(f.pop, payers[(i * 5 + j) % payers.length])),
        10_000,
      );
  };
  const recorded = async (ledger: Ledger) => {
    const [row] = await f.sys.sql<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${[...ledger.submitted.keys()]})`;
    return row.n;
  };

  it('Redis at its memory limit: 503 with Retry-After, no acknowledgement, nothing recorded; settles once there is room', async () => {
    const filler = new Redis(f.redis!.url);
    let keys = 0;
    // Large values first, then smaller ones: the query buffer of a refused 256 KB write is freed
    // after the refusal, which left room for a small job.
    for (const size of [256 * 1024, 4096, 64]) {
      const chunk = 'x'.repeat(size);
      try {
        for (;;) {
          await filler.set(`filler:${keys}`, chunk);
          keys++;
        }
      } catch (error) {
        expect((error as Error).message).toMatch(/OOM/);
      }
    }
    const refused = new Ledger();
    await attempt(refused, 4);
    const recordedWhileFull = await recorded(refused);
    for (let i = 0; i < keys; i += 100) await filler.del(...Array.from({ length: Math.min(100, keys - i) }, (_, j) => `filler:${i + j}`));
    filler.disconnect();
    const after = new Ledger();
    await attempt(after, 4);
    await drained(f);
    const inv = await checkInvariants(f, after);
    recordRun('F6 Redis full', {
      requestsWhileFull: refused.counts.requests,
      answered503: refused.counts.unavailable503,
      withRetryAfter: refused.counts.withRetryAfter,
      acknowledgedWhileFull: refused.acknowledged.size,
      recordedWhileFull,
      settledAfter: after.acknowledged.size,
      ...invariantFigures(inv),
    });

    expect(refused.counts.unavailable503).toBe(4);
    expect(refused.counts.withRetryAfter).toBe(4);
    expect(refused.acknowledged.size).toBe(0);
    expect(recordedWhileFull).toBe(0);
    expect([...after.acknowledged.values()].every((s) => s === 'settled')).toBe(true);
    expect(after.acknowledged.size).toBe(20);
    expect(inv.problems).toEqual([]);
  });

  it('Postgres refusing writes: 503 with Retry-After, no acknowledgement, nothing recorded; settles once writes return', async () => {
    await f.pg.setReadOnly(true);
    await new Promise((r) => setTimeout(r, 1500));
    const refused = new Ledger();
    await attempt(refused, 4);
    await f.pg.setReadOnly(false);
    await new Promise((r) => setTimeout(r, 1500));
    const recordedWhileReadOnly = await recorded(refused);
    const after = new Ledger();
    await attempt(after, 4);
    await drained(f);
    const resolved = await resolveUnknown(f, after);
    const inv = await checkInvariants(f, after);
    recordRun('F6 Postgres read-only', {
      requestsWhileReadOnly: refused.counts.requests,
      answered503: refused.counts.unavailable503,
      withRetryAfter: refused.counts.withRetryAfter,
      acknowledgedWhileReadOnly: refused.acknowledged.size,
      recordedWhileReadOnly,
      settledAfter: after.acknowledged.size,
      ...resolved,
      ...invariantFigures(inv),
    });

    expect(refused.counts.unavailable503).toBe(4);
    expect(refused.counts.withRetryAfter).toBe(4);
    expect(refused.acknowledged.size).toBe(0);
    expect(recordedWhileReadOnly).toBe(0);
    expect(after.acknowledged.size).toBe(20);
    expect(inv.problems).toEqual([]);
  });
});
