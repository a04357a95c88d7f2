import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { WalletFactsCache } from './facts-cache.js';
import { walletFacts } from './store.js';

describe('WalletFactsCache', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql`insert into operators (id, name, public_key) values ('op', 'op', ${Buffer.alloc(32)})`;
    await db.sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values ('bank-a', 'A', ${Buffer.alloc(32)}, 't_bank-a', 'op')`;
    await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key) values ('w_1', 'bank-a', 0, 'customer', 'II', ${Buffer.alloc(32, 1)})`;
  });
  afterAll(async () => db?.drop());

  it('answers from memory until the entry is older than its TTL, then reads the status again', async () => {
    let now = 1_000;
    const cache = new WalletFactsCache((ids) => walletFacts(db.sql, ids), { ttlMs: 500, capacity: 10, now: () => now });
    expect((await cache.get(['w_1', 'w_missing'])).get('w_1')).toMatchObject({ bankId: 'bank-a', kind: 'customer', status: 'active', shard: 0 });
    await db.sql`update wallets set status = 'closed' where id = 'w_1'`;
    now += 499;
    expect((await cache.get(['w_1'])).get('w_1')?.status).toBe('active');
    now += 1;
    expect((await cache.get(['w_1'])).get('w_1')?.status).toBe('closed');
    await db.sql`update wallets set status = 'active' where id = 'w_1'`;
  });

  it('reads a wallet again at once after forget (a status change through this process)', async () => {
    const cache = new WalletFactsCache((ids) => walletFacts(db.sql, ids), { ttlMs: 60_000, capacity: 10 });
    expect((await cache.get(['w_1'])).get('w_1')?.status).toBe('active');
    await db.sql`update wallets set status = 'closed' where id = 'w_1'`;
    cache.forget('w_1');
    expect((await cache.get(['w_1'])).get('w_1')?.status).toBe('closed');
  });

  it('reloads a key replaced elsewhere on request, and keeps answering from memory otherwise', async () => {
    const cache = new WalletFactsCache((ids) => walletFacts(db.sql, ids), { ttlMs: 60_000, capacity: 10 });
    expect((await cache.get(['w_1'])).get('w_1')?.publicKey).toEqual(Buffer.alloc(32, 1));
    await db.sql`update wallets set public_key = ${Buffer.alloc(32, 9)} where id = 'w_1'`;
    expect((await cache.get(['w_1'])).get('w_1')?.publicKey).toEqual(Buffer.alloc(32, 1));
    expect((await cache.reload(['w_1', 'w_missing'])).get('w_1')?.publicKey).toEqual(Buffer.alloc(32, 9));
    expect((await cache.get(['w_1'])).get('w_1')?.publicKey).toEqual(Buffer.alloc(32, 9));
    await db.sql`update wallets set public_key = ${Buffer.alloc(32, 1)} where id = 'w_1'`;
  });

  it('does not remember wallets that do not exist: one opened later is found', async () => {
    const cache = new WalletFactsCache((ids) => walletFacts(db.sql, ids), { ttlMs: 60_000, capacity: 10 });
    expect((await cache.get(['w_2'])).has('w_2')).toBe(false);
    await db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key) values ('w_2', 'bank-a', 0, 'customer', 'II', ${Buffer.alloc(32, 2)})`;
    expect((await cache.get(['w_2'])).has('w_2')).toBe(true);
  });
});
