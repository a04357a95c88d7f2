/** F1: the settlement worker is killed with SIGKILL at random intervals under load, and restarted each time. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, drained, drive, Ledger, recordRun, resolveUnknown, scaled, startFaultSystem, type FaultSystem, invariantFigures } from './support/harness.js';
import { waitForWorker } from './support/queues.js';

describe('F1: settlement worker killed at random intervals', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem();
  });
  afterAll(async () => f?.close());

  it('loses nothing acknowledged and settles nothing twice', async () => {
    const ledger = new Ledger();
    const loadMs = scaled(15_000, 60_000);
    const end = Date.now() + loadMs;
    let kills = 0;
    const killer = async () => {
      await waitForWorker(f);
      while (Date.now() < end) {
        // 200 to 2,000 ms of work after the worker is up, then SIGKILL and start it again.
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 1800));
        if (Date.now() >= end) break;
        f.sys.signal('settlement', 'SIGKILL');
        kills++;
        await f.sys.restart('settlement');
        await waitForWorker(f);
      }
    };
    await Promise.all([drive(f, ledger, { until: () => Date.now() >= end }), killer()]);
    await drained(f);
    const resolved = await resolveUnknown(f, ledger);
    const inv = await checkInvariants(f, ledger);
    recordRun('F1', { kills, loadMs, ...ledger.counts, ...resolved, ...invariantFigures(inv) });

    expect(inv.problems).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(ledger.acknowledged.size).toBeGreaterThan(0);
    expect(inv.figures.unknownAfterResolve).toBe(resolved.notRecorded);
    // Every request was answered (its outcome, or pending after the settle wait) within 15 s.
    expect(ledger.counts.hung).toBe(0);
  });
});
