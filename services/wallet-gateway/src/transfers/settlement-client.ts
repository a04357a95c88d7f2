/**
 * The gateway's side of the queue: groups verified items into one micro-batch per shard
 * (flushed when full or after a short linger), adds each as one attested BullMQ job, and hands
 * outcomes back to the requests waiting for them as the workers reply: on this process's own
 * reply stream for its jobs, and on the shared stream of cross-shard finals (see
 * @cbdc/shared/job). No process reads the answers to another's jobs, so adding gateway
 * processes does not add work to each.
 *
 * Redis holds only in-flight work. If a job is lost, its requests time out as "pending" and the
 * bank resubmits the same signed transfer; settlement deduplicates by id in Postgres.
 *
 * Redis is not a trust channel: jobs are signed with this gateway's own key, and a reply counts
 * only if it verifies against the registered key of the shard it names (@cbdc/shared/reply). A
 * forged or moved reply is dropped: its requests answer pending and the outcome is read by id.
 */
import { Queue } from 'bullmq';
import { ed25519VerifyRaw, parseHex, type Signer } from '@cbdc/shared/crypto';
import { trimOldest } from '@cbdc/shared/bounded-map';
import { attestJob, finalsStream, gatewayAttestor, replyStream, shardQueue, shardQueueTag, type JobHold, type JobHoldAction, type JobItem, type JobOutcome, type JobResult, type JobSummary, type SettlementJobData } from '@cbdc/shared/job';
import { consumerRedis, producerRedis, type RedisConnection, type RedisTarget } from '@cbdc/shared/redis';
import type { Limits } from '@cbdc/shared/limits';
import { ApiError } from '@cbdc/shared/problem';
import { replyEntryMessage } from '@cbdc/shared/reply';
import { acceptedKey, acceptedTtlMs, encodeAccepted } from './accepted.js';

/** Sets each KEYS[i] to ARGV[2i - 1] with a TTL of ARGV[2i] ms, all at once (the keys share one slot). */
const RECORD_ACCEPTED_SCRIPT = "for i = 1, #KEYS do redis.call('set', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i]) end return #KEYS";

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** What a gateway queues: transfers and fundings, holds, and banks' captures and voids of holds. */
export type GatewayJobItem = JobItem | JobHold | JobHoldAction;

interface ShardLane {
  queue: Queue<SettlementJobData, JobSummary>;
  buffer: GatewayJobItem[];
  flushed: Deferred<void>;
  timer: NodeJS.Timeout | null;
  jobsWaiting: number;
}

export interface SettlementClientOptions {
  /** Redis, one server or a cluster (@cbdc/shared/redis). */
  redis: RedisTarget;
  queuePrefix: string;
  shardCount: number;
  /** This gateway's attestation key, and the key id settlement knows it by (GATEWAY_KEY_ID). */
  signer: Signer;
  keyId: string;
  gatewayId: string;
  /** The shards' registered public keys, which replies must verify against (read again for an unknown shard). */
  loadShardKeys: () => Promise<Map<number, Uint8Array>>;
  limits: Limits;
  onError?: (error: Error) => void;
}

/** A final outcome with the batch that committed it. */
export type CommittedOutcome = JobOutcome & { shard: number; batchSeq: string | null; timeMs: number };

export interface Submission {
  /** Resolves when every item is in Redis; rejects with an ApiError (503) if it could not be queued. */
  enqueued: Promise<void>;
  /** One promise per item, in order, resolving with its outcome when its batch commits. */
  outcomes: Promise<CommittedOutcome>[];
}

export class SettlementClient {
  private readonly lanes: ShardLane[] = [];
  private readonly waiters = new Map<string, Deferred<CommittedOutcome>[]>();
  private readonly producer: RedisConnection;
  private jobCounter = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private redisHealthy = true;
  private inFlightCount = 0;
  private closing = false;
  /** One blocking reader per reply stream (each on its own connection: the streams live in different slots). */
  private readonly readers: Array<{ connection: RedisConnection; done: Promise<void> }> = [];
  private shardKeys = new Map<number, Uint8Array>();
  private shardKeysReadAtMs = 0;
  /** Each shard queue's hash tag, which the records of accepted items share (./accepted.ts). */
  private readonly queueTags: string[] = [];
  /** Items this process recorded as accepted, by id, with their shard: their records go once settlement records them. */
  private readonly acceptedIds = new Map<string, number>();
  /**
   * Ids settlement recorded lately whose records this process was not (yet) holding: a reply can
   * overtake the write of a record (the worker commits while the record is on its way), and the
   * record is then removed as soon as it is written.
   */
  private readonly recordedLately = new Map<string, true>();

