/**
 * Webhook delivery (docs/events.md). For every enabled endpoint and every shard, a cursor in that
 * shard's database says which of the bank's events on the shard the endpoint has been given.
 * A turn of an (endpoint, shard) pair, in one transaction on that database, holds the cursor's row
 * lock (`for update skip locked`: another delivery process skips the pair, so no event is sent by
 * two processes at once), reads the events after the cursor in seq order, POSTs them one by one,
 * and moves the cursor past each one that got a 2xx (or was passed over: not of the endpoint's
 * types, or dead-lettered), committing at the end of the turn. A crash loses the turn's cursor
 * moves, never an event: what was sent again is sent at least once, with the same webhook-id.
 *
 * A failed POST ends the turn with the retry state on the cursor (see retry.ts): the pair is not
 * due again before its next attempt time, so events on that shard wait in order behind it, and
 * other pairs are not held up. Turns run concurrently up to `deliveriesInFlightMax`, at most
 * `deliveriesPerEndpointMax` of them for one endpoint, each POST bounded by its timeout: a slow or
 * dead receiver holds only its own share.
 */
import { Webhook } from 'standardwebhooks';
import type { Sql } from '@cbdc/db/connect';
import { eventSpans, eventsAfter, pruneEvents } from '@cbdc/db/events';
import type { Topology } from '@cbdc/db/topology';
import { eventIdOf, eventWire, payeeWalletOf, type StoredEvent } from '@cbdc/shared/events';
import { shardOf } from '@cbdc/shared/ids';
import type { Limits } from '@cbdc/shared/limits';
import { openSecret, sealingKeyPair } from '@cbdc/shared/webhooks';
import { postWebhook, type PostResult } from './post.js';
import { afterFailure, type RetryPolicy } from './retry.js';

export interface DelivererOptions {
  topology: Topology;
  shardCount: number;
  sealingSeed: Buffer;
  allowedHosts: readonly string[];
  limits: Limits;
  pollIntervalMs: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  now?: () => number;
  random?: () => number;
}

interface Endpoint {
  id: string;
  bankId: string;
  url: string;
  types: ReadonlySet<string> | null;
  enabled: boolean;
  createdAtMs: number;
  /** The secrets that sign now: the current one, then the previous one while its overlap lasts. */
  signers(nowMs: number): Webhook[];
}

interface EndpointRow {
  id: string;
  bank_id: string;
  url: string;
  event_types: string[] | null;
  enabled: boolean;
  secret_sealed: Buffer;
  previous_secret_sealed: Buffer | null;
  previous_secret_expires_at_ms: bigint | null;
  created_at_ms: bigint;
}

interface CursorRow {
  endpoint_id: string;
  shard: number;
  bank_id: string;
  seq: bigint;
  attempts: number;
  first_failed_at_ms: bigint | null;
  next_attempt_at_ms: bigint;
  last_error: string | null;
}

interface Group {
  sql: Sql;
  shards: number[];
}

/** How often endpoints are read again from the central database, and orphans removed. */
const ENDPOINTS_REFRESH_MS = 1000;
const ORPHANS_SWEEP_MS = 30_000;

