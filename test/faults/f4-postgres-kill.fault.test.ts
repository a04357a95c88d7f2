/** F4: Postgres (the postmaster and every backend) is killed with SIGKILL under load, and started again. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { checkInvariants, drained, drive, FULL, Ledger, recordRun, resolveUnknown, startFaultSystem, type FaultSystem, invariantFigures } from './support/harness.js';

describe('F4: Postgres killed mid-batch', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem();
  });
  afterAll(async () => f?.close());

  it('leaves no half-applied batch and no duplicate', async () => {
    const ledger = new Ledger();
    let stop = false;
    const load = drive(f, ledger, { until: () => stop, concurrency: 6 });
    let kills = 0;
    let midTransaction = 0;
    for (let i = 0; i < (FULL ? 8 : 3); i++) {
      await new Promise((r) => setTimeout(r, 1500 + Math.random() * 2000));
      // Kill at the first moment a settlement transaction is open (or after 2 s of looking).
      const watch = postgres(f.pg.adminUrl.replace(/\/postgres$/, `/${new URL(f.sys.databaseUrl).pathname.slice(1)}`), { max: 1, onnotice: () => {} });
      const until = Date.now() + 2000;
      let open = false;
      while (!open && Date.now() < until) {
        const [row] = await watch<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'cbdc-settlement' and xact_start is not null and pid <> pg_backend_pid()`.catch(() => [{ n: 0 }]);
        open = row.n > 0;
      }
      await f.pg.kill();
      await watch.end({ timeout: 0 }).catch(() => {});
      kills++;
      if (open) midTransaction++;
      await new Promise((r) => setTimeout(r, 1000));
      await f.pg.start();
    }
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    await load;
    await drained(f);
    const resolved = await resolveUnknown(f, ledger);
    const inv = await checkInvariants(f, ledger);
    recordRun('F4', { kills, killsWithSettlementTransactionOpen: midTransaction, ...ledger.counts, ...resolved, ...invariantFigures(inv) });

    expect(inv.problems).toEqual([]);
    expect(midTransaction).toBeGreaterThan(0);
    // Every request was answered (503, pending, or its outcome) within the settle wait and a margin.
    expect(ledger.counts.hung).toBe(0);
    expect(ledger.acknowledged.size).toBeGreaterThan(0);
  });
});
