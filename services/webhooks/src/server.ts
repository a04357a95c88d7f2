/** The webhook delivery process: reads config, connects to every database, delivers until stopped (gracefully). */
import closeWithGrace from 'close-with-grace';
import pino from 'pino';
import { assertPostgresReachable } from '@cbdc/db/connect';
import { connectTopology } from '@cbdc/db/topology';
import { loadWebhooksConfig } from './config.js';
import { Deliverer } from './deliverer.js';

async function main(): Promise<void> {
  const config = loadWebhooksConfig();
  const log = pino({ level: config.logLevel, name: 'webhooks' });
  // Each turn in flight holds a connection of its group's pool for its POSTs (see deliverer.ts).
  const topology = connectTopology(config.databaseUrl, config.shardGroups, { max: config.limits.webhookDeliveriesInFlightMax + 4, applicationName: 'cbdc-webhooks' });
  await assertPostgresReachable(topology.central, config.databaseUrl);
  for (const group of topology.groups) await assertPostgresReachable(group.sql, group.url);
  const deliverer = new Deliverer({ topology, shardCount: config.shardCount, sealingSeed: config.sealingSeed, allowedHosts: config.allowedHosts, limits: config.limits, pollIntervalMs: config.pollIntervalMs, log });
  deliverer.start();
  log.info({ groups: topology.groups.length }, 'webhook delivery running');
  closeWithGrace({ delay: config.limits.webhookDeliveryTimeoutMs + 5_000 }, async ({ err }) => {
    if (err) log.error({ err }, 'closing after an error');
    await deliverer.stop();
    await topology.end();
  });
}

main().catch((error: Error) => {
  console.error(`webhooks: ${error.message}`);
  process.exit(1);
});