export class Deliverer {
  private readonly keys: { publicKey: Buffer; secretKey: Buffer };
  private readonly groups: Group[];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;
  private readonly allowedHosts: ReadonlySet<string>;
  private endpoints = new Map<string, Endpoint>();
  /** Secrets opened, by endpoint id and sealed bytes (opening costs an X25519 operation). */
  private readonly opened = new Map<string, Webhook>();
  /** (group index, endpoint) pairs whose cursors exist. */
  private readonly ensured = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly perEndpoint = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private inFlight = 0;
  private lastRefreshMs = 0;
  private lastSweepMs = 0;
  private lastPruneMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly o: DelivererOptions) {
    this.keys = sealingKeyPair(o.sealingSeed);
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.allowedHosts = new Set(o.allowedHosts.map((h) => h.toLowerCase()));
    this.retry = { attemptsMax: o.limits.webhookAttemptsMax, retryAgeMsMax: o.limits.webhookRetryAgeMsMax, baseMs: o.limits.webhookRetryBaseMs, maxMs: o.limits.webhookRetryDelayMsMax };
    const bySql = new Map<Sql, Group>();
    for (const g of o.topology.groups) {
      const group = bySql.get(g.sql) ?? { sql: g.sql, shards: [] };
      group.shards.push(...g.shards);
      bySql.set(g.sql, group);
    }
    this.groups = [...bySql.values()];
  }

  /** Starts polling. */
  start(): void {
    const loop = () => {
      if (this.stopping) return;
      this.ticking = this.tick()
        .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'webhook delivery pass failed; will try again'))
        .finally(() => {
          this.ticking = null;
          if (!this.stopping) this.timer = setTimeout(loop, this.o.pollIntervalMs);
        });
    };
    loop();
  }

  /** Stops polling and waits for the turns in flight (each bounded by the POST timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await Promise.allSettled([...this.running]);
  }

  /** One pass: endpoints, cursors, due turns and redeliveries of every group, pruning when due. */
  async tick(): Promise<void> {
    const nowMs = this.now();
    if (nowMs - this.lastRefreshMs >= ENDPOINTS_REFRESH_MS) {
      await this.refreshEndpoints();
      this.lastRefreshMs = nowMs;
    }
    if (nowMs - this.lastSweepMs >= ORPHANS_SWEEP_MS) {
      this.lastSweepMs = nowMs;
      for (const g of this.groups) await this.removeOrphans(g);
    }
    if (nowMs - this.lastPruneMs >= this.o.limits.eventsPruneIntervalMs) {
      this.lastPruneMs = nowMs;
      await this.prune();
    }
    const enabled = [...this.endpoints.values()].filter((e) => e.enabled);
    if (enabled.length === 0) return;
    await Promise.all(
      this.groups.map(async (g, index) => {
        await this.ensureCursors(g, index, enabled);
        await this.dispatchDue(g, enabled);
      }),
    );
  }

  private async refreshEndpoints(): Promise<void> {
    const rows = await this.o.topology.central<EndpointRow[]>`
      select id, bank_id, url, event_types, enabled, secret_sealed, previous_secret_sealed, previous_secret_expires_at_ms, created_at_ms from webhook_endpoints`;
    const next = new Map<string, Endpoint>();
    for (const r of rows) {
      const current = this.signerOf(r.id, r.secret_sealed);
      if (current === null) {
        this.o.log.warn({ endpoint: r.id }, 'an endpoint secret does not open with this WEBHOOK_SEALING_KEY; not delivering to it');
        continue;
      }
      const previous = r.previous_secret_sealed ? this.signerOf(r.id, r.previous_secret_sealed) : null;
      const previousUntil = r.previous_secret_expires_at_ms === null ? 0 : Number(r.previous_secret_expires_at_ms);
      next.set(r.id, {
        id: r.id,
        bankId: r.bank_id,
        url: r.url,
        types: r.event_types ? new Set(r.event_types) : null,
        enabled: r.enabled,
        createdAtMs: Number(r.created_at_ms),
        signers: (nowMs) => (previous && nowMs < previousUntil ? [current, previous] : [current]),
      });
    }
    this.endpoints = next;
  }

  private signerOf(endpointId: string, sealed: Buffer): Webhook | null {
    const key = `${endpointId}:${sealed.toString('base64')}`;
    const cached = this.opened.get(key);
    if (cached) return cached;
    const secret = openSecret(this.keys, endpointId, sealed);
    if (secret === null) return null;
    const signer = new Webhook(secret);
    this.opened.set(key, signer);
    return signer;
  }

  /**
   * Creates the missing cursors of endpoints on this group's shards, each at the bank's last event
   * recorded before the endpoint was created (an endpoint is sent what happens after it exists).
   */
  private async ensureCursors(g: Group, index: number, endpoints: readonly Endpoint[]): Promise<void> {
    const fresh = endpoints.filter((e) => !this.ensured.has(`${index}:${e.id}`));
    if (fresh.length === 0) return;
    await g.sql`
      insert into webhook_cursors (endpoint_id, shard, bank_id, seq)
      select e.id, s.shard, e.bank_id,
             coalesce((select seq from events where bank_id = e.bank_id and shard = s.shard and at_ms < e.created_at_ms order by seq desc limit 1), 0)
      from unnest(${fresh.map((e) => e.id)}::text[], ${fresh.map((e) => e.bankId)}::text[], ${fresh.map((e) => e.createdAtMs)}::bigint[]) as e(id, bank_id, created_at_ms)
      cross join unnest(${g.shards}::int[]) as s(shard)
      on conflict (endpoint_id, shard) do nothing`;
    for (const e of fresh) this.ensured.add(`${index}:${e.id}`);
  }

  /**
   * Removes the cursors and dead letters of deleted endpoints. An id is taken as deleted only if the
   * central database, read after the group's ids, no longer has it (ids are never reused), so an
   * endpoint created meanwhile by another process is never touched.
   */
  private async removeOrphans(g: Group): Promise<void> {
    const ids = await g.sql<{ endpoint_id: string }[]>`
      select distinct endpoint_id from webhook_cursors union select distinct endpoint_id from webhook_dead_letters`;
    if (ids.length === 0) return;
    const alive = await this.o.topology.central<{ id: string }[]>`select id from webhook_endpoints where id = any(${ids.map((r) => r.endpoint_id)})`;
    const kept = new Set(alive.map((r) => r.id));
    const gone = ids.map((r) => r.endpoint_id).filter((id) => !kept.has(id));
    if (gone.length === 0) return;
    await g.sql`delete from webhook_cursors where endpoint_id = any(${gone})`;
    await g.sql`delete from webhook_dead_letters where endpoint_id = any(${gone})`;
  }

  /** Prunes events and dead letters past retention, in every database, a batch at a time until done. */
  private async prune(): Promise<void> {
    const cutoffMs = this.now() - this.o.limits.eventRetentionMs;
    const rowsMax = this.o.limits.eventsPrunedPerRunMax;
    for (const g of this.groups) {
      for (let deleted = rowsMax; deleted >= rowsMax && !this.stopping; ) deleted = await pruneEvents(g.sql, cutoffMs, rowsMax);
      await g.sql`delete from webhook_dead_letters where dead_at_ms < ${cutoffMs}`;
    }
  }

  /** Starts the due turns and redeliveries of a group that fit the concurrency bounds. */
  private async dispatchDue(g: Group, enabled: readonly Endpoint[]): Promise<void> {
    const ids = enabled.map((e) => e.id);
    const nowMs = this.now();
    const due = await g.sql<{ endpoint_id: string; shard: number }[]>`
      select c.endpoint_id, c.shard from webhook_cursors c
      join event_heads h on h.bank_id = c.bank_id and h.shard = c.shard
      where c.endpoint_id = any(${ids}) and c.shard = any(${g.shards}) and h.seq > c.seq and c.next_attempt_at_ms <= ${nowMs}
      order by c.next_attempt_at_ms`;
    const redeliveries = await g.sql<{ endpoint_id: string; shard: number; seq: bigint }[]>`
      select endpoint_id, shard, seq from webhook_dead_letters where status = 'redelivery_requested' and endpoint_id = any(${ids}) order by redelivery_requested_at_ms limit 100`;
    for (const d of due) this.launch(`${d.endpoint_id}:${d.shard}`, d.endpoint_id, () => this.turn(g, this.endpoints.get(d.endpoint_id)!, d.shard));
    for (const d of redeliveries) this.launch(`${d.endpoint_id}:${d.shard}:${d.seq}`, d.endpoint_id, () => this.redeliver(g, this.endpoints.get(d.endpoint_id)!, d.shard, d.seq));
  }

  /** Runs `work` unless the key is busy here or a bound is reached (the pair stays due for a later pass). */
  private launch(key: string, endpointId: string, work: () => Promise<void>): void {
    if (this.stopping || this.busy.has(key)) return;
    if (this.inFlight >= this.o.limits.webhookDeliveriesInFlightMax) return;
    if ((this.perEndpoint.get(endpointId) ?? 0) >= this.o.limits.webhookDeliveriesPerEndpointMax) return;
    this.busy.add(key);
    this.inFlight++;
    this.perEndpoint.set(endpointId, (this.perEndpoint.get(endpointId) ?? 0) + 1);
    const run = work()
      .catch((err: unknown) => this.o.log.warn({ key, err: (err as Error).message }, 'webhook turn failed; will try again'))
      .finally(() => {
        this.busy.delete(key);
        this.inFlight--;
        this.perEndpoint.set(endpointId, this.perEndpoint.get(endpointId)! - 1);
        this.running.delete(run);
      });
    this.running.add(run);
  }

  /** Signs and POSTs one payload (docs/events.md: the headers, and two signatures during a rotation's overlap). */
  private async send(endpoint: Endpoint, eventId: string, payload: string): Promise<PostResult> {
    const nowMs = this.now();
    const at = new Date(Math.floor(nowMs / 1000) * 1000);
    const signature = endpoint
      .signers(nowMs)
      .map((s) => s.sign(eventId, at, payload))
      .join(' ');
    return postWebhook(endpoint.url, { 'webhook-id': eventId, 'webhook-timestamp': String(at.getTime() / 1000), 'webhook-signature': signature }, payload, {
      timeoutMs: this.o.limits.webhookDeliveryTimeoutMs,
      responseBytesMax: this.o.limits.webhookResponseBytesMax,
      allowedHosts: this.allowedHosts,
    });
  }

  /** The banks of the payee wallets of rejections in `events`, read from each wallet's database (for eventWire's rule). */
  private async payeeBanks(events: readonly StoredEvent[]): Promise<Map<string, string>> {
    const ids = [...new Set(events.flatMap((e) => (e.code !== null && payeeWalletOf(e) !== null ? [payeeWalletOf(e)!] : [])))];
    const out = new Map<string, string>();
    const byDb = new Map<Sql, string[]>();
    for (const id of ids) {
      const sql = this.o.topology.ofShard(shardOf(id, this.o.shardCount));
      byDb.set(sql, [...(byDb.get(sql) ?? []), id]);
    }
    for (const [sql, list] of byDb) for (const r of await sql<{ id: string; bank_id: string }[]>`select id, bank_id from wallets where id = any(${list})`) out.set(r.id, r.bank_id);
    return out;
  }

  /** One turn of an endpoint on a shard (see the module comment). */
  private async turn(g: Group, endpoint: Endpoint, shard: number): Promise<void> {
    await g.sql.begin(async (tx) => {
      const [c] = await tx<CursorRow[]>`select * from webhook_cursors where endpoint_id = ${endpoint.id} and shard = ${shard} for update skip locked`;
      if (!c || Number(c.next_attempt_at_ms) > this.now()) return;
      const span = (await eventSpans(tx, endpoint.bankId, [shard])).get(shard)!;
      // Events past retention before this endpoint got them are passed over (docs/events.md).
      const start = c.seq < span.prunedSeq ? span.prunedSeq : c.seq;
      if (start !== c.seq) this.o.log.warn({ endpoint: endpoint.id, shard, from: c.seq.toString(), to: start.toString() }, 'events past retention were never delivered to this endpoint');
      const events = await eventsAfter(tx, endpoint.bankId, [{ shard, after: start }], this.o.limits.webhookEventsPerTurnMax, null);
      const payees = await this.payeeBanks(events);
      let state = { seq: start, attempts: c.attempts, firstFailedAtMs: c.first_failed_at_ms === null ? null : Number(c.first_failed_at_ms), nextAttemptAtMs: 0, lastError: c.last_error };
      const passed = (seq: bigint) => ({ seq, attempts: 0, firstFailedAtMs: null, nextAttemptAtMs: 0, lastError: null });
      for (const e of events) {
        if (this.stopping) break;
        if (endpoint.types !== null && !endpoint.types.has(e.type)) {
          state = passed(e.seq);
          continue;
        }
        const eventId = eventIdOf(e.shard, e.seq);
        const payload = JSON.stringify(eventWire(e, (id) => payees.get(id) ?? null));
        const result = await this.send(endpoint, eventId, payload);
        if (result.ok) {
          state = passed(e.seq);
          continue;
        }
        const nowMs = this.now();
        const next = afterFailure(state, nowMs, this.retry, this.random());
        if (next.dead) {
          await tx`
            insert into webhook_dead_letters (endpoint_id, shard, seq, bank_id, type, payload, attempts, last_error, dead_at_ms, status)
            values (${endpoint.id}, ${shard}, ${e.seq.toString()}, ${endpoint.bankId}, ${e.type}, ${payload}, ${next.attempts}, ${result.error}, ${nowMs}, 'dead')
            on conflict (endpoint_id, shard, seq) do update set attempts = excluded.attempts, last_error = excluded.last_error, dead_at_ms = excluded.dead_at_ms, status = 'dead'`;
          this.o.log.warn({ endpoint: endpoint.id, event: eventId, attempts: next.attempts, error: result.error }, 'webhook dead-lettered');
          state = passed(e.seq);
          continue;
        }
        state = { ...state, attempts: next.attempts, firstFailedAtMs: next.firstFailedAtMs, nextAttemptAtMs: next.nextAttemptAtMs, lastError: result.error };
        break;
      }
      await tx`
        update webhook_cursors set seq = ${state.seq.toString()}, attempts = ${state.attempts}, first_failed_at_ms = ${state.firstFailedAtMs},
          next_attempt_at_ms = ${state.nextAttemptAtMs}, last_error = ${state.lastError}
        where endpoint_id = ${endpoint.id} and shard = ${shard}`;
    });
  }

  /** Sends a dead letter once more, as its bank asked: redelivered on a 2xx, dead again otherwise. */
  private async redeliver(g: Group, endpoint: Endpoint, shard: number, seq: bigint): Promise<void> {
    await g.sql.begin(async (tx) => {
      const [d] = await tx<{ payload: string; attempts: number }[]>`
        select payload, attempts from webhook_dead_letters where endpoint_id = ${endpoint.id} and shard = ${shard} and seq = ${seq.toString()} and status = 'redelivery_requested'
        for update skip locked`;
      if (!d) return;
      const result = await this.send(endpoint, eventIdOf(shard, seq), d.payload);
      if (result.ok) await tx`update webhook_dead_letters set status = 'redelivered', redelivered_at_ms = ${this.now()} where endpoint_id = ${endpoint.id} and shard = ${shard} and seq = ${seq.toString()}`;
      else await tx`update webhook_dead_letters set status = 'dead', attempts = attempts + 1, last_error = ${result.error}, dead_at_ms = ${this.now()} where endpoint_id = ${endpoint.id} and shard = ${shard} and seq = ${seq.toString()}`;
    });
  }
}
