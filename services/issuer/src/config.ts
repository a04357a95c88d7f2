/** Issuer configuration from the environment. */
import { z } from 'zod';
import { databaseEnvShape } from '@cbdc/db/topology';
import { parseEnv } from '@cbdc/shared/config';
import { AUDIENCE_PATTERN, DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { checkDualControlPolicy, type DualControlPolicy } from '@cbdc/shared/dual-control';
import { checkLimits, LIMITS, type Limits } from '@cbdc/shared/limits';
import { redisEnvShape, redisTargetOf, type RedisTarget } from '@cbdc/shared/redis';
import { parseShardDatabases, type ShardGroupSpec } from '@cbdc/shared/topology';

export const issuerEnvSchema = z.object({
  ...databaseEnvShape,
  ...redisEnvShape,
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .default('cbdc'),
  /** The environment id every signed request must name (docs/api.md). */
  CBDC_AUDIENCE: z.string().regex(AUDIENCE_PATTERN, { error: 'CBDC_AUDIENCE must be 1 to 63 characters of a-z 0-9 . -' }).default(DEFAULT_AUDIENCE),
  SETTLEMENT_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
  ISSUER_SIGNING_KEY: z.string({ error: 'ISSUER_SIGNING_KEY is required (64 hex digits; "npm start" generates dev keys in .cbdc/)' }).regex(/^[0-9a-f]{64}$/, { error: 'ISSUER_SIGNING_KEY must be 64 lowercase hex digits' }),
  /** Operators to register at start if absent: "alice:<public key hex>,bob:<public key hex>". */
  ISSUER_BOOTSTRAP_OPERATORS: z
    .string()
    .regex(/^([a-z][a-z0-9-]{1,31}:[0-9a-f]{64})(,[a-z][a-z0-9-]{1,31}:[0-9a-f]{64})*$/, { error: 'ISSUER_BOOTSTRAP_OPERATORS must be "id:publickeyhex,id:publickeyhex"' })
    .optional(),
  /** A mint, retire, reserve deposit or withdrawal above this many fen takes effect only after a second operator approves. */
  ISSUER_DUAL_CONTROL_THRESHOLD_MINOR: z
    .string()
    .regex(/^\d{1,19}$/)
    .default('100000000'),
  /** What one operator may move alone per kind over the window (default: the threshold). */
  ISSUER_DUAL_CONTROL_OPERATOR_WINDOW_MAX_MINOR: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional(),
  /** What may be moved for one bank per kind over the window on one operator's authority (default: the threshold). */
  ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional(),
  ISSUER_DUAL_CONTROL_WINDOW_MS: z.coerce.number().int().min(1).default(LIMITS.dualControlWindowMs),
  /** How long a pending action can be approved. */
  ISSUER_APPROVAL_TTL_MS: z.coerce.number().int().min(1).default(LIMITS.approvalTtlMs),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long an Idempotency-Key and its answer are kept (then pruned; the key is new again). */
  IDEMPOTENCY_KEY_RETENTION_MS: z.coerce.number().int().positive().default(LIMITS.idempotencyKeyRetentionMs),
  OPERATOR_REQUESTS_PER_SECOND_MAX: z.coerce.number().int().positive().default(LIMITS.operatorRequestsPerSecondMax),
  CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX: z.coerce.number().int().positive().default(LIMITS.clientIpAuthFailuresPerSecondMax),
});

export interface IssuerConfig {
  databaseUrl: string;
  /** The shard groups' databases (SHARD_DATABASES; one group in DATABASE_URL when unset). */
  shardGroups: ShardGroupSpec[];
  /** Redis, one server or a cluster (REDIS_URL or REDIS_CLUSTER_NODES, with REDIS_USERNAME and REDIS_PASSWORD). */
  redis: RedisTarget;
  queuePrefix: string;
  audience: string;
  shardCount: number;
  signingSeed: Buffer;
  bootstrapOperators: Array<{ id: string; publicKey: Buffer }>;
  dualControl: DualControlPolicy;
  host: string;
  port: number;
  logLevel: string;
  limits: Limits;
}

export function loadIssuerConfig(env: Record<string, string | undefined> = process.env): IssuerConfig {
  const e = parseEnv(issuerEnvSchema, env);
  const limits: Limits = {
    ...LIMITS,
    idempotencyKeyRetentionMs: e.IDEMPOTENCY_KEY_RETENTION_MS,
    operatorRequestsPerSecondMax: e.OPERATOR_REQUESTS_PER_SECOND_MAX,
    clientIpAuthFailuresPerSecondMax: e.CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX,
  };
  checkLimits(limits);
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    shardGroups: parseShardDatabasesOf(e),
    redis: redisTargetOf(e),
    queuePrefix: e.QUEUE_PREFIX,
    audience: e.CBDC_AUDIENCE,
    shardCount: e.SETTLEMENT_SHARDS,
    signingSeed: Buffer.from(e.ISSUER_SIGNING_KEY, 'hex'),
    bootstrapOperators: (e.ISSUER_BOOTSTRAP_OPERATORS ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const [id, key] = pair.split(':');
        return { id, publicKey: Buffer.from(key, 'hex') };
      }),
    dualControl: dualControlOf(e),
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    limits: Object.freeze(limits),
  });
}

/** The shard groups; a bad SHARD_DATABASES throws a message naming the variable and the rule. */
function parseShardDatabasesOf(e: z.output<typeof issuerEnvSchema>): ShardGroupSpec[] {
  return parseShardDatabases(e.SHARD_DATABASES, e.SETTLEMENT_SHARDS, e.DATABASE_URL);
}

function dualControlOf(e: z.output<typeof issuerEnvSchema>): DualControlPolicy {
  const threshold = BigInt(e.ISSUER_DUAL_CONTROL_THRESHOLD_MINOR);
  const policy = Object.freeze({
    singleActionMaxMinor: threshold,
    operatorWindowMaxMinor: e.ISSUER_DUAL_CONTROL_OPERATOR_WINDOW_MAX_MINOR === undefined ? threshold : BigInt(e.ISSUER_DUAL_CONTROL_OPERATOR_WINDOW_MAX_MINOR),
    bankWindowMaxMinor: e.ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR === undefined ? threshold : BigInt(e.ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR),
    windowMs: e.ISSUER_DUAL_CONTROL_WINDOW_MS,
    approvalTtlMs: e.ISSUER_APPROVAL_TTL_MS,
  });
  checkDualControlPolicy(policy);
  return policy;
}

/** The default dual-control policy for a threshold (tests and embedders): windows as long as LIMITS says. */
export function dualControlPolicy(thresholdMinor: bigint, overrides: Partial<DualControlPolicy> = {}): DualControlPolicy {
  const policy = { singleActionMaxMinor: thresholdMinor, operatorWindowMaxMinor: thresholdMinor, bankWindowMaxMinor: thresholdMinor, windowMs: LIMITS.dualControlWindowMs, approvalTtlMs: LIMITS.approvalTtlMs, ...overrides };
  checkDualControlPolicy(policy);
  return Object.freeze(policy);
}
