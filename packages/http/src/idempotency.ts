/**
 * Idempotency-Key for POSTs that are not idempotent by content. A key belongs to one scope
 * (service, principal kind, principal id: a bank and an operator of the same name never share
 * one) and to the first request made with it (method, path, body): a retry of that request gets
 * the stored answer; another request with the key is refused with `idempotency_key_reused`, never
 * told that it succeeded. Keys expire after the service's retention and are pruned.
 *
 * Two ways to run the work, so that no crash can leave a key stuck:
 * - `inTransaction`: the claim, the effect and the stored answer are one Postgres transaction. A
 *   crash rolls all three back; a concurrent request with the same key waits on the claim's row
 *   and then gets the stored answer.
 * - `underLease`: for an effect that happens elsewhere and is deduplicated there (a funding,
 *   settled by settlement under an id derived from the key). The claim holds a lease; a final
 *   answer is stored, anything else releases the lease; a request that finds a lease left by a
 *   crashed process takes the key over once the lease has ended and drives the request again.
 *
 * Keys live in one database per call: the one of the effect they guard (a gateway keeps a wallet's
 * keys in the wallet's shard-group database, so that claim, effect and answer stay one
 * transaction on one server). A key is bound to its first request within that database; the
 * caller chooses the database from the request, so that a retry finds the key where it was claimed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type postgres from 'postgres';
import type { Queryable, Sql } from '@cbdc/db/connect';
import { sha256 } from '@cbdc/shared/crypto';
import { ApiError } from '@cbdc/shared/problem';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;

/** A transaction handle, as postgres.js passes it to `sql.begin`. */
export type Transaction = postgres.TransactionSql<{ bigint: bigint }>;

/** Reads and checks the Idempotency-Key header; `required` makes it mandatory. */
export function idempotencyKeyOf(req: FastifyRequest, required: boolean): string | null {
  const key = req.headers['idempotency-key'];
  if (key === undefined) {
    if (required) throw new ApiError('idempotency_key_required', undefined, { errors: [{ field: 'header/idempotency-key', rule: 'required', message: 'is required for this request' }] });
    return null;
  }
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ApiError('invalid_request', 'bad Idempotency-Key', { errors: [{ field: 'header/idempotency-key', rule: 'idempotency_key_format', message: '8 to 128 characters of A-Z a-z 0-9 _ . : -' }] });
  }
  return key;
}

/** Who a key belongs to, besides the principal's id. */
export interface IdempotencyScope {
  service: 'gateway' | 'issuer';
  principalKind: 'bank' | 'operator';
}

/** A key's stored state, as read from `idempotency_keys`. */
export interface StoredKey {
  requestHash: Buffer;
  statusCode: number | null;
  response: unknown;
  leaseExpiresAtMs: bigint | null;
  expiresAtMs: bigint;
}

/** What a request does about a key that is already stored. */
export type ExistingKeyDecision = { kind: 'replay'; status: number; body: unknown } | { kind: 'reused' } | { kind: 'in_use'; retryAfterMs: number } | { kind: 'take_over' };

/**
 * Decides, in this order: an expired key is new again (taken over, whatever it held); a key of
 * another request is refused; a stored answer is replayed; a live lease answers "in use"; a
 * released or ended lease (its owner crashed, or answered without a final outcome) is taken over.
 */
export function decideExistingKey(row: StoredKey, requestHash: Buffer, nowMs: number): ExistingKeyDecision {
  const now = BigInt(nowMs);
  if (row.expiresAtMs <= now) return { kind: 'take_over' };
  if (!row.requestHash.equals(requestHash)) return { kind: 'reused' };
  if (row.statusCode !== null) return { kind: 'replay', status: row.statusCode, body: row.response };
  if (row.leaseExpiresAtMs !== null && row.leaseExpiresAtMs > now) return { kind: 'in_use', retryAfterMs: Number(row.leaseExpiresAtMs - now) };
  return { kind: 'take_over' };
}

/** The hash a key is bound to: method, path with query, and the raw body bytes. */
export function requestHashOf(method: string, url: string, body: Uint8Array | undefined): Buffer {
  return sha256(Buffer.concat([Buffer.from(`${method.toUpperCase()}\n${url}\n`, 'utf8'), sha256(body ?? Buffer.alloc(0))]));
}

