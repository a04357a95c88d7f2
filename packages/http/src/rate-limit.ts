/**
 * Rate limits that run before the expensive work and hold across processes (issue 12, finding
 * 10). Three budgets per window, counted in Redis so that every process of a service (gateway
 * processes behind one port, gateways behind a load balancer) shares them:
 *
 * - requests per claimed key id, counted in `onRequest`, before the body is read, the request
 *   signature verified or the schema checked: bad signatures and invalid bodies count too;
 * - failed authentications per client IP, counted when a request is answered 401 and checked in
 *   `onRequest`: junk from one source is refused before it costs a verification, without
 *   charging the banks whose key ids it claims (a source over this budget no longer reaches the
 *   key id's counter), and without limiting well-behaved traffic that shares an IP;
 * - work per authenticated caller (for the gateway: the transfers whose customer signatures it
 *   must verify), counted after the request signature verifies and before validation and the
 *   handler: a batch of 1,000 transfers costs 1,000, whether its signatures verify or not.
 *
 * Anyone who can reach the service can spend a bank's request budget by claiming its key id from
 * many addresses; the per-IP budget bounds what each address can spend. Banks reach the gateway
 * over private links, where that exposure is small; the budgets are per window of `windowMs`,
 * starting at a bucket's first request (Redis PEXPIRE), so a lockout lasts at most one window.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RedisConnection } from '@cbdc/shared/redis';
import { ApiError } from '@cbdc/shared/problem';
import { AUTH_HEADERS } from '@cbdc/shared/request-auth';
import { KEY_ID_PATTERN } from './signed-auth.js';

export interface RateLimitOptions {
  redis: RedisConnection;
  /** Key prefix of this service's counters, e.g. "cbdc:gateway". */
  prefix: string;
  windowMs: number;
  /** Requests per window per claimed key id (authenticated or not). */
  keyRequestsMax: number;
  /** Failed authentications per window per client IP, past which its requests are refused unread. */
  ipFailuresMax: number;
  /** Work a request carries (e.g. transfers to verify), counted per authenticated caller. */
  work?: { of(req: FastifyRequest): number; max: number; field: string; rule: string };
}

/** A bucket's count after the charge, its limit, and the time left in its window. */
export interface BucketState {
  count: number;
  limit: number;
  resetMs: number;
}

/**
 * Charges `weight` to KEYS[2] unless KEYS[1] (the client's failed authentications) is already at
 * ARGV[2]; returns {failures, failuresTtl, count, countTtl} (count -1 when not charged).
 */
const CHARGE_SCRIPT = `
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local failuresTtl = redis.call('PTTL', KEYS[1])
if failures >= tonumber(ARGV[2]) then return {failures, failuresTtl, -1, 0} end
if KEYS[2] == KEYS[1] then return {failures, failuresTtl, -1, 0} end
local count = redis.call('INCRBY', KEYS[2], ARGV[3])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {failures, failuresTtl, count, ttl}
`;

/** Counts one failed authentication of a client. */
const FAILURE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

/** The RateLimit header fields (IETF httpapi draft) and, when refused, Retry-After, in whole seconds. */
export function rateLimitHeaders(b: BucketState): Record<string, string> {
  const resetSeconds = String(Math.max(1, Math.ceil(b.resetMs / 1000)));
  const headers: Record<string, string> = { 'ratelimit-limit': String(b.limit), 'ratelimit-remaining': String(Math.max(0, b.limit - b.count)), 'ratelimit-reset': resetSeconds };
  if (b.count > b.limit) headers['retry-after'] = resetSeconds;
  return headers;
}

function refuse(b: BucketState, field: string, rule: string, what: string, windowMs: number): ApiError {
  return new ApiError('rate_limited', `at most ${b.limit} ${what} per ${windowMs} ms; retry after the indicated time`, {
    headers: rateLimitHeaders(b),
    errors: [{ field, rule, message: `at most ${b.limit} per ${windowMs} ms` }],
  });
}

function claimedKeyId(req: FastifyRequest): string | null {
  const value = req.headers[AUTH_HEADERS.keyId];
  return typeof value === 'string' && KEY_ID_PATTERN.test(value) ? value : null;
}

/** Installs the three budgets on an app; routes with `config: { public: true }` are not counted. */
export function installRateLimits(app: FastifyInstance, o: RateLimitOptions): void {
  // One hash tag: a script's keys must share a Redis Cluster slot.
  const key = (kind: string, id: string) => `{${o.prefix}-rate}:${kind}:${id}`;
  const counted = (req: FastifyRequest) => req.routeOptions.config?.public !== true;
  const charge = async (req: FastifyRequest, bucket: string, weight: number) => {
    const failures = key('ip-failures', req.ip);
    const [f, fTtl, count, ttl] = (await o.redis.eval(CHARGE_SCRIPT, 2, failures, bucket, o.windowMs, o.ipFailuresMax, weight)) as number[];
    return { failures: { count: f, limit: o.ipFailuresMax, resetMs: fTtl > 0 ? fTtl : o.windowMs }, charged: count < 0 ? null : { count, resetMs: ttl } };
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!counted(req)) return;
    const keyId = claimedKeyId(req);
    // Without a key id of the right form only the client's failures are checked (KEYS[2] = KEYS[1]).
    const { failures, charged } = await charge(req, keyId ? key('key', keyId) : key('ip-failures', req.ip), 1);
    if (failures.count >= o.ipFailuresMax) throw refuse({ ...failures, count: failures.count + 1 }, 'client', 'failed_authentications_per_window', 'failed authentications from one address', o.windowMs);
    if (!charged) return;
    const b = { count: charged.count, limit: o.keyRequestsMax, resetMs: charged.resetMs };
    if (b.count > b.limit) throw refuse(b, `header/${AUTH_HEADERS.keyId}`, 'requests_per_window', 'requests per key', o.windowMs);
    reply.headers(rateLimitHeaders(b));
  });

  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    if (reply.statusCode !== 401 || !counted(req)) return;
    await o.redis.eval(FAILURE_SCRIPT, 1, key('ip-failures', req.ip), o.windowMs).catch(() => {});
  });

  const work = o.work;
  if (!work) return;
  // Added after the signed-request hook, so it runs once the caller is authenticated and before
  // validation and the handler, where the work is done.
  app.addHook('preValidation', async (req: FastifyRequest) => {
    if (!counted(req) || !req.principal) return;
    const weight = work.of(req);
    if (weight <= 0) return;
    const { charged } = await charge(req, key('work', req.principal), weight);
    if (charged && charged.count > work.max) throw refuse({ count: charged.count, limit: work.max, resetMs: charged.resetMs }, work.field, work.rule, 'units of work', o.windowMs);
  });
}
