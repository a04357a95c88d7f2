/** Configuration of the webhook delivery service, from the environment; bounds default to @cbdc/shared/limits. */
import { z } from 'zod';
import { databaseEnvShape } from '@cbdc/db/topology';
import { parseEnv } from '@cbdc/shared/config';
import { checkLimits, LIMITS, type Limits } from '@cbdc/shared/limits';
import { parseShardDatabases } from '@cbdc/shared/topology';
import { webhookAllowedHostsSchema } from '@cbdc/shared/webhooks';

const positiveInt = z.coerce.number().int().positive();

export const webhooksEnvSchema = z.object({
  ...databaseEnvShape,
  SETTLEMENT_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
  /** Seed (32 bytes, hex) of the X25519 key endpoint secrets are sealed to; the gateway gets its public key (WEBHOOK_SEALING_PUBLIC_KEY). */
  WEBHOOK_SEALING_KEY: z.string({ error: 'WEBHOOK_SEALING_KEY is required (64 hex digits; "npm start" generates a dev key in .cbdc/)' }).regex(/^[0-9a-f]{64}$/, { error: 'WEBHOOK_SEALING_KEY must be 64 lowercase hex digits' }),
  /** Hosts that may be reached over http and at private addresses (tests and local receivers only). */
  WEBHOOK_ALLOWED_HOSTS: webhookAllowedHostsSchema,
  WEBHOOK_DELIVERY_TIMEOUT_MS: positiveInt.default(LIMITS.webhookDeliveryTimeoutMs),
  WEBHOOK_ATTEMPTS_MAX: positiveInt.default(LIMITS.webhookAttemptsMax),
  WEBHOOK_RETRY_AGE_MS_MAX: positiveInt.default(LIMITS.webhookRetryAgeMsMax),
  WEBHOOK_RETRY_BASE_MS: positiveInt.default(LIMITS.webhookRetryBaseMs),
  WEBHOOK_RETRY_DELAY_MS_MAX: positiveInt.default(LIMITS.webhookRetryDelayMsMax),
  WEBHOOK_DELIVERIES_IN_FLIGHT_MAX: positiveInt.default(LIMITS.webhookDeliveriesInFlightMax),
  WEBHOOK_DELIVERIES_PER_ENDPOINT_MAX: positiveInt.default(LIMITS.webhookDeliveriesPerEndpointMax),
  /** How long events are kept; older ones are pruned by this service (the feed's replay horizon). */
  EVENT_RETENTION_MS: positiveInt.default(LIMITS.eventRetentionMs),
  /** How often the service looks for events to deliver. */
  WEBHOOK_POLL_INTERVAL_MS: positiveInt.default(250),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type WebhooksConfig = ReturnType<typeof loadWebhooksConfig>;

export function loadWebhooksConfig(env: Record<string, string | undefined> = process.env) {
  const e = parseEnv(webhooksEnvSchema, env);
  const limits: Limits = {
    ...LIMITS,
    webhookDeliveryTimeoutMs: e.WEBHOOK_DELIVERY_TIMEOUT_MS,
    webhookAttemptsMax: e.WEBHOOK_ATTEMPTS_MAX,
    webhookRetryAgeMsMax: e.WEBHOOK_RETRY_AGE_MS_MAX,
    webhookRetryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
    webhookRetryDelayMsMax: e.WEBHOOK_RETRY_DELAY_MS_MAX,
    webhookDeliveriesInFlightMax: e.WEBHOOK_DELIVERIES_IN_FLIGHT_MAX,
    webhookDeliveriesPerEndpointMax: e.WEBHOOK_DELIVERIES_PER_ENDPOINT_MAX,
    eventRetentionMs: e.EVENT_RETENTION_MS,
  };
  checkLimits(limits);
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    shardGroups: parseShardDatabases(e.SHARD_DATABASES, e.SETTLEMENT_SHARDS, e.DATABASE_URL),
    shardCount: e.SETTLEMENT_SHARDS,
    sealingSeed: Buffer.from(e.WEBHOOK_SEALING_KEY, 'hex'),
    allowedHosts: e.WEBHOOK_ALLOWED_HOSTS,
    pollIntervalMs: e.WEBHOOK_POLL_INTERVAL_MS,
    logLevel: e.LOG_LEVEL,
    limits: Object.freeze(limits),
  });
}
