/** The gateway process: reads config, connects, listens, and shuts down gracefully. */
import closeWithGrace from 'close-with-grace';
import { assertPostgresReachable, connectPostgres } from '@cbdc/db/connect';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { assertRedisReachable, producerRedis } from '@cbdc/shared/redis';
import { buildGatewayApp } from './app.js';
import { loadGatewayConfig } from './config.js';
import { SettlementClient } from './transfers/settlement-client.js';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const sql = connectPostgres(config.databaseUrl, { max: 20, applicationName: 'cbdc-gateway' });
  await assertPostgresReachable(sql, config.databaseUrl);
  await assertRedisReachable(config.redisUrl);
  await assertShardCount(sql, config.shardCount);
  const redis = producerRedis(config.redisUrl);
  redis.on('error', () => {});
  const settlement = new SettlementClient({ redisUrl: config.redisUrl, queuePrefix: config.queuePrefix, shardCount: config.shardCount, attestationKey: config.attestationKey, gatewayId: config.gatewayId, limits: config.limits });
  await settlement.start();
  const app = await buildGatewayApp({ sql, redis, settlement, shardCount: config.shardCount, limits: config.limits, queuePrefix: config.queuePrefix, logger: { level: config.logLevel, name: 'wallet-gateway' } });
  await app.listen({ host: config.host, port: config.port });
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    await app.close();
    await settlement.close();
    redis.disconnect();
    await sql.end({ timeout: 5 });
  });
}

main().catch((error: Error) => {
  console.error(`wallet-gateway: ${error.message}`);
  process.exit(1);
});
