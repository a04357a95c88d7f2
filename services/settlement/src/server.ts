/** The settlement process: reads config, starts one worker per served shard, shuts down gracefully. */
import closeWithGrace from 'close-with-grace';
import pino from 'pino';
import { assertPostgresReachable } from '@cbdc/db/connect';
import { connectTopology } from '@cbdc/db/topology';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { assertRedisReachable } from '@cbdc/shared/redis';
import { loadSettlementConfig } from './config.js';
import { startShardWorker, type ShardWorker } from './worker.js';

async function main(): Promise<void> {
  const config = loadSettlementConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'settlement' });
  const topology = connectTopology(config.DATABASE_URL, config.shardGroups, { max: 2 * config.shardIds.length + 1, applicationName: 'cbdc-settlement' });
  await assertPostgresReachable(topology.central, config.DATABASE_URL);
  for (const shard of config.shardIds) {
    const group = topology.groupOf(shard);
    await assertPostgresReachable(group.sql, group.url);
    await assertShardCount(group.sql, config.SETTLEMENT_SHARDS);
  }
  await assertRedisReachable(config.redis);
  const workers: ShardWorker[] = [];
  for (const shard of config.shardIds) {
    workers.push(
      await startShardWorker({
        sql: topology.ofShard(shard),
        central: topology.central,
        sqlOfShard: (other) => (other < config.SETTLEMENT_SHARDS ? topology.ofShard(other) : topology.central),
        redis: config.redis,
        queuePrefix: config.QUEUE_PREFIX,
        shard,
        shardCount: config.SETTLEMENT_SHARDS,
        shardSeed: config.shardSeeds.get(shard)!,
        gatewayKeys: config.gatewayKeys,
        audience: config.CBDC_AUDIENCE,
        lockDurationMs: config.SETTLE_JOB_LOCK_MS,
        commitDeadlineMs: config.SETTLE_COMMIT_DEADLINE_MS,
        redisDeadlineMs: config.SETTLE_REDIS_DEADLINE_MS,
        walletsHeldMax: config.SETTLE_WALLETS_HELD_MAX,
        events: config.SETTLE_EVENTS === 'on',
        log,
        // Exit without waiting on the wedged transaction or Redis connection; the supervisor (systemd, Kubernetes)
        // starts the process again and BullMQ hands its jobs on once their locks expire.
        onStuck: () => process.exit(75),
      }),
    );
  }
  log.info({ shards: config.shardIds }, 'settlement workers running');
  if (config.SETTLE_EVENTS === 'off') log.warn('SETTLE_EVENTS=off: batches record no events for banks (a measurement setting only)');
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) log.error({ err }, 'closing after an error');
    await Promise.all(workers.map((w) => w.close()));
    await topology.end();
  });
}

main().catch((error: Error) => {
  console.error(`settlement: ${error.message}`);
  process.exit(1);
});
