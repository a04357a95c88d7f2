/**
 * F11: partitions between hosts, under load. First the settlement host is cut off from both
 * Postgres servers, then the gateway host from Redis; each is healed after a while. Cut off from
 * Postgres, settlement holds its batch and retries (requests wait at most the gateway's settle wait,
 * then answer 202 pending); cut off from Redis, the gateway answers 503 with Retry-After at once.
 * No request may take longer than its bound, and afterwards every transfer resolves once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, drained, drive, Ledger, recordRun, resolveUnknown, scaled, startFaultSystem, type FaultSystem, invariantFigures } from '../faults/support/harness.js';

/** The gateway's settle wait (3 s in the fault harness) plus a margin: no request may take longer. */
const REQUEST_BOUND_MS = 5000;

describe('F11: settlement cut off from Postgres, the gateway cut off from Redis', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem({ hosts: {} });
  });
  afterAll(async () => f?.close());

  it('answers within bounds while cut off (503 from the gateway without Redis), and loses nothing', async () => {
    const { network, hosts } = f.cluster!;
    const ledger = new Ledger();
    let stop = false;
    const loadEnds = Date.now() + 10 * 60_000;
    const load = drive(f, ledger, { until: () => stop || Date.now() > loadEnds, concurrency: 6 });
    const cutMs = scaled(5000, 20_000);
    const phases: Record<string, { requests: number; unavailable503: number; withRetryAfter: number; pending: number; acknowledged: number; slowestRequestMs: number }> = {};
    const during = async (name: string, cut: () => void, heal: () => void) => {
      const counts = { ...ledger.counts };
      const latencies = ledger.latenciesMs.length;
      cut();
      try {
        await new Promise((r) => setTimeout(r, cutMs));
      } finally {
        heal();
      }
      phases[name] = {
        requests: ledger.counts.requests - counts.requests,
        unavailable503: ledger.counts.unavailable503 - counts.unavailable503,
        withRetryAfter: ledger.counts.withRetryAfter - counts.withRetryAfter,
        pending: ledger.counts.pending - counts.pending,
        acknowledged: ledger.counts.acknowledged - counts.acknowledged,
        slowestRequestMs: Math.max(0, ...ledger.latenciesMs.slice(latencies)),
      };
    };
    try {
      await new Promise((r) => setTimeout(r, 2000));
      await during(
        'settlement cut off from Postgres',
        () => (network.partition(hosts.settlement, hosts.pgA), network.partition(hosts.settlement, hosts.pgB)),
        () => (network.heal(hosts.settlement, hosts.pgA), network.heal(hosts.settlement, hosts.pgB)),
      );
      await new Promise((r) => setTimeout(r, scaled(4000, 10_000)));
      await during(
        'gateway cut off from Redis',
        () => network.partition(hosts.gateway, hosts.redis),
        () => network.heal(hosts.gateway, hosts.redis),
      );
      await new Promise((r) => setTimeout(r, scaled(4000, 10_000)));
    } finally {
      stop = true;
      await load;
    }
    await drained(f);
    const resolved = await resolveUnknown(f, ledger, { resubmit: true });
    const inv = await checkInvariants(f, ledger);
    const figures = { cutMs, phases, otherErrorKinds: ledger.otherErrorKinds, ...ledger.counts, ...resolved, ...invariantFigures(inv) };
    recordRun('F11', figures);
    console.log(`F11: ${JSON.stringify(figures)}`);

    expect(inv.problems).toEqual([]);
    expect(resolved.notRecorded).toBe(0);
    expect(ledger.counts.slowestRequestMs).toBeLessThan(REQUEST_BOUND_MS);
    const redisCut = phases['gateway cut off from Redis'];
    expect(redisCut.unavailable503).toBeGreaterThan(0);
    expect(redisCut.withRetryAfter).toBe(redisCut.unavailable503);
  });
});
