/**
 * The bench's side of the settlement queues: jobs attested as the bench's gateway (or as whatever
 * signs them), pushed straight into the shard queues, and waiting until everything has settled.
 */
import { Queue } from 'bullmq';
import { attestJob, gatewayAttestor, shardQueue, type JobItem, type SettlementJobData } from '@cbdc/shared/job';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { consumerRedis, type RedisTarget } from '@cbdc/shared/redis';
import type { Sql } from '@cbdc/db/connect';

/** The key id the bench's gateway (and its seeding and settlement-only feeders) attests jobs under. */
export const BENCH_GATEWAY_KEY_ID = 'bench-gateway';

export interface ShardQueues {
  queues: Queue[];
  close(): Promise<void>;
}

/** One BullMQ producer per shard queue, on one connection. */
export function openShardQueues(redis: RedisTarget, queuePrefix: string, shardCount: number): ShardQueues {
  const connection = consumerRedis(redis);
  const queues = Array.from({ length: shardCount }, (_, s) => new Queue(shardQueue(queuePrefix, s).name, { connection, prefix: shardQueue(queuePrefix, s).prefix }));
  return {
    queues,
    async close() {
      await Promise.all(queues.map((q) => q.close()));
      connection.disconnect();
    },
  };
}

export interface AttestedJob {
  shard: number;
  data: SettlementJobData;
}

/** Items grouped by the shard whose queue takes them. */
export function byShardOf(items: Iterable<JobItem>, shardOfItem: (item: JobItem) => number): Map<number, JobItem[]> {
  const byShard = new Map<number, JobItem[]>();
  for (const item of items) {
    const shard = shardOfItem(item);
    const list = byShard.get(shard) ?? [];
    list.push(item);
    byShard.set(shard, list);
  }
  return byShard;
}

/** Jobs of up to `perJob` items each, attested with the bench gateway's key. */
export function attestedJobs(attestationSeed: Buffer, source: string, byShard: Map<number, JobItem[]>, perJob: number): AttestedJob[] {
  const signer = signerFromSeed(attestationSeed);
  return [...byShard].flatMap(([shard, items]) =>
    Array.from({ length: Math.ceil(items.length / perJob) }, (_, j) => ({
      shard,
      data: attestJob(signer, gatewayAttestor(BENCH_GATEWAY_KEY_ID), source, { shard, items: items.slice(j * perJob, (j + 1) * perJob) }),
    })),
  );
}

/**
 * Adds the jobs to their shards' queues, each shard's in order, the shards side by side. With
 * `waitingMax`, a shard's queue is never given more than that many waiting jobs: its feeder waits
 * (in 20 ms steps, at most `timeoutMs` in all) for it to drain, so that Redis holds a bounded
 * backlog however many jobs there are, and every shard has work while any is left.
 */
export async function enqueueJobs(q: ShardQueues, jobs: readonly AttestedJob[], o: { name: string; attempts?: number; waitingMax?: number; timeoutMs?: number }): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 300_000;
  const deadline = Date.now() + timeoutMs;
  const byShard = new Map<number, AttestedJob[]>();
  for (const job of jobs) {
    const list = byShard.get(job.shard) ?? [];
    list.push(job);
    byShard.set(job.shard, list);
  }
  const feed = async (shard: number, list: AttestedJob[]) => {
    const queue = q.queues[shard];
    for (let i = 0; i < list.length; i++) {
      if (o.waitingMax !== undefined && i >= o.waitingMax) {
        while ((await queue.getWaitingCount()) >= o.waitingMax) {
          if (Date.now() > deadline) throw new Error(`shard ${shard}'s queue did not drain within ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await queue.add(o.name, list[i].data, { removeOnComplete: true, ...(o.attempts ? { attempts: o.attempts } : {}) });
    }
  };
  await Promise.all([...byShard].map(([shard, list]) => feed(shard, list)));
}

/**
 * Waits until every shard queue is empty and no transfer is in flight in any ledger database
 * (polling every 100 ms, for at most `timeoutMs`). Returns whether it drained.
 */
export async function drain(q: ShardQueues, ledgers: readonly { sql: Sql }[], timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const counts = await Promise.all(q.queues.map((queue) => queue.getJobCounts('waiting', 'active', 'delayed')));
    if (counts.every((c) => c.waiting + c.active + c.delayed === 0)) {
      const open = await Promise.all(ledgers.map(async (l) => (await l.sql<{ n: number }[]>`select count(*)::int as n from transfers where status = 'in_flight'`)[0].n));
      if (open.every((n) => n === 0)) return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
