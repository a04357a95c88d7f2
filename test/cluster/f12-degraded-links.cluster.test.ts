/**
 * F12: latency and loss on the links between hosts, under load: no delay, then 5 ms with 1% loss,
 * 20 ms with 2%, 50 ms with 5%. With tc netem (where the kernel has it) on every host's interface;
 * on kernels without it (this machine's), through the user-space link emulator
 * (infra/cluster/link-emulator.ts) on every service's Postgres and Redis connection. Reports the
 * settled throughput and the request p99 under each; the invariants must hold throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHosts, netemAvailable } from '../../infra/cluster/hosts.js';
import { checkInvariants, drained, drive, Ledger, percentile, recordRun, resolveUnknown, scaled, settledSince, startFaultSystem, type FaultSystem, invariantFigures } from '../faults/support/harness.js';

const CONDITIONS = [
  { delayMs: 0, lossPercent: 0 },
  { delayMs: 5, lossPercent: 1 },
  { delayMs: 20, lossPercent: 2 },
  { delayMs: 50, lossPercent: 5 },
];

/** Whether this kernel has netem, tried on a scratch network. */
function kernelHasNetem(): boolean {
  const scratch = createHosts(['probe'], { tag: 'nq', subnet: 253 });
  try {
    return netemAvailable(scratch);
  } finally {
    scratch.teardown();
  }
}

describe('F12: latency and loss on the links', () => {
  let f: FaultSystem;
  const netem = kernelHasNetem();
  beforeAll(async () => {
    f = await startFaultSystem({ hosts: { links: netem ? 'direct' : 'emulated' } });
  });
  afterAll(async () => f?.close());

  it('keeps the invariants; throughput and p99 under each condition', async () => {
    const { network, links } = f.cluster!;
    const apply = (c: { delayMs: number; lossPercent: number }) => {
      if (netem) for (const host of network.hosts.values()) c.delayMs || c.lossPercent ? network.degrade(host, c) : network.restore(host);
      else for (const link of links) link.set(c);
    };
    const ledger = new Ledger();
    let stop = false;
    const loadEnds = Date.now() + 10 * 60_000;
    const load = drive(f, ledger, { until: () => stop || Date.now() > loadEnds, concurrency: 6 });
    const windowMs = scaled(6000, 30_000);
    const results: { delayMs: number; lossPercent: number; settledPerSecond: number; requests: number; requestP50Ms: number; requestP99Ms: number; unavailable503: number }[] = [];
    try {
      await new Promise((r) => setTimeout(r, 2000));
      for (const c of CONDITIONS) {
        apply(c);
        // A second to settle into the new conditions, then the measured window.
        await new Promise((r) => setTimeout(r, 1000));
        const from = Date.now();
        const latencies = ledger.latenciesMs.length;
        const unavailable = ledger.counts.unavailable503;
        await new Promise((r) => setTimeout(r, windowMs));
        const window = ledger.latenciesMs.slice(latencies);
        const settled = await settledSince(f, from);
        results.push({
          ...c,
          settledPerSecond: Math.round((settled * 1000) / (Date.now() - from)),
          requests: window.length,
          requestP50Ms: percentile(window, 50),
          requestP99Ms: percentile(window, 99),
          unavailable503: ledger.counts.unavailable503 - unavailable,
        });
      }
    } finally {
      apply({ delayMs: 0, lossPercent: 0 });
      stop = true;
      await load;
    }
    await drained(f);
    const resolved = await resolveUnknown(f, ledger, { resubmit: true });
    const inv = await checkInvariants(f, ledger);
    const figures = {
      mechanism: netem ? 'tc netem on every host' : 'user-space link emulator on every Postgres and Redis connection',
      windowMs,
      results,
      otherErrorKinds: ledger.otherErrorKinds,
      ...ledger.counts,
      ...resolved,
      ...invariantFigures(inv),
    };
    recordRun('F12', figures);
    console.log(`F12: ${JSON.stringify(figures)}`);
    for (const r of results) console.log(`F12: delay ${r.delayMs} ms, loss ${r.lossPercent}%: ${r.settledPerSecond} settled/s, request p50 ${r.requestP50Ms} ms, p99 ${r.requestP99Ms} ms, ${r.unavailable503} answered 503`);

    expect(inv.problems).toEqual([]);
    expect(resolved.notRecorded).toBe(0);
    expect(ledger.counts.hung).toBe(0);
    for (const r of results) expect(r.settledPerSecond).toBeGreaterThan(0);
  });
});
