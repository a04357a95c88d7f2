/**
 * `npm run migrate`: creates the central database (DATABASE_URL) and every shard group's database
 * (SHARD_DATABASES, see @cbdc/shared/topology) if needed, and migrates each to the same schema.
 */
import { parseShardDatabases } from '@cbdc/shared/topology';
import { DEFAULT_DATABASE_URL, describeUrl } from './connect.js';
import { migrateTopology } from './topology.js';

const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const shards = Number(process.env.SETTLEMENT_SHARDS ?? '1');

async function main(): Promise<void> {
  const groups = parseShardDatabases(process.env.SHARD_DATABASES, shards, url);
  await migrateTopology(url, groups, (line) => console.log(line));
  for (const g of groups) console.log(`shards ${g.shards.join(',')}: ${describeUrl(g.url)}`);
  console.log('every database is up to date');
}

main().catch((error: Error) => {
  console.error(`migrate: ${error.message}`);
  process.exit(1);
});