  constructor(private readonly o: SettlementClientOptions) {
    this.producer = producerRedis(o.redis);
    this.producer.on('error', (error) => o.onError?.(error));
    this.producer.on('ready', () => (this.redisHealthy = true));
    this.producer.on('close', () => (this.redisHealthy = false));
  }

  /** Opens every shard's queue and event stream. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (this.producer.status === 'ready') return resolve();
      this.producer.once('ready', () => resolve());
      this.producer.once('error', reject);
    });
    for (let shard = 0; shard < this.o.shardCount; shard++) {
      const q = shardQueue(this.o.queuePrefix, shard);
      this.queueTags.push(shardQueueTag(this.o.queuePrefix, shard));
      const queue = new Queue<SettlementJobData, JobSummary>(q.name, { connection: this.producer, prefix: q.prefix });
      await queue.waitUntilReady();
      this.lanes.push({ queue, buffer: [], flushed: deferred<void>(), timer: null, jobsWaiting: 0 });
    }
    for (const key of [replyStream(this.o.queuePrefix, this.o.gatewayId), finalsStream(this.o.queuePrefix)]) await this.startReader(key);
    this.pollTimer = setInterval(() => void this.pollDepth(), 200);
    this.pollTimer.unref();
  }

  /** Transfers accepted by this gateway and not yet answered by settlement. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /**
   * Refuses new work with 503 when Redis is down or a shard's queue or this gateway is full,
   * before any memory is spent on it.
   */
  checkCapacity(shards: Iterable<number>, count: number): void {
    if (!this.redisHealthy) throw new ApiError('dependency_unavailable', 'the settlement queue (Redis) is unavailable', { headers: { 'retry-after': '1' } });
    if (this.inFlightCount + count > this.o.limits.gatewayTransfersInFlightMax) throw new ApiError('overloaded', 'this gateway has too many transfers in flight', { headers: { 'retry-after': '1' } });
    for (const shard of shards) {
      if (this.lanes[shard].jobsWaiting > this.o.limits.queueJobsWaitingMax) throw new ApiError('overloaded', `the queue of shard ${shard} is full`, { headers: { 'retry-after': '1' } });
    }
  }

  /** Queues items (each with its shard) and returns promises of their enqueueing and outcomes. */
  submit(items: Array<{ shard: number; item: GatewayJobItem }>): Submission {
    const flushes = new Set<Promise<void>>();
    const outcomes = items.map(({ shard, item }) => {
      const waiter = deferred<CommittedOutcome>();
      const list = this.waiters.get(item.id);
      if (list) list.push(waiter);
      else this.waiters.set(item.id, [waiter]);
      this.inFlightCount++;
      const lane = this.lanes[shard];
      lane.buffer.push(item);
      flushes.add(lane.flushed.promise);
      if (lane.buffer.length >= this.o.limits.batchTransfersMax) this.flush(shard);
      else if (!lane.timer) lane.timer = setTimeout(() => this.flush(shard), this.o.limits.batchLingerMs);
      return waiter.promise;
    });
    return { enqueued: Promise.all(flushes).then(() => undefined), outcomes };
  }

  /** Stops waiting for these ids (the request answered "pending"). */
  release(ids: string[]): void {
    for (const id of ids) {
      const list = this.waiters.get(id);
      if (!list) continue;
      this.inFlightCount -= list.length;
      this.waiters.delete(id);
    }
  }

