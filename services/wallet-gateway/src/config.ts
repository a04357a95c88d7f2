/** Gateway configuration from the environment; limits default to @cbdc/shared/limits. */
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_DATABASE_URL } from '@cbdc/db/connect';
import { parseEnv } from '@cbdc/shared/config';
import { checkLimits, LIMITS, type Limits } from '@cbdc/shared/limits';
import { DEFAULT_REDIS_URL } from '@cbdc/shared/redis';

const positiveInt = z.coerce.number().int().positive();

export const gatewayEnvSchema = z.object({
  DATABASE_URL: z.string().url().default(DEFAULT_DATABASE_URL),
  REDIS_URL: z.string().url().default(DEFAULT_REDIS_URL),
  QUEUE_PREFIX: z.string().regex(/^[a-z0-9-]{1,40}$/).default('cbdc'),
  SETTLEMENT_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
  GATEWAY_ATTESTATION_KEY: z.string({ error: 'GATEWAY_ATTESTATION_KEY is required (64 hex digits; "npm start" generates dev keys in .cbdc/)' }).regex(/^[0-9a-f]{64}$/, { error: 'GATEWAY_ATTESTATION_KEY must be 64 lowercase hex digits' }),
  GATEWAY_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default(`${hostname()}-${process.pid}`),
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
  BANK_TRANSFERS_PER_SECOND_MAX: positiveInt.default(LIMITS.bankTransfersPerSecondMax),
  CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX: positiveInt.default(LIMITS.clientIpAuthFailuresPerSecondMax),
});

export interface GatewayConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  shardCount: number;
  attestationKey: Buffer;
  gatewayId: string;
  host: string;
  port: number;
  logLevel: string;
  processes: number;
  limits: Limits;
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
    bankTransfersPerSecondMax: e.BANK_TRANSFERS_PER_SECOND_MAX,
    clientIpAuthFailuresPerSecondMax: e.CLIENT_IP_AUTH_FAILURES_PER_SECOND_MAX,
  };
  checkLimits(limits);
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    shardCount: e.SETTLEMENT_SHARDS,
    attestationKey: Buffer.from(e.GATEWAY_ATTESTATION_KEY, 'hex'),
    gatewayId: e.GATEWAY_ID,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    processes: e.GATEWAY_PROCESSES,
    limits: Object.freeze(limits),
  });
}