/** An answer to send (and, when final, to store). */
export interface Answer {
  status: number;
  body: unknown;
}

/** An answer of work run under a lease: stored only when `final`; otherwise the lease is released. */
export interface LeasedAnswer extends Answer {
  final: boolean;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface IdempotencyOptions {
  /** Where keys live unless a call names another database. */
  sql: Sql;
  /** Every database keys may live in, pruned by `prune` (default: `sql` alone). */
  databases?: readonly Sql[];
  scope: IdempotencyScope;
  retentionMs: number;
  leaseMs: number;
  now: () => number;
}

interface KeyRef {
  principalId: string;
  key: string;
  hash: Buffer;
}

type Claim = { kind: 'claimed'; leaseExpiresAtMs: number } | Exclude<ExistingKeyDecision, { kind: 'take_over' }>;

const reusedError = () =>
  new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request; use a new key for a new request', {
    errors: [{ field: 'header/idempotency-key', rule: 'same_request', message: 'was used with a different method, path or body' }],
  });

/** The Idempotency-Key store of one service (one scope). */
export class IdempotencyKeys {
  constructor(private readonly o: IdempotencyOptions) {}

  /**
   * Runs `work` in one transaction with the key's claim and stored answer (or alone, without a key),
   * on `on` (the database of the rows the key guards; the keys' own by default). `after`, if given,
   * runs once the transaction has committed, on the fresh and on a replayed answer alike: for work
   * whose effect continues on another server (a mint's treasury leg), it drives what is left and
   * answers with the outcome as it stands now.
   */
  async inTransaction(req: FastifyRequest, reply: FastifyReply, key: string | null, work: (tx: Transaction) => Promise<Answer>, options: { on?: Sql; after?: (answer: Answer) => Promise<Answer> } = {}): Promise<FastifyReply> {
    const { on = this.o.sql, after } = options;
    const ref = key === null ? null : this.refOf(req, key);
    const outcome = await on.begin(async (tx): Promise<{ answer: Answer; replayed: boolean }> => {
      if (ref !== null) {
        const claim = await this.claim(tx, ref);
        if (claim.kind !== 'claimed') return { answer: this.answerOfExisting(claim), replayed: true };
      }
      const answer = await work(tx);
      if (ref !== null) await this.store(tx, ref, answer);
      return { answer, replayed: false };
    });
    if (outcome.replayed) reply.header('idempotent-replayed', 'true');
    const answer = after ? await after(outcome.answer) : outcome.answer;
    return reply.code(answer.status).send(answer.body);
  }

  /**
   * Runs `work` under a lease on the key: a final answer is stored; a non-final one (pending, or
   * refused before anything was queued) or an exception releases the lease, so a retry drives
   * the request again. The key stays bound to this request either way. The key lives in `on`.
   */
  async underLease(req: FastifyRequest, reply: FastifyReply, key: string, work: () => Promise<LeasedAnswer>, on: Sql = this.o.sql): Promise<FastifyReply> {
    const ref = this.refOf(req, key);
    const claim = await on.begin((tx) => this.claim(tx, ref));
    if (claim.kind !== 'claimed') {
      const answer = this.answerOfExisting(claim);
      return reply.header('idempotent-replayed', 'true').code(answer.status).send(answer.body);
    }
    let answer: LeasedAnswer;
    try {
      answer = await work();
    } catch (error) {
      await this.releaseLease(on, ref, claim.leaseExpiresAtMs);
      throw error;
    }
    if (answer.final) await this.store(on, ref, answer);
    else await this.releaseLease(on, ref, claim.leaseExpiresAtMs);
    if (answer.headers) reply.headers(answer.headers);
    if (answer.contentType) reply.type(answer.contentType);
    return reply.code(answer.status).send(answer.body);
  }

  /**
   * Deletes up to `rowsMax` expired keys in each database; returns the most deleted in one (so that
   * a caller draining until a short batch drains every database). A database that fails (its
   * server down) does not stop the others; the first failure is thrown after them.
   */
  async prune(rowsMax: number): Promise<number> {
    const now = this.o.now();
    const runs = await Promise.allSettled(
      (this.o.databases ?? [this.o.sql]).map(async (sql) => {
        const rows = await sql`
          delete from idempotency_keys where ctid in (
            select ctid from idempotency_keys where expires_at_ms <= ${now} limit ${rowsMax})`;
        return rows.count;
      }),
    );
    const failed = runs.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return Math.max(0, ...runs.map((r) => (r.status === 'fulfilled' ? r.value : 0)));
  }