  /**
   * Records items that are in their shards' queues as accepted, so that they read `pending` by id
   * (./accepted.ts): one script per shard, in the slot of its queue (measured: a third less gateway
   * CPU than a MULTI of SETs, whose per-command cost in ioredis dominated). Call it only once the items are
   * queued, and answer 202 only once it resolved; it rejects with a 503 ApiError if Redis did not
   * take the records (the items are queued: resubmitting them is safe).
   */
  async recordAccepted(items: ReadonlyArray<{ shard: number; item: JobItem }>, nowMs: number): Promise<void> {
    const byShard = new Map<number, JobItem[]>();
    for (const { shard, item } of items) {
      const list = byShard.get(shard);
      if (list) list.push(item);
      else byShard.set(shard, [item]);
    }
    try {
      await Promise.all(
        [...byShard].map(([shard, list]) => {
          const keys = list.map((item) => acceptedKey(this.queueTags[shard], item.id));
          const args = list.flatMap((item) => [encodeAccepted(item), String(acceptedTtlMs(item, nowMs, this.o.limits))]);
          return this.producer.eval(RECORD_ACCEPTED_SCRIPT, keys.length, ...keys, ...args);
        }),
      );
    } catch (error) {
      this.o.onError?.(error as Error);
      throw new ApiError('dependency_unavailable', 'the settlement queue (Redis) took these transfers but not their pending record; resubmit them (a transfer never settles twice)', { headers: { 'retry-after': '1' } });
    }
    const overtaken: Array<{ shard: number; id: string }> = [];
    for (const { shard, item } of items) {
      if (this.recordedLately.has(item.id)) overtaken.push({ shard, id: item.id });
      else this.acceptedIds.set(item.id, shard);
    }
    // Forgetting one only leaves its record to its TTL (the recorded row answers meanwhile).
    trimOldest(this.acceptedIds, this.o.limits.gatewayTransfersInFlightMax);
    this.unlinkAccepted(overtaken);
  }

  /** The stored record of accepted item `id` and the shard whose keys hold it, or null (reads every shard's key at once). */
  async acceptedRecord(id: string): Promise<{ shard: number; stored: string } | null> {
    const stored = await Promise.all(this.queueTags.map((tag) => this.producer.get(acceptedKey(tag, id))));
    const shard = stored.findIndex((s) => s !== null);
    return shard < 0 ? null : { shard, stored: stored[shard]! };
  }

  /**
   * Removes the records of accepted items that settlement has now recorded (their rows answer from
   * now on). Items it dropped unrecorded (unauthorized, malformed_item) keep theirs: they read
   * pending until their expiry, then not_settled.
   */
  private forgetAccepted(outcomes: readonly JobOutcome[]): void {
    const gone: Array<{ shard: number; id: string }> = [];
    for (const o of outcomes) {
      const recorded = o.status !== 'unauthorized' && !(o.status === 'rejected' && o.code === 'malformed_item');
      const shard = this.acceptedIds.get(o.id);
      if (shard !== undefined) this.acceptedIds.delete(o.id);
      if (!recorded) continue;
      if (shard !== undefined) gone.push({ shard, id: o.id });
      else this.recordedLately.set(o.id, true);
    }
    trimOldest(this.recordedLately, this.o.limits.gatewayTransfersInFlightMax);
    this.unlinkAccepted(gone);
  }

  /** Removes records, one UNLINK per shard (each within its queue's slot); a failure only leaves them to their TTL. */
  private unlinkAccepted(records: ReadonlyArray<{ shard: number; id: string }>): void {
    const byShard = new Map<number, string[]>();
    for (const { shard, id } of records) {
      const key = acceptedKey(this.queueTags[shard], id);
      const keys = byShard.get(shard);
      if (keys) keys.push(key);
      else byShard.set(shard, [key]);
    }
    for (const keys of byShard.values()) this.producer.unlink(...keys).catch((error: Error) => this.o.onError?.(error));
  }

  private flush(shard: number): void {
    const lane = this.lanes[shard];
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = null;
    const items = lane.buffer;
    const done = lane.flushed;
    lane.buffer = [];
    lane.flushed = deferred<void>();
    if (items.length === 0) return done.resolve();
    const jobId = `${this.o.gatewayId}-${Date.now()}-${++this.jobCounter}`;
    const data = attestJob(this.o.signer, gatewayAttestor(this.o.keyId), this.o.gatewayId, { shard, items });
    lane.queue
      .add('batch', data, {
        jobId,
        attempts: this.o.limits.settleJobAttemptsMax,
        backoff: { type: 'exponential', delay: 100 },
        removeOnComplete: { age: 600, count: 20_000 },
        removeOnFail: { age: 24 * 3600 },
      })
      .then(
        () => done.resolve(),
        (error: Error) => {
          this.o.onError?.(error);
          this.release(items.map((i) => i.id));
          // A timed-out add may still reach Redis once a partition heals: resubmitting is safe
          // (a transfer's id is its content; it settles once), so the bank is told to do that.
          done.reject(new ApiError('dependency_unavailable', 'the settlement queue (Redis) did not take these transfers; resubmit them (a transfer never settles twice)', { headers: { 'retry-after': '1' } }));
        },
      );
  }

