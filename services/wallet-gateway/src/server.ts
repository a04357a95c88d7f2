/**
 * The gateway process: reads config, connects, listens, and shuts down gracefully. With
 * GATEWAY_PROCESSES > 1 this process supervises that many copies of itself (node:cluster) sharing
 * the port: each verifies signatures on its own core. Gateways hold no state that another needs.
 */
import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import { assertPostgresReachable } from '@cbdc/db/connect';
import { assertShardCount } from '@cbdc/db/shard-lock';
import { connectTopology } from '@cbdc/db/topology';
import { assertRedisReachable, producerRedis, untilReady } from '@cbdc/shared/redis';
import { registrySignerOfAttestationKey } from '@cbdc/shared/registry';
import { buildGatewayApp } from './app.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { SettlementClient } from './transfers/settlement-client.js';
import { shardPublicKeysAcross } from './transfers/store.js';

/** The process title of a gateway process once it listens (read by operators with ps, and by fault test F8). */
export const SERVING_TITLE = 'cbdc-gateway serving';

async function serve(config: GatewayConfig): Promise<void> {
  // A cluster worker whose supervisor has gone (killed, crashed) stops too: nothing would restart it.
  if (cluster.isWorker) process.on('disconnect', () => process.exit(1));
  // One pool per database: the central one and each shard group's (one in all by default).
  const topology = connectTopology(config.databaseUrl, config.shardGroups, { max: 20, applicationName: 'cbdc-gateway' });
  await assertPostgresReachable(topology.central, config.databaseUrl);
  for (const group of topology.groups) await assertPostgresReachable(group.sql, group.url);
  await assertRedisReachable(config.redis);
  for (const group of topology.groups) await assertShardCount(group.sql, config.shardCount);
  const redis = producerRedis(config.redis);
  redis.on('error', () => {});
  await untilReady(redis);
  // Each process has an id of its own: its job ids and its reply stream must not be shared.
  const gatewayId = cluster.isWorker ? `${config.gatewayId}-w${cluster.worker!.id}` : config.gatewayId;
  const settlement = new SettlementClient({
    redis: config.redis,
    queuePrefix: config.queuePrefix,
    shardCount: config.shardCount,
    signer: signerFromSeed(config.attestationKey),
    keyId: config.keyId,
    gatewayId,
    limits: config.limits,
    loadShardKeys: () => shardPublicKeysAcross(topology.groups),
  });
  await settlement.start();
  const app = await buildGatewayApp({
    topology,
    redis,
    settlement,
    shardCount: config.shardCount,
    limits: config.limits,
    queuePrefix: config.queuePrefix,
    audience: config.audience,
    registrySigner: registrySignerOfAttestationKey(config.attestationKey),
    webhooks: config.webhooks,
    logger: { level: config.logLevel, name: 'wallet-gateway' },
  });
  await app.listen({ host: config.host, port: config.port });
  // What `ps` shows: a process that serves, as opposed to one still starting (its supervisor's
  // replacement after a crash takes seconds to connect and listen).
  process.title = SERVING_TITLE;
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    await app.close();
    await settlement.close();
    redis.disconnect();
    await topology.end({ timeout: 5 });
  });
}

/**
 * Starts `count` gateway processes and keeps them running: one that dies is started again (at
 * most ten times a minute; beyond that the supervisor gives up and exits). SIGTERM or SIGINT
 * stops them gracefully, each finishing its requests; SIGKILL after 15 s.
 */
function supervise(count: number): void {
  let stopping = false;
  const restarts: number[] = [];
  const start = () =>
    cluster.fork().on('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      restarts.push(now);
      while (restarts[0] < now - 60_000) restarts.shift();
      if (restarts.length > 10) {
        console.error(`wallet-gateway: a gateway process exited (${signal ?? code}) the 11th time in a minute; giving up`);
        process.exit(1);
      }
      console.error(`wallet-gateway: a gateway process exited (${signal ?? code}); starting another`);
      start();
    });
  for (let i = 0; i < count; i++) start();
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const w of workers) {
      w.once('exit', () => --left === 0 && process.exit(0));
      w.process.kill('SIGTERM');
    }
    setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(1);
    }, 15_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  if (config.processes > 1 && cluster.isPrimary) supervise(config.processes);
  else await serve(config);
}

main().catch((error: Error) => {
  console.error(`wallet-gateway: ${error.message}`);
  process.exit(1);
});
