/**
 * F3: Redis is killed with SIGKILL under load and started again, once with its append-only file
 * and once with an empty data directory (everything queued is gone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, drained, drive, Ledger, recordRun, resolveUnknown, scaled, startFaultSystem, submitBatch, type FaultSystem, invariantFigures } from './support/harness.js';

describe('F3: Redis killed mid-load', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem();
  });
  afterAll(async () => f?.close());

  for (const wipe of [false, true]) {
    it(`${wipe ? 'with an empty data directory' : 'with its append-only file'}: 503 while down, nothing acknowledged lost, resubmissions settle at most once`, async () => {
      const ledger = new Ledger();
      let stop = false;
      const load = drive(f, ledger, { until: () => stop, concurrency: 6 });
      await new Promise((r) => setTimeout(r, scaled(3000, 10_000)));
      await f.redis!.kill();
      // While Redis is down: the gateway answers 503 with Retry-After, quickly.
      await new Promise((r) => setTimeout(r, 500));
      const probe = new Ledger();
      const started = Date.now();
      const payer = f.pop.wallets[1];
      for (let i = 0; i < 3; i++) await submitBatch(f, probe, [probe.sign(f.pop, payer)], 5000);
      const probeMs = Date.now() - started;
      await new Promise((r) => setTimeout(r, 1500));
      await f.redis!.start({ wipe });
      await new Promise((r) => setTimeout(r, scaled(3000, 10_000)));
      stop = true;
      await load;
      await drained(f);
      const resolved = await resolveUnknown(f, ledger, { resubmit: true });
      const inv = await checkInvariants(f, ledger);
      recordRun(wipe ? 'F3 empty data directory' : 'F3 append-only file', {
        ...ledger.counts,
        probe503: probe.counts.unavailable503,
        probeWithRetryAfter: probe.counts.withRetryAfter,
        probeMs,
        ...resolved,
        ...invariantFigures(inv),
      });

      expect(probe.counts.unavailable503).toBe(3);
      expect(probe.counts.withRetryAfter).toBe(3);
      expect(probe.counts.hung).toBe(0);
      expect(probe.acknowledged.size).toBe(0);
      expect(inv.problems).toEqual([]);
      expect(inv.figures.unknownAfterResolve).toBe(0);
      expect(ledger.counts.hung).toBe(0);
    });
  }
});
