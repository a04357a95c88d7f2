/** The issuer process. */
import closeWithGrace from 'close-with-grace';
import { assertPostgresReachable } from '@cbdc/db/connect';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { connectTopology } from '@cbdc/db/topology';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { assertRedisReachable, producerRedis, untilReady } from '@cbdc/shared/redis';
import { bootstrapOperators, buildIssuerApp } from './app.js';
import { loadIssuerConfig } from './config.js';
import { registerIssuerKey } from './issuance/execute.js';

async function main(): Promise<void> {
  const config = loadIssuerConfig();
  // The central database, and every shard group's (treasury wallets; wallets the central bank freezes).
  const topology = connectTopology(config.databaseUrl, config.shardGroups, { max: 10, groupMax: 4, applicationName: 'cbdc-issuer' });
  await assertPostgresReachable(topology.central, config.databaseUrl);
  for (const group of topology.groups) {
    await assertPostgresReachable(group.sql, group.url);
    await assertShardCount(group.sql, config.shardCount);
  }
  await assertRedisReachable(config.redis);
  await assertShardCount(topology.central, config.shardCount);
  const redis = producerRedis(config.redis);
  redis.on('error', () => {});
  await untilReady(redis);
  const signer = signerFromSeed(config.signingSeed);
  await registerIssuerKey(topology.central, signer);
  await bootstrapOperators(topology.central, config.bootstrapOperators, signer);
  const app = await buildIssuerApp({
    topology,
    redis,
    signer,
    shardCount: config.shardCount,
    dualControl: config.dualControl,
    queuePrefix: config.queuePrefix,
    audience: config.audience,
    limits: config.limits,
    logger: { level: config.logLevel, name: 'issuer' },
  });
  // The app's ready hook creates missing treasuries and completes unfinished mints and retires.
  await app.listen({ host: config.host, port: config.port });
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    await app.close();
    redis.disconnect();
    await topology.end();
  });
}

main().catch((error: Error) => {
  console.error(`issuer: ${error.message}`);
  process.exit(1);
});
