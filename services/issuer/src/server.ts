/** The issuer process. */
import closeWithGrace from 'close-with-grace';
import { assertPostgresReachable, connectPostgres } from '@cbdc/db/connect';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { assertRedisReachable, producerRedis, untilReady } from '@cbdc/shared/redis';
import { bootstrapOperators, buildIssuerApp } from './app.js';
import { loadIssuerConfig } from './config.js';
import { registerIssuerKey } from './issuance/execute.js';

async function main(): Promise<void> {
  const config = loadIssuerConfig();
  const sql = connectPostgres(config.databaseUrl, { max: 10, applicationName: 'cbdc-issuer' });
  await assertPostgresReachable(sql, config.databaseUrl);
  await assertRedisReachable(config.redis);
  await assertShardCount(sql, config.shardCount);
  const redis = producerRedis(config.redis);
  redis.on('error', () => {});
  await untilReady(redis);
  const signer = signerFromSeed(config.signingSeed);
  await registerIssuerKey(sql, signer);
  await bootstrapOperators(sql, config.bootstrapOperators, signer);
  const app = await buildIssuerApp({
    sql,
    redis,
    signer,
    shardCount: config.shardCount,
    dualControl: config.dualControl,
    queuePrefix: config.queuePrefix,
    audience: config.audience,
    limits: config.limits,
    logger: { level: config.logLevel, name: 'issuer' },
  });
  await app.listen({ host: config.host, port: config.port });
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    await app.close();
    redis.disconnect();
    await sql.end({ timeout: 5 });
  });
}

main().catch((error: Error) => {
  console.error(`issuer: ${error.message}`);
  process.exit(1);
});