  private refOf(req: FastifyRequest, key: string): KeyRef {
    return { principalId: req.principal, key, hash: requestHashOf(req.method, req.url, req.rawBody) };
  }

  private answerOfExisting(decision: Exclude<Claim, { kind: 'claimed' }>): Answer {
    if (decision.kind === 'replay') return { status: decision.status, body: decision.body };
    if (decision.kind === 'reused') throw reusedError();
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new ApiError('idempotency_key_in_use', `the first request with this key is still being processed; retry in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
  }

  /**
   * Claims the key inside `tx`. A new key is inserted; a concurrent transaction claiming the same
   * key waits on that row until the first commits (then finds it) or rolls back (then claims it).
   * An existing key is locked and decided by `decideExistingKey`.
   */
  private async claim(tx: Transaction, ref: KeyRef): Promise<Claim> {
    const s = this.o.scope;
    const now = this.o.now();
    const lease = now + this.o.leaseMs;
    const expires = now + this.o.retentionMs;
    const inserted = await tx`
      insert into idempotency_keys (service, principal_kind, principal_id, key, request_hash, lease_expires_at_ms, created_at_ms, expires_at_ms)
      values (${s.service}, ${s.principalKind}, ${ref.principalId}, ${ref.key}, ${ref.hash}, ${lease}, ${now}, ${expires})
      on conflict do nothing returning 1`;
    if (inserted.length === 1) return { kind: 'claimed', leaseExpiresAtMs: lease };
    const [row] = await tx<{ request_hash: Buffer; status_code: number | null; response: unknown; lease_expires_at_ms: bigint | null; expires_at_ms: bigint }[]>`
      select request_hash, status_code, response, lease_expires_at_ms, expires_at_ms from idempotency_keys
      where service = ${s.service} and principal_kind = ${s.principalKind} and principal_id = ${ref.principalId} and key = ${ref.key} for update`;
    // Deleted between the insert and the select (pruned): the next attempt inserts it.
    if (!row) throw new ApiError('idempotency_key_in_use', 'retry shortly', { headers: { 'retry-after': '1' } });
    const decision = decideExistingKey({ requestHash: row.request_hash, statusCode: row.status_code, response: row.response, leaseExpiresAtMs: row.lease_expires_at_ms, expiresAtMs: row.expires_at_ms }, ref.hash, now);
    if (decision.kind !== 'take_over') return decision;
    await tx`
      update idempotency_keys set request_hash = ${ref.hash}, status_code = null, response = null, lease_expires_at_ms = ${lease}, created_at_ms = ${now}, expires_at_ms = ${expires}
      where service = ${s.service} and principal_kind = ${s.principalKind} and principal_id = ${ref.principalId} and key = ${ref.key}`;
    return { kind: 'claimed', leaseExpiresAtMs: lease };
  }

  /** Stores a final answer (never over another final answer: a slower owner whose lease ended loses). */
  private async store(q: Queryable, ref: KeyRef, answer: Answer): Promise<void> {
    const s = this.o.scope;
    await q`
      update idempotency_keys set status_code = ${answer.status}, response = ${this.o.sql.json(answer.body as never)}, lease_expires_at_ms = null
      where service = ${s.service} and principal_kind = ${s.principalKind} and principal_id = ${ref.principalId} and key = ${ref.key}
        and request_hash = ${ref.hash} and status_code is null`;
  }

  /** Ends this request's lease at once, unless another request has taken the key over since. */
  private async releaseLease(on: Sql, ref: KeyRef, leaseExpiresAtMs: number): Promise<void> {
    const s = this.o.scope;
    await on`
      update idempotency_keys set lease_expires_at_ms = null
      where service = ${s.service} and principal_kind = ${s.principalKind} and principal_id = ${ref.principalId} and key = ${ref.key}
        and status_code is null and lease_expires_at_ms = ${leaseExpiresAtMs}`;
  }
}
