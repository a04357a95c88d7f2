/**
 * F8: a gateway run as several processes on one port (GATEWAY_PROCESSES=2) loses one of them
 * under load, again and again. The supervisor starts a replacement; requests that were on the
 * dead process fail and are resolved by id or resubmitted; nothing settles twice; SIGTERM stops
 * every process.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childPids } from '../../load-tests/src/cpu.js';
import { FULL, Ledger, checkInvariants, drained, drive, recordRun, resolveUnknown, scaled, startFaultSystem, type FaultSystem, invariantFigures } from './support/harness.js';

/** The gateway's worker processes: the supervisor's children. */
const gatewayProcesses = (f: FaultSystem): number[] => childPids(f.sys.pids.gateway);

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return condition();
}

/** Whether a gateway process listens (its title says so once it does; a replacement takes seconds to start). */
const serving = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('cbdc-gateway serving');
  } catch {
    return false;
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('F8: one of several gateway processes dies under load', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem({ serviceEnv: { gateway: { GATEWAY_PROCESSES: '2' } } });
  });
  afterAll(async () => f?.close());

  it('is replaced, loses nothing acknowledged, settles nothing twice, and all stop on SIGTERM', async () => {
    // Both processes compile and start under the other fault tests' load: allow them time.
    expect(await until(() => gatewayProcesses(f).length === 2 && gatewayProcesses(f).every(serving), 60_000)).toBe(true);
    const ledger = new Ledger();
    const kills = FULL ? 10 : 3;
    const killed: number[] = [];
    let done = false;
    const load = drive(f, ledger, { until: () => done, concurrency: 8, perRequest: 10 });
    for (let k = 0; k < kills; k++) {
      await new Promise((r) => setTimeout(r, scaled(1500, 3000)));
      const [victim] = gatewayProcesses(f);
      process.kill(victim, 'SIGKILL');
      killed.push(victim);
      // A replacement is serving before the next kill.
      // "One of several dies": the next kill waits until the replacement serves, or it could take the last one serving.
      expect(await until(() => gatewayProcesses(f).length === 2 && !gatewayProcesses(f).includes(victim) && gatewayProcesses(f).every(serving), 30_000)).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 1000));
    done = true;
    await load;
    await drained(f);
    const resolution = await resolveUnknown(f, ledger, { resubmit: true });
    await drained(f);
    const inv = await checkInvariants(f, ledger);
    const stored = await f.sys.sql<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${[...ledger.submitted.keys()]}) group by id having count(*) > 1`;

    // SIGTERM to the supervisor: every gateway process finishes and exits.
    const before = gatewayProcesses(f);
    f.sys.signal('gateway', 'SIGTERM');
    const stopped = await until(() => before.every((pid) => !alive(pid)), 20_000);
    recordRun('F8', { kills, ...ledger.counts, ...resolution, stoppedOnSigterm: stopped, ...invariantFigures(inv) });

    expect(ledger.counts.acknowledged).toBeGreaterThan(0);
    expect(ledger.counts.hung).toBe(0);
    expect(ledger.unknown.size).toBe(0);
    expect(stored).toEqual([]);
    expect(inv.problems).toEqual([]);
    expect(stopped).toBe(true);
  });
});
