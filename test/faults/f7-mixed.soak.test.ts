/**
 * F7: a long mixed run. Under continuous load, fault-free periods alternate with one fault at a
 * time, picked at random: the settlement worker killed or frozen past its lock (a second worker
 * takes over), Redis killed and restarted on its append-only file, Postgres killed and restarted
 * or turned read-only, the gateway killed and restarted. Afterwards the outcome of everything the
 * banks never learned is read by id (what was never recorded is resubmitted once) and I1-I5 are
 * checked. Its own script (`npm run test:faults:mixed`, FAULTS_MIXED_MINUTES, default 5); not in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, drained, drive, Ledger, recordRun, resolveUnknown, startFaultSystemWithTwoWorkers, type FaultSystem, invariantFigures } from './support/harness.js';

const MINUTES = Number(process.env.FAULTS_MIXED_MINUTES ?? 5);
const LOCK_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (min: number, max: number) => min + Math.random() * (max - min);

type FaultName = 'worker killed' | 'worker frozen' | 'Redis killed' | 'Postgres killed' | 'Postgres read-only' | 'gateway killed';

describe('F7: faults alternating with quiet periods under load', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystemWithTwoWorkers(LOCK_MS);
  });
  afterAll(async () => f?.close());

  const faults: Record<FaultName, () => Promise<void>> = {
    'worker killed': async () => {
      f.sys.signal('settlement', 'SIGKILL');
      await f.sys.restart('settlement');
    },
    'worker frozen': async () => {
      f.sys.signal('settlement', 'SIGSTOP');
      await sleep(LOCK_MS * 3);
      f.sys.signal('settlement', 'SIGCONT');
    },
    'Redis killed': async () => {
      await f.redis!.kill();
      await sleep(between(500, 3000));
      await f.redis!.start();
    },
    'Postgres killed': async () => {
      await f.pg.kill();
      await sleep(between(500, 3000));
      await f.pg.start();
    },
    'Postgres read-only': async () => {
      await f.pg.setReadOnly(true);
      await sleep(between(1000, 4000));
      await f.pg.setReadOnly(false);
    },
    'gateway killed': async () => {
      f.sys.signal('gateway', 'SIGKILL');
      await sleep(between(200, 1000));
      await f.sys.restart('gateway');
    },
  };

  it(`loses nothing acknowledged and settles nothing twice over ${MINUTES} minute(s) of mixed faults`, async () => {
    const ledger = new Ledger();
    let stop = false;
    const load = drive(f, ledger, { until: () => stop, concurrency: 6 });
    const injected: Record<string, number> = {};
    const end = Date.now() + MINUTES * 60_000;
    const names = Object.keys(faults) as FaultName[];
    while (Date.now() < end) {
      await sleep(between(3000, 8000));
      const name = names[Math.floor(Math.random() * names.length)];
      await faults[name]();
      injected[name] = (injected[name] ?? 0) + 1;
    }
    await sleep(3000);
    stop = true;
    await load;
    await drained(f);
    const resolved = await resolveUnknown(f, ledger, { resubmit: true });
    const inv = await checkInvariants(f, ledger);
    const faultCount = Object.values(injected).reduce((a, b) => a + b, 0);
    recordRun('F7', { minutes: MINUTES, faults: faultCount, injected, ...ledger.counts, ...resolved, ...invariantFigures(inv) });

    expect(inv.problems).toEqual([]);
    expect(faultCount).toBeGreaterThanOrEqual(MINUTES * 3);
    expect(ledger.acknowledged.size).toBeGreaterThan(0);
    // Every request was answered (an outcome, pending, 503, or a refused connection while the
    // gateway was down) within the settle wait and a margin.
    expect(ledger.counts.hung).toBe(0);
  });
});
