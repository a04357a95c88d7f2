/**
 * Idempotency-Key for POSTs that are not idempotent by content. The first request with a key
 * claims it (a row inserted before the work); a retry with the same key and body gets the stored
 * answer; the same key with another body is refused; a retry while the first is still running
 * gets 409. Keys are scoped per caller, so two banks may use the same key value independently.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Sql } from '@cbdc/db/connect';
import { sha256 } from '@cbdc/shared/crypto';
import { ApiError } from '@cbdc/shared/problem';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;

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

/**
 * Runs `work` at most once per (caller, key). `work` returns the status and body to send and
 * store. If `work` throws an ApiError (a 4xx that changed nothing), the key is released.
 */
export async function runIdempotent(
  sql: Sql,
  req: FastifyRequest,
  reply: FastifyReply,
  key: string | null,
  work: () => Promise<{ status: number; body: unknown }>,
): Promise<unknown> {
  if (key === null) {
    const { status, body } = await work();
    return reply.code(status).send(body);
  }
  const scope = req.principal;
  const requestHash = sha256(`${req.method}\n${req.url}\n`).toString('hex') + sha256(req.rawBody ?? Buffer.alloc(0)).toString('hex');
  const hashBytes = sha256(requestHash);
  const claimed = await sql`insert into idempotency_keys (scope, key, request_hash) values (${scope}, ${key}, ${hashBytes}) on conflict do nothing returning key`;
  if (claimed.length === 0) {
    const [row] = await sql<{ request_hash: Buffer; status_code: number | null; response: unknown }[]>`select request_hash, status_code, response from idempotency_keys where scope = ${scope} and key = ${key}`;
    if (!row) throw new ApiError('idempotency_key_in_use', 'retry shortly');
    if (!row.request_hash.equals(hashBytes)) throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request', { errors: [{ field: 'header/idempotency-key', rule: 'same_request', message: 'was used with a different method, path or body' }] });
    if (row.status_code === null) throw new ApiError('idempotency_key_in_use', 'the first request with this key is still being processed', { headers: { 'retry-after': '1' } });
    reply.header('idempotent-replayed', 'true');
    return reply.code(row.status_code).send(row.response);
  }
  try {
    const { status, body } = await work();
    await sql`update idempotency_keys set status_code = ${status}, response = ${sql.json(body as never)} where scope = ${scope} and key = ${key}`;
    return reply.code(status).send(body);
  } catch (error) {
    await sql`delete from idempotency_keys where scope = ${scope} and key = ${key} and status_code is null`;
    throw error;
  }
}
