/** Gateway configuration from the environment; limits default to @cbdc/shared/limits. */
import { hostname } from 'node:os';
import { z } from 'zod';
import { databaseEnvShape } from '@cbdc/db/topology';
import { editPostgresUrl } from '@cbdc/db/postgres-url';
import { parseEnv } from '@cbdc/shared/config';
import { AUDIENCE_PATTERN, DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { checkLimits, LIMITS, type Limits } from '@cbdc/shared/limits';
import { redisEnvShape, redisTargetOf, type RedisTarget } from '@cbdc/shared/redis';
import { parseShardDatabases, type ShardGroupSpec } from '@cbdc/shared/topology';
import { webhookAllowedHostsSchema } from '@cbdc/shared/webhooks';

const positiveInt = z.coerce.number().int().positive();

export const gatewayEnvSchema = z.object({
  ...databaseEnvShape,
  ...redisEnvShape,
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .default('cbdc'),
  /** The environment id every signed request must name (docs/api.md). */
  CBDC_AUDIENCE: z.string().regex(AUDIENCE_PATTERN, { error: 'CBDC_AUDIENCE must be 1 to 63 characters of a-z 0-9 . -' }).default(DEFAULT_AUDIENCE),
  SETTLEMENT_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
  /** Ed25519 seed of this gateway's job attestation key; settlement trusts its public key under GATEWAY_KEY_ID. */
  GATEWAY_ATTESTATION_KEY: z.string({ error: 'GATEWAY_ATTESTATION_KEY is required (64 hex digits; "npm start" generates dev keys in .cbdc/)' }).regex(/^[0-9a-f]{64}$/, { error: 'GATEWAY_ATTESTATION_KEY must be 64 lowercase hex digits' }),
  GATEWAY_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'GATEWAY_KEY_ID must be 1 to 64 characters of A-Z a-z 0-9 _ . -' })
    .default('gateway'),
  GATEWAY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default(`${hostname()}-${process.pid}`),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  /** Processes serving the port (node:cluster): one per core lets verification use every core. Rate limits are shared through Redis; the other limits apply per process. */
  GATEWAY_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRANSFERS_PER_REQUEST_MAX: positiveInt.default(LIMITS.transfersPerRequestMax),
  BATCH_TRANSFERS_MAX: positiveInt.default(LIMITS.batchTransfersMax),
  BATCH_LINGER_MS: positiveInt.default(LIMITS.batchLingerMs),
  SETTLE_WAIT_MS: positiveInt.default(LIMITS.settleWaitMs),
  QUEUE_JOBS_WAITING_MAX: positiveInt.default(LIMITS.queueJobsWaitingMax),
  GATEWAY_TRANSFERS_IN_FLIGHT_MAX: positiveInt.default(LIMITS.gatewayTransfersInFlightMax),
  BANK_REQUESTS_PER_SECOND_MAX: positiveInt.default(LIMITS.bankRequestsPerSecondMax),
  /** How long an Idempotency-Key and its answer are kept (then pruned; the key is new again). */
  IDEMPOTENCY_KEY_RETENTION_MS: positiveInt.default(LIMITS.idempotencyKeyRetentionMs),
  BANK_TRANSFERS_PER_SECOND_MAX: positiveInt.default(LIMITS.bankTransfersPerSecondMax),
  CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX: positiveInt.default(LIMITS.clientIpAuthFailuresPerSecondMax),
  /** The public key (X25519, hex) of the webhooks service's WEBHOOK_SEALING_KEY: endpoint secrets are stored sealed to it. Unset: endpoints cannot be created. */
  WEBHOOK_SEALING_PUBLIC_KEY: z
    .string()
    .regex(/^[0-9a-f]{64}$/, { error: 'WEBHOOK_SEALING_PUBLIC_KEY must be 64 lowercase hex digits' })
    .optional(),
  /** Hosts webhook endpoints may name over http and at private addresses, comma-separated (for tests and local receivers only). */
  WEBHOOK_ALLOWED_HOSTS: webhookAllowedHostsSchema,
  /** How far behind this clock reconciliation listings stop: above twice settlement's SETTLE_COMMIT_DEADLINE_MS plus the hosts' clock difference. */
  ENTRIES_SETTLED_LAG_MS: positiveInt.default(LIMITS.entriesSettledLagMs),
});

export interface GatewayConfig {
  databaseUrl: string;
  /** Redis, one server or a cluster (REDIS_URL or REDIS_CLUSTER_NODES, with REDIS_USERNAME and REDIS_PASSWORD). */
  redis: RedisTarget;
  /** The shard groups' databases (every shard in `databaseUrl` when SHARD_DATABASES is unset). */
  shardGroups: ShardGroupSpec[];
  queuePrefix: string;
  audience: string;
  shardCount: number;
  attestationKey: Buffer;
  keyId: string;
  gatewayId: string;
  host: string;
  port: number;
  logLevel: string;
  processes: number;
  limits: Limits;
  webhooks: { sealingPublicKey: Buffer | null; allowedHosts: string[] };
}

/** `url` with the user and password of `from` when it names no user itself. */
function withUserOf(url: string, from: string): string {
  // Through editPostgresUrl: a URL may list several hosts (a primary and its standby), which `new URL` refuses.
  let user = { username: '', password: '' };
  editPostgresUrl(from, (f) => {
    user = { username: f.username, password: f.password };
  });
  return editPostgresUrl(url, (u) => {
    if (url === from || u.username !== '') return;
    u.username = user.username;
    u.password = user.password;
  });
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const e = parseEnv(gatewayEnvSchema, env);
  const limits: Limits = {
    ...LIMITS,
    transfersPerRequestMax: e.TRANSFERS_PER_REQUEST_MAX,
    batchTransfersMax: e.BATCH_TRANSFERS_MAX,
    batchLingerMs: e.BATCH_LINGER_MS,
    settleWaitMs: e.SETTLE_WAIT_MS,
    queueJobsWaitingMax: e.QUEUE_JOBS_WAITING_MAX,
    gatewayTransfersInFlightMax: e.GATEWAY_TRANSFERS_IN_FLIGHT_MAX,
    bankRequestsPerSecondMax: e.BANK_REQUESTS_PER_SECOND_MAX,
    idempotencyKeyRetentionMs: e.IDEMPOTENCY_KEY_RETENTION_MS,
    bankTransfersPerSecondMax: e.BANK_TRANSFERS_PER_SECOND_MAX,
    clientIpAuthFailuresPerSecondMax: e.CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX,
    entriesSettledLagMs: e.ENTRIES_SETTLED_LAG_MS,
  };
  checkLimits(limits);
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    redis: redisTargetOf(e),
    shardGroups: parseShardDatabases(e.SHARD_DATABASES, e.SETTLEMENT_SHARDS, e.DATABASE_URL).map((g) => ({ ...g, url: withUserOf(g.url, e.DATABASE_URL) })),
    queuePrefix: e.QUEUE_PREFIX,
    audience: e.CBDC_AUDIENCE,
    shardCount: e.SETTLEMENT_SHARDS,
    attestationKey: Buffer.from(e.GATEWAY_ATTESTATION_KEY, 'hex'),
    keyId: e.GATEWAY_KEY_ID,
    gatewayId: e.GATEWAY_ID,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    processes: e.GATEWAY_PROCESSES,
    limits: Object.freeze(limits),
    webhooks: { sealingPublicKey: e.WEBHOOK_SEALING_PUBLIC_KEY ? Buffer.from(e.WEBHOOK_SEALING_PUBLIC_KEY, 'hex') : null, allowedHosts: e.WEBHOOK_ALLOWED_HOSTS },
  });
}
