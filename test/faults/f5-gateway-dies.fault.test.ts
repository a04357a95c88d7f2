/**
 * F5: the gateway dies after settlement committed a bank's transfers but before it answered; the
 * bank resubmits the same signed transfers to the restarted gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL, Ledger, checkInvariants, recordRun, startFaultSystem, submitBatch, type FaultSystem, invariantFigures } from './support/harness.js';
import { waitForQueued } from './support/queues.js';

describe('F5: the gateway dies between commit and reply', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem();
  });
  afterAll(async () => f?.close());

  it('answers the resubmission with the same outcome, settled once', async () => {
    const ledger = new Ledger();
    let caught = 0;
    const rounds = FULL ? 20 : 5;
    const bankOf = f.pop.wallets.filter((w) => w.bankId === f.pop.banks[0]);
    for (let round = 0; round < rounds; round++) {
      const items = Array.from({ length: 5 }, (_, i) => ledger.sign(f.pop, bankOf[(round * 5 + i) % bankOf.length]));
      const ids = [...ledger.submitted.keys()].slice(-5);
      // Hold settlement, send, let the gateway queue the items; then freeze the gateway so that
      // it cannot answer, and let settlement commit.
      f.sys.signal('settlement', 'SIGSTOP');
      const answer = submitBatch(f, ledger, items);
      await waitForQueued(f, 1);
      f.sys.signal('gateway', 'SIGSTOP');
      f.sys.signal('settlement', 'SIGCONT');
      const until = Date.now() + 10_000;
      let committed = 0;
      while (Date.now() < until) {
        [{ n: committed }] = await f.sys.sql<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${ids})`;
        if (committed === ids.length) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (committed === ids.length) caught++;
      f.sys.signal('gateway', 'SIGKILL');
      await answer;
      await f.sys.restart('gateway');
      // The bank never learned the outcome; it sends the same signed transfers again.
      const before = ids.map((id) => ledger.acknowledged.get(id));
      expect(before.every((s) => s === undefined)).toBe(true);
      await submitBatch(f, ledger, items);
      for (const id of ids) expect(ledger.acknowledged.get(id)).toBe('settled');
    }
    const stored = await f.sys.sql<{ id: string; n: number }[]>`select id, count(*)::int as n from transfers where id = any(${[...ledger.submitted.keys()]}) group by id`;
    const inv = await checkInvariants(f, ledger);
    recordRun('F5', { rounds, committedBeforeTheGatewayDied: caught, ...ledger.counts, ...invariantFigures(inv) });

    expect(caught).toBe(rounds);
    expect(stored.every((r) => r.n === 1)).toBe(true);
    expect(stored).toHaveLength(ledger.submitted.size);
    expect(inv.problems).toEqual([]);
  });
});
