/** The settlement process: reads config, starts one worker per served shard, shuts down gracefully. */
import closeWithGrace from 'close-with-grace';
import pino from 'pino';
import { assertPostgresReachable, connectPostgres } from '@cbdc/db/connect';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { assertRedisReachable } from '@cbdc/shared/redis';
import { loadSettlementConfig } from './config.js';
import { startShardWorker, type ShardWorker } from './worker.js';

async function main(): Promise<void> {
  const config = loadSettlementConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'settlement' });
  const sql = connectPostgres(config.DATABASE_URL, { max: 2 * config.shardIds.length + 1, applicationName: 'cbdc-settlement' });
  await assertPostgresReachable(sql, config.DATABASE_URL);
  await assertRedisReachable(config.redis);
  await assertShardCount(sql, config.SETTLEMENT_SHARDS);
  const workers: ShardWorker[] = [];
  for (const shard of config.shardIds) {
    workers.push(
      await startShardWorker({
        sql,
        redis: config.redis,
        queuePrefix: config.QUEUE_PREFIX,
        shard,
        shardCount: config.SETTLEMENT_SHARDS,
        shardSeed: config.shardSeeds[shard],
        gatewayKeys: config.gatewayKeys,
        audience: config.CBDC_AUDIENCE,
        lockDurationMs: config.SETTLE_JOB_LOCK_MS,
        commitDeadlineMs: config.SETTLE_COMMIT_DEADLINE_MS,
        redisDeadlineMs: config.SETTLE_REDIS_DEADLINE_MS,
        walletsHeldMax: config.SETTLE_WALLETS_HELD_MAX,
        log,
        // Exit without waiting on the wedged transaction or Redis connection; the supervisor (systemd, Kubernetes)
        // starts the process again and BullMQ hands its jobs on once their locks expire.
        onStuck: () => process.exit(75),
      }),
    );
  }
  log.info({ shards: config.shardIds }, 'settlement workers running');
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) log.error({ err }, 'closing after an error');
    await Promise.all(workers.map((w) => w.close()));
    await sql.end({ timeout: 5 });
  });
}

main().catch((error: Error) => {
  console.error(`settlement: ${error.message}`);
  process.exit(1);
});
