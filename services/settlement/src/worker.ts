/**
 * One BullMQ worker per shard, at concurrency 1: a shard's batches are applied in queue order.
 * A job whose attestation does not verify fails at once and is never retried or applied.
 *
 * After each commit the worker sends the cross-shard messages the batch produced (credits to
 * payees' shards, results back to payers' shards). Sending is best effort: a sweeper sends the
 * credit of every transfer still in flight after `resendAfterMs` again, and the payee's shard
 * answers a repeated credit with the result it recorded, so a lost message only delays.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Sql } from '@cbdc/db/connect';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { attestJob, openJob, shardQueue, type JobCredit, type JobCreditResult, type JobResult, type SettlementJobData } from '@cbdc/shared/job';
import { LIMITS } from '@cbdc/shared/limits';
import { consumerRedis, producerRedis } from '@cbdc/shared/redis';
import { commitBatch, registerShard, staleCredits, type ShardContext } from './store.js';

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
  shardCount?: number;
  shardSeed: Buffer;
  attestationKey: Buffer;
  lockDurationMs: number;
  log: Logger;
  /** How often to look for in-flight transfers whose credit should be sent again. */
  sweepIntervalMs?: number;
  resendAfterMs?: number;
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
  const ctx: ShardContext = { shard: o.shard, shardCount: o.shardCount ?? 1, signer };
  const now = o.now ?? Date.now;
  const queue = shardQueue(o.queuePrefix, o.shard);
  const connection = consumerRedis(o.redisUrl);
  connection.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'redis connection error'));

  // Producers for messages to other shards: fail fast; the sweeper covers what could not be sent.
  const producer: Redis = producerRedis(o.redisUrl);
  producer.on('error', () => {});
  const outboxes = new Map<number, Queue<SettlementJobData, JobResult>>();
  const outbox = (to: number) => {
    let q = outboxes.get(to);
    if (!q) {
      const target = shardQueue(o.queuePrefix, to);
      q = new Queue<SettlementJobData, JobResult>(target.name, { connection: producer, prefix: target.prefix });
      outboxes.set(to, q);
    }
    return q;
  };
  const send = async (messages: Map<number, Array<JobCredit | JobCreditResult>>) => {
    for (const [to, items] of messages) {
      for (let i = 0; i < items.length; i += LIMITS.batchTransfersMax) {
        const data = attestJob(o.attestationKey, `shard-${o.shard}`, { shard: to, items: items.slice(i, i + LIMITS.batchTransfersMax) });
        await outbox(to)
          .add('legs', data, { attempts: LIMITS.settleJobAttemptsMax, backoff: { type: 'exponential', delay: 100 }, removeOnComplete: { age: 600, count: 20_000 }, removeOnFail: { age: 24 * 3600 } })
          .catch((error: Error) => o.log.warn({ shard: o.shard, to, err: error.message }, 'could not send cross-shard messages; the sweeper will resend'));
      }
    }
  };

  const worker = new Worker<SettlementJobData, JobResult>(
    queue.name,
    async (job: Job<SettlementJobData, JobResult>) => {
      const payload = openJob(o.attestationKey, job.data);
      if (!payload) {
        o.log.error({ shard: o.shard, jobId: job.id }, 'rejected a job without a valid attestation');
        throw new UnrecoverableError('job attestation does not verify');
      }
      if (payload.shard !== o.shard) throw new UnrecoverableError(`job for shard ${payload.shard} on the queue of shard ${o.shard}`);
      const started = performance.now();
      const result = await commitBatch(o.sql, ctx, payload.items, now());
      await send(result.messages);
      o.log.info({ shard: o.shard, jobId: job.id, batchSeq: result.batchSeq, items: payload.items.length, ms: Math.round(performance.now() - started) }, 'batch committed');
      return { shard: result.shard, batchSeq: result.batchSeq, outcomes: result.outcomes };
    },
    { connection, prefix: queue.prefix, concurrency: 1, lockDuration: o.lockDurationMs, autorun: true },
  );
  worker.on('failed', (job, error) => o.log.warn({ shard: o.shard, jobId: job?.id, attempts: job?.attemptsMade, err: error.message }, 'batch failed; BullMQ will retry it if attempts remain'));
  worker.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'worker error'));

  let sweeping = false;
  const sweeper =
    ctx.shardCount > 1
      ? setInterval(async () => {
          if (sweeping) return;
          sweeping = true;
          try {
            await send(await staleCredits(o.sql, ctx, now() - (o.resendAfterMs ?? 3000), LIMITS.batchTransfersMax));
          } catch (error) {
            o.log.warn({ shard: o.shard, err: (error as Error).message }, 'sweep failed; will try again');
          } finally {
            sweeping = false;
          }
        }, o.sweepIntervalMs ?? 1000)
      : null;
  sweeper?.unref();

  return {
    worker,
    async close() {
      if (sweeper) clearInterval(sweeper);
      await worker.close();
      await Promise.all([...outboxes.values()].map((q) => q.close().catch(() => {})));
      producer.disconnect();
      connection.disconnect();
    },
  };
}
