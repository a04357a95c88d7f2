/**
 * One BullMQ worker per shard, at concurrency 1: a shard's batches are applied in queue order.
 * A job whose attestation does not verify fails at once and is never retried or applied.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Sql } from '@cbdc/db/connect';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { openJob, shardQueue, type JobResult, type SettlementJobData } from '@cbdc/shared/job';
import { consumerRedis } from '@cbdc/shared/redis';
import { commitBatch, registerShard } from './store.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ShardWorkerOptions {
  sql: Sql;
  redisUrl: string;
  queuePrefix: string;
  shard: number;
  shardSeed: Buffer;
  attestationKey: Buffer;
  lockDurationMs: number;
  log: Logger;
  /** The clock; tests pass their own. */
  now?: () => number;
}

export interface ShardWorker {
  worker: Worker<SettlementJobData, JobResult>;
  close(): Promise<void>;
}

/** Registers the shard's key and starts consuming its queue. */
export async function startShardWorker(o: ShardWorkerOptions): Promise<ShardWorker> {
  const signer = signerFromSeed(o.shardSeed);
  await registerShard(o.sql, o.shard, signer);
  const now = o.now ?? Date.now;
  const queue = shardQueue(o.queuePrefix, o.shard);
  const connection = consumerRedis(o.redisUrl);
  connection.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'redis connection error'));

  const worker = new Worker<SettlementJobData, JobResult>(
    queue.name,
    async (job: Job<SettlementJobData, JobResult>) => {
      const payload = openJob(o.attestationKey, job.data);
      if (!payload) {
        o.log.error({ shard: o.shard, jobId: job.id }, 'rejected a job without a valid gateway attestation');
        throw new UnrecoverableError('job attestation does not verify');
      }
      if (payload.shard !== o.shard) throw new UnrecoverableError(`job for shard ${payload.shard} on the queue of shard ${o.shard}`);
      const started = performance.now();
      const result = await commitBatch(o.sql, o.shard, signer, payload.items, now());
      o.log.info({ shard: o.shard, jobId: job.id, batchSeq: result.batchSeq, items: payload.items.length, ms: Math.round(performance.now() - started) }, 'batch committed');
      return result;
    },
    { connection, prefix: queue.prefix, concurrency: 1, lockDuration: o.lockDurationMs, autorun: true },
  );
  worker.on('failed', (job, error) => o.log.warn({ shard: o.shard, jobId: job?.id, attempts: job?.attemptsMade, err: error.message }, 'batch failed; BullMQ will retry it if attempts remain'));
  worker.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'worker error'));

  return {
    worker,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
