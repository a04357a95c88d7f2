/**
 * F10: the Redis Cluster master holding a shard's queue is killed with SIGKILL under load; its
 * replica takes over (cluster-node-timeout 1.5 s). Nothing acknowledged is lost, nothing settles
 * twice, I1 to I5 hold. What the replica did not yet have (asynchronous replication: the last
 * jobs, replies and locks of the dead master) is recovered as in F3 with an empty Redis: a request
 * caught by the fault answers pending or 503, the bank reads the transfer by id and resubmits what
 * is not recorded (the same signed bytes), the payer's shard sends in-flight credits again from
 * Postgres, and a job whose lock was lost is handed on and answered from Postgres as duplicates.
 * Prints and records the time from the kill until a transfer on that shard settled again, and
 * whether the settlement process had to restart (its Redis deadline: a wedged fetch ends the process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardQueue } from '@cbdc/shared/job';
import { keySlot } from '@cbdc/shared/redis-slot';
import { checkInvariants, drained, drive, idOf, Ledger, recordRun, resolveUnknown, scaled, startFaultSystem, submitBatch, type FaultSystem, invariantFigures } from '../faults/support/harness.js';

const SHARDS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('F10: a Redis Cluster master killed mid-load', () => {
  let f: FaultSystem;
  beforeAll(async () => {
    f = await startFaultSystem({ shards: SHARDS, redisCluster: { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1500 } });
  });
  afterAll(async () => f?.close());

  it("the replica of the master holding shard 0's queue takes over: nothing acknowledged lost, nothing settled twice, I1-I5 hold", async () => {
    const cluster = f.redisCluster!;
    const ledger = new Ledger();
    let stop = false;
    const load = drive(f, ledger, { until: () => stop, concurrency: 6 });
    await sleep(scaled(3000, 10_000));

    const slot = keySlot(shardQueue(f.sys.queuePrefix, 0).prefix);
    const victim = await cluster.masterOfSlot(slot);
    const settledBefore = ledger.acknowledged.size;
    const settlementPid = f.sys.pids.settlement;
    const killedAtMs = Date.now();
    await cluster.killNode(victim.port);

    // While the replica takes over: a watcher asks the cluster who serves the slot every 100 ms, and
    // a probe with a payer on shard 0 is sent every 250 ms (at most 8 in flight, for at most 60 s)
    // until one is answered settled.
    const shard0 = f.pop.wallets.filter((w) => w.shard === 0);
    let resumedAfterMs: number | null = null;
    let failedOverAfterMs: number | null = null;
    const probes = { sent: 0, unavailable503: 0, inFlight: 0 };
    const deadline = killedAtMs + 60_000;
    const watcher = (async () => {
      while (failedOverAfterMs === null && Date.now() < deadline) {
        const serving = await cluster.masterOfSlot(slot).catch(() => null);
        if (serving && serving.port !== victim.port) failedOverAfterMs = Date.now() - killedAtMs;
        else await sleep(100);
      }
    })();
    const pending: Array<Promise<void>> = [];
    while (resumedAfterMs === null && Date.now() < deadline) {
      if (probes.inFlight < 8) {
        const item = ledger.sign(f.pop, shard0[Math.floor(Math.random() * shard0.length)]);
        probes.sent++;
        probes.inFlight++;
        const probe = new Ledger();
        pending.push(
          submitBatch(f, probe, [item], 15_000).then(() => {
            probes.inFlight--;
            probes.unavailable503 += probe.counts.unavailable503;
            const status = probe.acknowledged.get(idOf(item.wire));
            ledger.record(idOf(item.wire), status ?? 'unknown');
            if (status === 'settled' && resumedAfterMs === null) resumedAfterMs = Date.now() - killedAtMs;
          }),
        );
      }
      await sleep(250);
    }
    await Promise.all([watcher, ...pending]);
    // Settlement restarts itself if Redis leaves its fetch unanswered past SETTLE_REDIS_DEADLINE_MS (20 s).
    const settlementRestarted = f.sys.pids.settlement !== settlementPid;
    console.log(
      `F10: master ${victim.port} (slot ${slot}, shard 0's queue) killed; replica promoted after ${failedOverAfterMs} ms; settlement on shard 0 resumed after ${resumedAfterMs} ms${settlementRestarted ? ' (settlement process restarted)' : ''}`,
    );

    await sleep(scaled(3000, 10_000));
    stop = true;
    await load;
    // The killed node comes back as a replica of its successor.
    await cluster.startNode(victim.port);
    await cluster.waitUntilHealthy();
    const rejoined = (await cluster.nodes()).find((n) => n.port === victim.port);
    await drained(f);
    const resolved = await resolveUnknown(f, ledger, { resubmit: true });
    const inv = await checkInvariants(f, ledger);
    recordRun('F10 Redis Cluster master killed', {
      ...ledger.counts,
      killedMasterPort: victim.port,
      failedOverAfterMs,
      resumedAfterMs,
      settlementRestarted,
      probes: probes.sent,
      probe503: probes.unavailable503,
      acknowledgedBeforeKill: settledBefore,
      rejoinedAs: rejoined?.role,
      ...resolved,
      ...invariantFigures(inv),
    });

    expect(resumedAfterMs).not.toBeNull();
    // Within the failover (node timeout 1.5 s, an election, the clients' slot refresh), or at worst the 20 s Redis deadline and a restart.
    expect(resumedAfterMs!).toBeLessThan(45_000);
    expect(failedOverAfterMs).not.toBeNull();
    expect(rejoined?.role).toBe('replica');
    expect(ledger.acknowledged.size).toBeGreaterThan(settledBefore);
    expect(inv.problems).toEqual([]);
    expect(inv.figures.unknownAfterResolve).toBe(0);
    expect(ledger.counts.hung).toBe(0);
  });
});
