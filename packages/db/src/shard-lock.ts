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
 * `lockShard`, returning the seq of the shard's head batch as it stands under the lock (0 before
 * its first batch). The settlement worker commits each batch holding this lock, so every batch
 * with a higher seq commits after this transaction and reads what it wrote (a key replacement
 * records this seq: the new key governs exactly the batches after it).
 */
export async function lockShardAtHead(tx: Sql, shard: number): Promise<bigint> {
  const [row] = await tx<{ head_seq: bigint }[]>`update shards set wallets_version = wallets_version + 1 where shard = ${shard} returning head_seq`;
  return row?.head_seq ?? 0n;
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
