/**
 * One BullMQ worker per shard: a shard's batches are committed one after another, in queue order.
 * While one commits, the next is fetched from the queue and decided on the state the committing
 * one leaves (written as decided only if nothing else moved the shard head meanwhile), and the
 * previous one is marked completed.
 * A job whose attestation does not verify (a gateway key this service does not trust, or a shard
 * key other than the one registered for that shard) fails at once and is never applied; and an
 * item inside a job that verifies still settles only on its own authority (see the core).
 *
 * After each commit the worker sends the cross-shard messages the batch produced (credits to
 * payees' shards, results back to payers' shards). Sending is best effort: a sweeper sends the
 * credit of every transfer still in flight after `resendAfterMs` again (backing off while it keeps
 * finding some, see sweep.ts), and the payee's shard answers a repeated credit with the result it
 * recorded, so a lost message only delays.
 */
import { randomUUID } from 'node:crypto';
import { creditsToResend, nextSweepDelayMs } from './sweep.js';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { isUnreachable, type Sql } from '@cbdc/db/connect';
import { signerFromSeed } from '@cbdc/shared/crypto';
import {
  attestJob,
  finalsStream,
  gatewayAttestor,
  openJob,
  replyStream,
  shardAttestor,
  shardQueue,
  type AnyJobItem,
  type JobCredit,
  type JobCreditResult,
  type JobOutcome,
  type JobResult,
  type JobSummary,
  type SettlementJobData,
} from '@cbdc/shared/job';
import { LIMITS } from '@cbdc/shared/limits';
import { replyEntryMessage } from '@cbdc/shared/reply';
import { consumerRedis, producerRedis, type RedisConnection, type RedisTarget } from '@cbdc/shared/redis';
import { dueHolds } from './hold-rows.js';
import { commitBatch, decideAhead, registerShard, staleCredits, type BatchAftermath, type CommitOptions, type CommitResult, type DecidedAhead, type ShardContext } from './store.js';
import { WalletCache } from './wallet-cache.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ShardWorkerOptions {
  /** The database of this shard's group (see @cbdc/shared/topology). */
  sql: Sql;
  /** The central database (banks' keys), when it is not `sql`. */
  central?: Sql;
  /** The database of another shard (its registered chain key), when it is not `sql`. */
  sqlOfShard?: (shard: number) => Sql;
  /** Redis, one server or a cluster (@cbdc/shared/redis). */
  redis: RedisTarget;
  queuePrefix: string;
  shard: number;
  shardCount?: number;
  shardSeed: Buffer;
  /** The gateways whose jobs this worker opens: key id to Ed25519 public key (revoke by removing). */
  gatewayKeys: ReadonlyMap<string, Uint8Array>;
  /** This environment's id (CBDC_AUDIENCE), which banks sign into their fundings. */
  audience: string;
  lockDurationMs: number;
  log: Logger;
  /** Bounds of one settlement transaction: transfers, and queue jobs merged into it. */
  batchItemsMax?: number;
  batchJobsMax?: number;
  /** Transactions spent splitting one failed batch to isolate its culprits (default LIMITS.settleSplitTransactionsMax). */
  splitTransactionsMax?: number;
  /** Wallets held in memory between batches; 0 reads every batch's wallets from Postgres. */
  walletsHeldMax?: number;
  /** Whether batches record the banks' events (on by default; off only for the bench's baseline, SETTLE_EVENTS=off). */
  events?: boolean;
  /** How often to look for in-flight transfers whose credit should be sent again (while none are found). */
  sweepIntervalMs?: number;
  /** The longest wait between sweeps while they keep finding credits to send again (default 30 s). */
  sweepBackoffMaxMs?: number;
  /** How often to return the money of holds past their expiry (default LIMITS.holdExpirySweepIntervalMs). */
  holdExpirySweepIntervalMs?: number;
  resendAfterMs?: number;
  /** The clock; tests pass their own. */
  now?: () => number;
  /** How long one settlement transaction may take before the worker gives up on its connections. */
  commitDeadlineMs?: number;
  /**
   * How long fetching jobs or marking them completed may go unanswered by Redis (a blocking fetch
   * waits about a second) before the worker gives up on its connections (default 20 s).
   */
  redisDeadlineMs?: number;
  /** Called when a transaction passed its deadline; the settlement process exits (its supervisor starts it again). */
  onStuck?: (error: Error) => void;
}

