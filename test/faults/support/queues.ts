/** Looking at the settlement queues of a fault system from the outside. */
import { Queue } from 'bullmq';
import { shardQueue } from '@cbdc/shared/job';
import { consumerRedis } from '@cbdc/shared/redis';
import type { FaultSystem } from './harness.js';

export async function withQueue<T>(f: FaultSystem, shard: number, use: (q: Queue) => Promise<T>): Promise<T> {
  const connection = consumerRedis(f.redisTarget);
  connection.on('error', () => {});
  const q = shardQueue(f.sys.queuePrefix, shard);
  const queue = new Queue(q.name, { connection, prefix: q.prefix });
  try {
    return await use(queue);
  } finally {
    await queue.close().catch(() => {});
    connection.disconnect();
  }
}

/** Waits until at least `count` workers are connected to shard 0's queue. */
export async function waitForWorker(f: FaultSystem, count = 1, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  await withQueue(f, 0, async (queue) => {
    while (Date.now() < end) {
      if ((await queue.getWorkersCount().catch(() => 0)) >= count) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${count} settlement worker(s) on the queue after ${timeoutMs} ms`);
  });
}

/** Waits until shard 0's queue holds at least `count` waiting jobs. */
export async function waitForQueued(f: FaultSystem, count: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  await withQueue(f, 0, async (queue) => {
    while (Date.now() < end) {
      if ((await queue.getWaitingCount()) >= count) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${count} jobs queued after ${timeoutMs} ms`);
  });
}
