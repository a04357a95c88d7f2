/**
 * The single-writer rule for wallet rows: a shard's settlement worker writes its wallets while
 * holding the shard's head row lock (it reads them without row locks, for speed). Any other
 * writer of a wallet row (the issuer crediting a treasury, a bank closing or freezing a wallet)
 * takes the same lock first, inside its transaction, so that no write is lost between the
 * worker's read and its write. Taking it bumps the shard's `wallets_version`, which tells the
 * worker that the wallets it holds in memory may be out of date.
 *
 * Lock order, everywhere: issuance head, then shard head, then bank reserve, then wallet.
 */
import type { Sql } from './connect.js';

export async function lockShard(tx: Sql, shard: number): Promise<void> {
  // A shard whose worker has never started has no head row, and so no concurrent writer.
  await tx`update shards set wallets_version = wallets_version + 1 where shard = ${shard}`;
}

/**
 * Binds the ledger to a shard count on first start and refuses a different one afterwards:
 * wallets are placed by `shardOf(id, count)`, so changing the count would strand them.
 */
export async function assertShardCount(sql: Sql, shardCount: number): Promise<void> {
  await sql`insert into ledger_settings (key, value) values ('shard_count', ${String(shardCount)}) on conflict (key) do nothing`;
  const [row] = await sql<{ value: string }[]>`select value from ledger_settings where key = 'shard_count'`;
  if (Number(row.value) !== shardCount) throw new Error(`this ledger was created with ${row.value} shard(s), but SETTLEMENT_SHARDS=${shardCount}; resharding is not supported`);
}