/**
 * A failure that one item's content can cause: Postgres refusing a value (data exception 22xxx,
 * integrity constraint 23xxx, program limit 54xxx such as an index row too large), or a value
 * that does not convert (BigInt of a malformed decimal).
 */
export function isItemFault(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)) return true;
  return error instanceof SyntaxError || error instanceof RangeError;
}

/**
 * Whether a failed batch is split to find its culprit: any failure but an unreachable Postgres
 * (held and retried instead), a transaction past its deadline (the process restarts) and a broken
 * invariant (never handled by carrying on).
 */
function isolatable(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return !isUnreachable(error) && !message.startsWith('invariant broken') && !message.startsWith('no answer within');
}

/** A credit to a payee shard that has jobs waiting is sent again only after this many times `resendAfterMs` (see sweep.ts). */
const OVERDUE_RESEND_FACTOR = 10;

/** Resolves or rejects as `p` does; if `p` has done neither after `ms`, calls `onLate` and rejects. */
async function withDeadline<T>(p: Promise<T>, ms: number, onLate: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ShardWorker {
  worker: Worker<SettlementJobData, JobSummary>;
  close(): Promise<void>;
}

/** Registers the shard's key and starts consuming its queue. */
export async function startShardWorker(o: ShardWorkerOptions): Promise<ShardWorker> {
  const signer = signerFromSeed(o.shardSeed);
  await registerShard(o.sql, o.shard, signer);
  const ctx: ShardContext = {
    shard: o.shard,
    shardCount: o.shardCount ?? 1,
    signer,
    audience: o.audience,
    central: o.central,
    ledgerOfShard: o.sqlOfShard,
    wallets: o.walletsHeldMax === 0 ? undefined : new WalletCache(o.walletsHeldMax ?? LIMITS.settleWalletsHeldMax),
    events: o.events !== false,
  };
  const now = o.now ?? Date.now;
  const queue = shardQueue(o.queuePrefix, o.shard);
  const connection = consumerRedis(o.redis);
  connection.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'redis connection error'));

  // Producers for messages to other shards: fail fast; the sweeper covers what could not be sent.
  const producer: RedisConnection = producerRedis(o.redis);
  producer.on('error', () => {});
  const outboxes = new Map<number, Queue<SettlementJobData, JobSummary>>();
  const outbox = (to: number) => {
    let q = outboxes.get(to);
    if (!q) {
      const target = shardQueue(o.queuePrefix, to);
      q = new Queue<SettlementJobData, JobSummary>(target.name, { connection: producer, prefix: target.prefix });
      outboxes.set(to, q);
    }
    return q;
  };
  const send = async (messages: Map<number, Array<JobCredit | JobCreditResult>>) => {
    for (const [to, items] of messages) {
      for (let i = 0; i < items.length; i += LIMITS.batchTransfersMax) {
        const data = attestJob(signer, shardAttestor(o.shard), `shard-${o.shard}`, { shard: to, items: items.slice(i, i + LIMITS.batchTransfersMax) });
        await outbox(to)
          .add('legs', data, { attempts: LIMITS.settleJobAttemptsMax, backoff: { type: 'exponential', delay: 100 }, removeOnComplete: { age: 600, count: 20_000 }, removeOnFail: { age: 24 * 3600 } })
          .catch((error: Error) => o.log.warn({ shard: o.shard, to, err: error.message }, 'could not send cross-shard messages; the sweeper will resend'));
      }
    }
  };

  // Jobs are fetched by hand so that everything waiting (up to the bounds) settles in one
  // transaction: under load the batch grows with the backlog, and a commit's fixed cost (the
  // fsync, the chain link) is shared by more transfers. Each job still completes on its own
  // with its own outcomes, and fails on its own (to be retried by BullMQ) if the commit fails.
  const worker = new Worker<SettlementJobData, JobSummary>(queue.name, null, { connection, prefix: queue.prefix, lockDuration: o.lockDurationMs, stalledInterval: Math.min(30_000, o.lockDurationMs), autorun: false, drainDelay: 1 });
  worker.on('error', (error) => o.log.warn({ shard: o.shard, err: error.message }, 'worker error'));
  void worker.startStalledCheckTimer();
  const itemsMax = o.batchItemsMax ?? LIMITS.settleBatchTransfersMax;
  const jobsMax = o.batchJobsMax ?? LIMITS.settleBatchJobsMax;
  /** Half-second retries of a batch while Postgres is unreachable: about two minutes. */
  const unreachableRetriesMax = 240;
  const commitDeadlineMs = o.commitDeadlineMs ?? 30_000;
  const redisDeadlineMs = o.redisDeadlineMs ?? 20_000;
  /**
   * A fetch or completion Redis never answers. Seen about once in twenty SIGKILLs of a cluster
   * master: the worker's connections stayed wedged after the failover while every other client
   * recovered. As with a wedged transaction, the safe way on is a new process with new
   * connections (everything it held is redelivered and answered from Postgres).
   */
  const redisLate = (what: string) => () => {
    const error = new Error(`${what} of shard ${o.shard} had no answer from Redis within ${redisDeadlineMs} ms`);
    o.log.error({ shard: o.shard }, error.message);
    (o.onStuck ?? (() => {}))(error);
  };
  let closing = false;

  /** Attestors' keys: the configured gateways', and each shard's registered chain key (read when first needed). */
  const attestorKeys = new Map<string, Uint8Array>([...o.gatewayKeys].map(([id, key]) => [gatewayAttestor(id), key]));
  const keyOfAttestor = async (attestor: unknown): Promise<Uint8Array | null> => {
    if (typeof attestor !== 'string') return null;
    const known = attestorKeys.get(attestor);
    if (known || !/^shard:\d{1,4}$/.test(attestor)) return known ?? null;
    const shard = Number(attestor.slice('shard:'.length));
    const [row] = await (o.sqlOfShard?.(shard) ?? o.sql)<{ public_key: Buffer }[]>`select public_key from shards where shard = ${shard}`;
    if (row) attestorKeys.set(attestor, row.public_key);
    return row?.public_key ?? null;
  };

  type Fetched = { job: Job<SettlementJobData, JobSummary>; token: string; payload: NonNullable<ReturnType<typeof openJob>> };
  /** Jobs settled together, with their items decided ahead if they were. */
  type Batch = { fetched: Fetched[]; items: AnyJobItem[]; ahead: DecidedAhead | null };
  /** A committed part of a batch: whole jobs, or (when a failing batch was split) some items of one job. */
  type Part = { fetched: Fetched[]; result: CommitResult };
  /** Jobs fetched and not yet completed or failed: their locks are kept while Postgres is away. */
  const held = new Set<Fetched>();

  /**
   * Commits items in one transaction, holding their jobs while Postgres is unreachable (a commit
   * whose answer was lost is found on the retry as duplicates); throws any other failure.
   */
  const commitHeld = async (jobs: number, items: AnyJobItem[], first: CommitOptions) => {
    for (let attempt = 1; ; attempt++) {
      try {
        // A retry decides afresh: the ahead decision and the next batch's rest on the first attempt.
        const options: CommitOptions = attempt === 1 ? first : {};
        return await withDeadline(commitBatch(o.sql, ctx, items, now(), options), commitDeadlineMs, () => {
          // A transaction that neither commits nor fails (a client connection wedged by a server
          // crash was seen to do this) would stop the shard for good. Postgres rolls back what did
          // not commit, so the safe way on is a new process with new connections.
          const error = new Error(`a settlement transaction of shard ${o.shard} neither committed nor failed within ${commitDeadlineMs} ms`);
          o.log.error({ shard: o.shard, jobs }, error.message);
          (o.onStuck ?? (() => {}))(error);
        });
      } catch (error) {
        // Postgres down or refusing writes: keep the jobs and try again, rather than spend their
        // delivery attempts. A commit whose answer was lost is found on the retry as duplicates.
        if (isUnreachable(error) && !closing && attempt < unreachableRetriesMax) {
          if (attempt === 1) o.log.warn({ shard: o.shard, err: (error as Error).message }, 'Postgres unavailable; holding the batch and retrying');
          await new Promise((r) => setTimeout(r, 500));
          await Promise.all([...held].map((f) => f.job.extendLock(f.token, o.lockDurationMs).catch(() => {})));
          continue;
        }
        throw error;
      }
    }
  };

  /** Fails jobs for BullMQ to retry (if attempts remain). */
  const failJobs = async (fetched: Fetched[], error: unknown) => {
    o.log.warn({ shard: o.shard, jobs: fetched.length, err: (error as Error).message }, 'batch failed; BullMQ will retry its jobs if attempts remain');
    await Promise.all(fetched.map((f) => f.job.moveToFailed(error as Error, f.token, false).catch(() => {})));
    for (const f of fetched) for (const h of held) if (h.job === f.job) held.delete(h);
  };

  /**
   * Commits the jobs' items in one transaction. If that fails for a reason that is not transient
   * (see `isolatable`), one bad input must not fail its neighbours (issue 12, finding 3): the
   * batch is split in halves, each committed on its own, down to single jobs and then to the
   * items of a single job, until the culprit is alone. A culprit origin item that Postgres still
   * refuses alone is answered `malformed_item` (not recorded, nothing moved); any other culprit
   * job fails as before. At most LIMITS.settleSplitTransactionsMax transactions are spent
   * splitting one batch; past that, what is left fails for BullMQ to retry. Returns the committed
   * parts, in queue order (none if everything failed).
   */
  const commitJobs = async (batch: Batch, onDecided?: CommitOptions['onDecided']): Promise<Part[]> => {
    const { fetched, items } = batch;
    try {
      return [{ fetched, result: await commitHeld(fetched.length, items, { ahead: batch.ahead, onDecided }) }];
    } catch (error) {
      if (closing || !isolatable(error)) {
        await failJobs(fetched, error);
        return [];
      }
      o.log.warn({ shard: o.shard, jobs: fetched.length, items: items.length, err: (error as Error).message }, 'batch failed on its content; splitting it to isolate the culprit');
      return isolateCulprits(fetched, error, { left: o.splitTransactionsMax ?? LIMITS.settleSplitTransactionsMax });
    }
  };

  /** Commits `fetched` job by halves (see commitJobs); `failed` is the error the whole group failed with. */
  const isolateCulprits = async (fetched: Fetched[], failed: unknown, budget: { left: number }): Promise<Part[]> => {
    if (fetched.length === 1) {
      const f = fetched[0];
      if (!isItemFault(failed) || f.payload.items.length === 0) {
        await failJobs(fetched, failed);
        return [];
      }
      const parts = await isolateItems(f, 0, f.payload.items.length, failed, budget);
      if (parts === null) {
        await failJobs(fetched, failed);
        return [];
      }
      return parts;
    }
    const parts: Part[] = [];
    const half = Math.ceil(fetched.length / 2);
    for (const group of [fetched.slice(0, half), fetched.slice(half)]) {
      if (budget.left <= 0 || closing) {
        await failJobs(group, failed);
        continue;
      }
      budget.left--;
      try {
        parts.push({
          fetched: group,
          result: await commitHeld(
            group.length,
            group.flatMap((f) => f.payload.items),
            {},
          ),
        });
      } catch (error) {
        if (!isolatable(error)) await failJobs(group, error);
        else parts.push(...(await isolateCulprits(group, error, budget)));
      }
    }
    return parts;
  };

  /**
   * Commits the items [from, to) of one job by halves; a lone item Postgres refuses is answered
   * malformed_item. Parts hold views of the job with only their items, so that each part's reply
   * carries the batch its items were committed in. Null if the job must fail as a whole (the
   * budget ran out, or the culprit is not an origin item).
   */
  const isolateItems = async (f: Fetched, from: number, to: number, failed: unknown, budget: { left: number }): Promise<Part[] | null> => {
    const view = (a: number, b: number): Fetched => ({ ...f, payload: { ...f.payload, items: f.payload.items.slice(a, b) } });
    if (to - from === 1) {
      const item = f.payload.items[from];
      if (item.type === 'credit' || item.type === 'credit_result' || item.type === 'hold_expire') return null;
      o.log.error({ shard: o.shard, jobId: f.job.id, gatewayId: f.job.data.gatewayId, itemId: String(item.id).slice(0, 80), err: (failed as Error).message }, 'refused an item the ledger cannot store: malformed_item');
      const outcome: JobOutcome = { id: item.id, type: item.type ?? 'origin', status: 'rejected', code: 'malformed_item' };
      return [{ fetched: [view(from, to)], result: { timingsMs: { lock: 0, decide: 0, write: 0, commit: 0 }, decidedAhead: false, shard: o.shard, timeMs: now(), batchSeq: null, outcomes: [outcome], messages: new Map() } }];
    }
    const parts: Part[] = [];
    const middle = from + Math.ceil((to - from) / 2);
    for (const [a, b] of [
      [from, middle],
      [middle, to],
    ]) {
      if (budget.left <= 0 || closing) return null;
      budget.left--;
      try {
        parts.push({ fetched: [view(a, b)], result: await commitHeld(1, f.payload.items.slice(a, b), {}) });
      } catch (error) {
        if (!isItemFault(error)) return null;
        const inner = await isolateItems(f, a, b, error, budget);
        if (inner === null) return null;
        parts.push(...inner);
      }
    }
    return parts;
  };

  /**
   * Tells the waiting gateways: each gateway job's outcomes go to that gateway's own reply stream;
   * final outcomes of transfers between shards (credit results) go to the stream every gateway
   * reads. Best effort, like the answer to any request: a lost reply leaves the request to answer
   * 202 and the outcome to be read by id.
   */
  const reply = (fetched: Fetched[], results: JobResult[]) => {
    const finals = finalsStream(o.queuePrefix);
    // One pipeline per stream: each stream has its own hash tag, so on Redis Cluster the streams
    // of different gateways live in different slots, and a pipeline may not span them.
    const pipelines = new Map<string, ReturnType<RedisConnection['pipeline']>>();
    const pipelineOf = (key: string) => {
      let pipeline = pipelines.get(key);
      if (!pipeline) {
        pipeline = producer.pipeline();
        pipelines.set(key, pipeline);
      }
      return pipeline;
    };
    fetched.forEach((f, i) => {
      // A gateway job's outcomes go to its gateway; a credit result's to the gateway it names, or
      // to the shared stream if it names none; credits' outcomes to nobody.
      const byStream = new Map<string, JobOutcome[]>();
      results[i].outcomes.forEach((outcome, j) => {
        if (outcome.type === 'credit') return;
        const to = outcome.type === 'credit_result' ? (f.payload.items[j] as JobCreditResult).replyTo : f.job.data.gatewayId;
        const key = to ? replyStream(o.queuePrefix, to) : finals;
        const list = byStream.get(key);
        if (list) list.push(outcome);
        else byStream.set(key, [outcome]);
      });
      for (const [key, outcomes] of byStream) {
        // Signed with the shard's key, bound to the stream it is meant for: a gateway answers
        // "settled" only on a reply that verifies, whoever else can write to Redis.
        const json = JSON.stringify({ ...results[i], outcomes });
        const signature = signer.sign(replyEntryMessage(key, json)).toString('hex');
        pipelineOf(key).xadd(key, 'MAXLEN', '~', LIMITS.replyStreamEntriesMax, '*', 'result', json, 'shard', String(o.shard), 'signature', signature);
      }
    });
    for (const [key, pipeline] of pipelines) if (key !== finals) pipeline.pexpire(key, LIMITS.replyStreamTtlMs);
    return Promise.all([...pipelines.values()].map((pipeline) => pipeline.exec().catch((error: Error) => o.log.warn({ shard: o.shard, err: error.message }, 'could not send replies to gateways; their requests answer pending'))));
  };

  /**
   * Cross-shard messages carry the waiting gateway's id: a credit takes the id of the gateway job
   * its transfer came in, a credit result the id its credit brought.
   */
  const withReplyTo = (fetched: Fetched[], messages: CommitResult['messages']) => {
    if (messages.size === 0) return messages; // one shard, or no transfer crossing: nothing to look up
    const gatewayOf = new Map<string, string>();
    for (const f of fetched) {
      for (const item of f.payload.items) {
        if (item.type === undefined || item.type === 'origin') gatewayOf.set(item.id, f.job.data.gatewayId);
        else if (item.type === 'credit' && item.replyTo) gatewayOf.set(item.id, item.replyTo);
      }
    }
    for (const list of messages.values()) {
      for (const m of list) {
        const replyTo = gatewayOf.get(m.id);
        if (replyTo) m.replyTo = replyTo;
      }
    }
    return messages;
  };

  /**
   * After the commit: cross-shard messages out, replies to gateways, then each job completed with
   * its own outcomes. A job split across parts (see commitJobs) is completed once.
   */
  const completeJobs = async (parts: Part[], started: number) => {
    const completion = new Map<Fetched['job'], { f: Fetched; result: CommitResult; items: number }>();
    const replies: Array<Promise<unknown>> = [];
    for (const { fetched, result } of parts) {
      await send(withReplyTo(fetched, result.messages));
      let offset = 0;
      const results = fetched.map((f): JobResult => {
        const outcomes = result.outcomes.slice(offset, offset + f.payload.items.length);
        offset += f.payload.items.length;
        const done = completion.get(f.job);
        completion.set(f.job, { f, result: result.batchSeq === null && done ? done.result : result, items: (done?.items ?? 0) + f.payload.items.length });
        return { shard: result.shard, batchSeq: result.batchSeq, timeMs: result.timeMs, outcomes };
      });
      replies.push(reply(fetched, results));
    }
    await Promise.all([
      ...replies,
      ...[...completion.values()].map(({ f, result, items }) =>
        withDeadline(f.job.moveToCompleted({ shard: result.shard, batchSeq: result.batchSeq, timeMs: result.timeMs, items }, f.token, false), redisDeadlineMs, redisLate('completing a job')).catch((error: Error) =>
          o.log.warn({ shard: o.shard, jobId: f.job.id, err: error.message }, 'could not mark a committed job completed; a redelivery will be answered as duplicates'),
        ),
      ),
    ]);
    for (const h of held) if (completion.has(h.job)) held.delete(h);
    const last = parts[parts.length - 1].result;
    const t = last.timingsMs;
    const items = [...completion.values()].reduce((n, c) => n + c.items, 0);
    o.log.info(
      {
        shard: o.shard,
        jobs: completion.size,
        parts: parts.length,
        batchSeq: last.batchSeq,
        items,
        decidedAhead: last.decidedAhead,
        ms: Math.round(performance.now() - started),
        lockMs: Math.round(t.lock),
        decideMs: Math.round(t.decide),
        writeMs: Math.round(t.write),
        commitMs: Math.round(t.commit),
      },
      'batch committed',
    );
  };

  /**
   * The next batch: the first waiting job (blocking briefly) unless `fetched` holds some already,
   * then whatever else waits, up to the bounds.
   */
  const fetchBatch = async (fetched: Fetched[] = []): Promise<Fetched[]> => {
    try {
      let items = fetched.reduce((n, f) => n + f.payload.items.length, 0);
      if (items >= itemsMax || fetched.length >= jobsMax) return fetched;
      const firstToken = randomUUID();
      const first = await withDeadline(worker.getNextJob(firstToken, { block: fetched.length === 0 }), redisDeadlineMs, redisLate('fetching jobs'));
      for (let job: typeof first | undefined = first, token = firstToken; job; ) {
        const key = await keyOfAttestor(job.data?.attestor);
        const payload = openJob(job.data, () => key);
        if (!payload || payload.shard !== o.shard) {
          o.log.error({ shard: o.shard, jobId: job.id }, 'rejected a job without a valid attestation for this shard');
          await job.moveToFailed(new UnrecoverableError('job attestation does not verify'), token, false).catch(() => {});
        } else {
          const f = { job, token, payload };
          fetched.push(f);
          held.add(f);
          items += payload.items.length;
        }
        if (items >= itemsMax || fetched.length >= jobsMax || closing) break;
        token = randomUUID();
        job = await withDeadline(worker.getNextJob(token, { block: false }), redisDeadlineMs, redisLate('fetching jobs'));
      }
    } catch (error) {
      if (!closing) {
        o.log.warn({ shard: o.shard, err: (error as Error).message }, 'could not fetch jobs; retrying');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return fetched;
  };

  /**
   * The batch after the committing one, decided on the state the committing one leaves, if its
   * first jobs are already here: it takes what waits (up to the bounds) and decides it while
   * Postgres writes and commits the previous batch. Null if no job came before that commit ended
   * (the loop then takes `next` as usual): a batch's answer never waits for traffic.
   */
  const decideNext = async (previous: BatchAftermath, previousDone: Promise<unknown>): Promise<Batch | null> => {
    const first = await Promise.race([next, previousDone.then(() => null)]);
    if (!first || first.length === 0 || closing) return null;
    const fetched = await fetchBatch(first);
    next = fetchBatch();
    const items = fetched.flatMap((f) => f.payload.items);
    try {
      return { fetched, items, ahead: await decideAhead(o.sql, ctx, items, now(), previous) };
    } catch (error) {
      o.log.warn({ shard: o.shard, err: (error as Error).message }, 'could not decide the next batch ahead; it is decided in its own transaction');
      return { fetched, items, ahead: null };
    }
  };

  // A pipeline: while one batch commits, the next is fetched from the queue and decided, and the
  // one before is marked completed. Commits stay strictly one after another, in queue order.
  let next: Promise<Fetched[]> = fetchBatch();
  const loop = async () => {
    let completing: Promise<unknown> = Promise.resolve();
    let decided: Batch | null = null;
    for (;;) {
      let batch: Batch;
      if (decided) {
        batch = decided;
        decided = null;
      } else {
        // What arrived while the last batch committed joins this one, so that prefetching never
        // makes a job wait a batch longer.
        const fetched = closing ? await next : await fetchBatch(await next);
        if (fetched.length === 0) {
          if (closing) break;
          next = fetchBatch();
          continue;
        }
        next = closing ? Promise.resolve([]) : fetchBatch();
        batch = { fetched, items: fetched.flatMap((f) => f.payload.items), ahead: null };
      }
      const started = performance.now();
      let following: Promise<Batch | null> = Promise.resolve(null);
      let commitEnded!: () => void;
      const commitDone = new Promise<void>((resolve) => (commitEnded = resolve));
      const result = await commitJobs(batch, (aftermath) => {
        following = decideNext(aftermath, commitDone);
      }).finally(() => commitEnded());
      decided = await following;
      await completing;
      completing = result.length
        ? completeJobs(result, started).catch((error: Error) => o.log.warn({ shard: o.shard, err: error.message }, 'completing a committed batch failed; a redelivery will be answered as duplicates'))
        : Promise.resolve();
    }
    await completing;
  };
  const running = loop();

  // The sweeper: credits still in flight after resendAfterMs are sent again, at a pace that backs
  // off while it keeps finding some (see sweep.ts).
  const pace = { baseMs: o.sweepIntervalMs ?? 1000, maxMs: o.sweepBackoffMaxMs ?? 30_000 };
  let sweeper: NodeJS.Timeout | null = null;
  const sweep = async (delayMs: number) => {
    let sent = 0;
    try {
      const resendAfterMs = o.resendAfterMs ?? 3000;
      const stale = await staleCredits(o.sql, ctx, now() - resendAfterMs, LIMITS.batchTransfersMax);
      // A payee shard with jobs waiting or being settled has most likely not reached the credit yet (see sweep.ts).
      const busy = new Set<number>();
      for (const to of stale.keys()) {
        const counts = await outbox(to)
          .getJobCounts('waiting', 'active', 'delayed', 'prioritized')
          .catch(() => ({}) as Record<string, number>);
        if (Object.values(counts).some((n) => n > 0)) busy.add(to);
      }
      const overdue = busy.size > 0 ? await staleCredits(o.sql, ctx, now() - OVERDUE_RESEND_FACTOR * resendAfterMs, LIMITS.batchTransfersMax) : new Map();
      const resend = creditsToResend(stale, overdue, busy);
      sent = [...resend.values()].reduce((n, list) => n + list.length, 0);
      await send(resend);
    } catch (error) {
      o.log.warn({ shard: o.shard, err: (error as Error).message }, 'sweep failed; will try again');
    }
    if (!closing) schedule(nextSweepDelayMs(delayMs, sent, pace));
  };
  const schedule = (delayMs: number) => {
    sweeper = setTimeout(() => void sweep(delayMs), delayMs);
    sweeper.unref();
  };
  if (ctx.shardCount > 1) schedule(pace.baseMs);

  // The expiry of holds: without any request, the money of this shard's holds past their expiry
  // goes back to their payers, in batches of their own under the head lock (the core applies each
  // expiry once; a capture or void that reaches a due hold first applies its expiry itself).
  let expirer: NodeJS.Timeout | null = null;
  let expiring: Promise<void> = Promise.resolve();
  const expireDue = async () => {
    try {
      const ids = await dueHolds(o.sql, o.shard, now(), LIMITS.holdsExpiredPerSweepMax);
      if (ids.length) {
        const done = await commitBatch(
          o.sql,
          ctx,
          ids.map((id) => ({ type: 'hold_expire' as const, id })),
          now(),
        );
        o.log.info({ shard: o.shard, batchSeq: done.batchSeq, expired: done.outcomes.filter((x) => x.status === 'applied').length }, 'holds expired');
      }
    } catch (error) {
      o.log.warn({ shard: o.shard, err: (error as Error).message }, 'hold expiry sweep failed; will try again');
    }
    if (!closing) scheduleExpiry();
  };
  const scheduleExpiry = () => {
    expirer = setTimeout(() => (expiring = expireDue()), o.holdExpirySweepIntervalMs ?? LIMITS.holdExpirySweepIntervalMs);
    expirer.unref();
  };
  scheduleExpiry();

  return {
    worker,
    async close() {
      closing = true;
      if (sweeper) clearTimeout(sweeper);
      if (expirer) clearTimeout(expirer);
      await expiring;
      await worker.close();
      await running;
      await Promise.all([...outboxes.values()].map((q) => q.close().catch(() => {})));
      producer.disconnect();
      connection.disconnect();
    },
  };
}
