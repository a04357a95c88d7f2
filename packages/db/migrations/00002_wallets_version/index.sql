-- The settlement worker keeps its shard's wallets in memory between batches. Every transaction
-- that writes a shard's existing wallet rows bumps that shard's `wallets_version` (the worker with
-- each batch, other writers through lockShard), under the shard head lock; a worker whose cached
-- version differs from the row's drops its cache and reads the wallets again.
alter table shards add column wallets_version bigint not null default 0;
