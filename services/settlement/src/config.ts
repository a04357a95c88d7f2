/** Settlement configuration from the environment. */
import { z } from 'zod';
import { databaseEnvShape } from '@cbdc/db/topology';
import { parseEnv } from '@cbdc/shared/config';
import { ed25519PublicKeyCheck } from '@cbdc/shared/crypto';
import { AUDIENCE_PATTERN, DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { LIMITS } from '@cbdc/shared/limits';
import { parseShardDatabases } from '@cbdc/shared/topology';
import { redisEnvShape, redisTargetOf } from '@cbdc/shared/redis';

export const settlementEnvSchema = z.object({
  ...databaseEnvShape,
  ...redisEnvShape,
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .default('cbdc'),
  SETTLEMENT_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
  /** Which shards this process serves, e.g. "0,1"; all by default. */
  SETTLEMENT_SHARD_IDS: z
    .string()
    .regex(/^\d+(,\d+)*$/)
    .optional(),
  /**
   * Ed25519 seed of each shard this process serves: "shard:seed,shard:seed", or "seed0,seed1,..."
   * in shard order where the shards this process does not serve may be left empty ("seed0,,"), so
   * that a settlement host holds only its own shards' keys.
   */
  SETTLEMENT_SHARD_KEYS: z
    .string({ error: 'SETTLEMENT_SHARD_KEYS is required ("shard:seed,..." or comma-separated 64-hex-digit seeds, one per shard)' })
    .regex(/^((\d{1,4}:)?[0-9a-f]{64})?(,((\d{1,4}:)?[0-9a-f]{64})?)*$/, { error: 'SETTLEMENT_SHARD_KEYS must be "shard:seed,..." or comma-separated 64-hex-digit seeds' }),
  /**
   * The gateways whose jobs this service opens, "keyid:publickeyhex,..." (each gateway's
   * GATEWAY_KEY_ID and the public key of its GATEWAY_ATTESTATION_KEY). Remove one to revoke it.
   */
  GATEWAY_ATTESTATION_KEYS: z
    .string({ error: 'GATEWAY_ATTESTATION_KEYS is required ("keyid:publickeyhex,..."; "npm start" generates dev keys in .cbdc/)' })
    .regex(/^[A-Za-z0-9_.-]{1,64}:[0-9a-f]{64}(,[A-Za-z0-9_.-]{1,64}:[0-9a-f]{64})*$/, { error: 'GATEWAY_ATTESTATION_KEYS must be "keyid:publickeyhex,keyid:publickeyhex"' }),
  /** The environment id banks sign into their requests (their fundings' authority names it). */
  CBDC_AUDIENCE: z.string().regex(AUDIENCE_PATTERN, { error: 'CBDC_AUDIENCE must be 1 to 63 characters of a-z 0-9 . -' }).default(DEFAULT_AUDIENCE),
  SETTLE_JOB_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** A settlement transaction that has neither committed nor failed after this long ends the process. */
  SETTLE_COMMIT_DEADLINE_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  /** Fetching jobs or marking them completed that Redis leaves unanswered this long ends the process. */
  SETTLE_REDIS_DEADLINE_MS: z.coerce.number().int().min(5000).max(600_000).default(20_000),
  /** Wallets each shard's worker holds in memory between batches (0 turns holding off). */
  SETTLE_WALLETS_HELD_MAX: z.coerce.number().int().min(0).max(50_000_000).default(LIMITS.settleWalletsHeldMax),
  /** Whether batches record the banks' events (docs/events.md). Off only to measure their cost (npm run bench -- --events on,off): banks then miss events. */
  SETTLE_EVENTS: z.enum(['on', 'off']).default('on'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type SettlementConfig = ReturnType<typeof loadSettlementConfig>;

export function loadSettlementConfig(env: Record<string, string | undefined> = process.env) {
  const raw = parseEnv(settlementEnvSchema, env);
  const shardSeeds = parseShardKeys(raw.SETTLEMENT_SHARD_KEYS, raw.SETTLEMENT_SHARDS);
  const shardIds = raw.SETTLEMENT_SHARD_IDS ? raw.SETTLEMENT_SHARD_IDS.split(',').map(Number) : [...shardSeeds.keys()].sort((a, b) => a - b);
  for (const id of shardIds) {
    if (id >= raw.SETTLEMENT_SHARDS) throw new Error(`invalid configuration: SETTLEMENT_SHARD_IDS names shard ${id} of ${raw.SETTLEMENT_SHARDS}`);
    if (!shardSeeds.has(id)) throw new Error(`invalid configuration: SETTLEMENT_SHARD_KEYS has no key for shard ${id}, which this process serves`);
  }
  const shardGroups = parseShardDatabases(raw.SHARD_DATABASES, raw.SETTLEMENT_SHARDS, raw.DATABASE_URL);
  const gatewayKeys = new Map(raw.GATEWAY_ATTESTATION_KEYS.split(',').map((pair) => [pair.split(':')[0], Buffer.from(pair.split(':')[1], 'hex')] as const));
  // A weak key (small order, not canonical) would let anyone attest jobs as that gateway.
  for (const [id, key] of gatewayKeys) {
    const problem = ed25519PublicKeyCheck(key);
    if (problem) throw new Error(`invalid configuration: GATEWAY_ATTESTATION_KEYS: the key of ${id} is refused (${problem.rule})`);
  }
  return Object.freeze({ ...raw, redis: redisTargetOf(raw), shardSeeds, shardIds, gatewayKeys, shardGroups });
}

/** The seeds of SETTLEMENT_SHARD_KEYS by shard: "shard:seed" pairs, or one seed per shard in order. */
export function parseShardKeys(text: string, shardCount: number): Map<number, Buffer> {
  const parts = text.split(',');
  const paired = parts.length > 0 && parts.every((p) => p.includes(':'));
  if (!paired && parts.some((p) => p.includes(':'))) throw new Error('invalid configuration: SETTLEMENT_SHARD_KEYS mixes "shard:seed" pairs and bare seeds');
  if (!paired && parts.length !== shardCount) throw new Error(`invalid configuration: SETTLEMENT_SHARD_KEYS has ${parts.length} keys for SETTLEMENT_SHARDS=${shardCount}`);
  const seeds = new Map<number, Buffer>();
  parts.forEach((part, i) => {
    if (part === '') return; // a shard this process does not serve
    const [shard, seed] = paired ? [Number(part.split(':')[0]), part.split(':')[1]] : [i, part];
    if (shard >= shardCount) throw new Error(`invalid configuration: SETTLEMENT_SHARD_KEYS names shard ${shard} of ${shardCount}`);
    if (seeds.has(shard)) throw new Error(`invalid configuration: SETTLEMENT_SHARD_KEYS names shard ${shard} twice`);
    seeds.set(shard, Buffer.from(seed, 'hex'));
  });
  if (seeds.size === 0) throw new Error('invalid configuration: SETTLEMENT_SHARD_KEYS is required (the seed of every shard this process serves)');
  return seeds;
}