  /**
   * Reads a reply stream from its current end, blocking, until close. Entries written while Redis
   * was unreachable to this reader are read once it is back (from the last id seen); a read that
   * fails is retried after a pause.
   */
  private async startReader(key: string): Promise<void> {
    const connection = consumerRedis(this.o.redis);
    connection.on('error', (error) => this.o.onError?.(error));
    const [last] = await connection.xrevrange(key, '+', '-', 'COUNT', 1);
    let lastId = last ? last[0] : '0-0';
    const done = (async () => {
      while (!this.closing) {
        try {
          const read = await connection.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', key, lastId);
          for (const [, entries] of read ?? []) {
            for (const [id, fields] of entries) {
              lastId = id;
              const result = await this.verifiedReply(key, fields);
              if (result) this.onCompleted(result);
              else this.o.onError?.(new Error(`dropped a reply on ${key} that is not signed by a registered shard key (entry ${id})`));
            }
          }
        } catch (error) {
          if (this.closing) break;
          this.o.onError?.(error as Error);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
    this.readers.push({ connection, done });
  }

  /** The reply an entry holds if it is signed by the key of the shard it names, for this stream; else null. */
  private async verifiedReply(stream: string, fields: string[]): Promise<JobResult | null> {
    const field = (name: string) => {
      const at = fields.indexOf(name);
      return at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
    };
    const json = field('result');
    const shard = Number(field('shard'));
    const signature = parseHex(field('signature') ?? '', 64);
    if (json === undefined || !Number.isInteger(shard) || !signature) return null;
    let key = this.shardKeys.get(shard);
    // An unknown shard: read the keys again, at most once a second (a forger cannot make us query per entry).
    if (!key && Date.now() - this.shardKeysReadAtMs > 1000) {
      this.shardKeysReadAtMs = Date.now();
      this.shardKeys = await this.o.loadShardKeys();
      key = this.shardKeys.get(shard);
    }
    if (!key || !ed25519VerifyRaw(key, replyEntryMessage(stream, json), signature)) return null;
    const result = JSON.parse(json) as JobResult;
    return result?.shard === shard ? result : null;
  }

  private onCompleted(result: JobResult): void {
    if (!result?.outcomes) return;
    this.forgetAccepted(result.outcomes);
    for (const outcome of result.outcomes) {
      // Only a final answer releases a waiting request: a debit in flight to another shard is
      // not final; its transfer becomes final with the credit result at the payer's shard.
      const final = outcome.type === 'credit_result' ? outcome.status === 'settled' || outcome.status === 'rejected' : outcome.type !== 'credit' && outcome.status !== 'debited';
      if (!final) continue;
      const list = this.waiters.get(outcome.id);
      if (!list) continue;
      this.waiters.delete(outcome.id);
      this.inFlightCount -= list.length;
      const committed: CommittedOutcome = { ...outcome, shard: result.shard, batchSeq: result.batchSeq, timeMs: result.timeMs };
      for (const waiter of list) waiter.resolve(committed);
    }
  }

  private async pollDepth(): Promise<void> {
    await Promise.all(
      this.lanes.map(async (lane) => {
        try {
          lane.jobsWaiting = await lane.queue.getWaitingCount();
        } catch {
          // The producer's status events mark Redis unhealthy; nothing to do here.
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (let shard = 0; shard < this.lanes.length; shard++) this.flush(shard);
    for (const lane of this.lanes) await lane.queue.close().catch(() => {});
    for (const reader of this.readers) reader.connection.disconnect();
    await Promise.all(this.readers.map((r) => r.done));
    this.producer.disconnect();
  }
}
