import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, eventSpans, pruneEvents } from './events.js';
import { createTestDatabase, type TestDatabase } from './testing.js';

describe('appendEvents', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  const ev = (bankId: string, subjectId: string) => ({ bankId, type: 'payment.received' as const, subjectId, walletId: 'w', amountMinor: 5n, code: null, data: { from: 'x"y' } });

  it('numbers each bank’s events on a shard consecutively, in the order given, across appends', async () => {
    await db.sql.begin((tx) => appendEvents(tx, 3, 1000, [ev('a', 's1'), ev('b', 's2'), ev('a', 's3')]));
    await db.sql.begin((tx) => appendEvents(tx, 3, 2000, [ev('b', 's4'), ev('a', 's5')]));
    await db.sql.begin((tx) => appendEvents(tx, 4, 2000, [ev('a', 's6')]));
    const rows = await db.sql<{ bank_id: string; shard: number; seq: bigint; subject_id: string; data: unknown }[]>`select bank_id, shard, seq, subject_id, data from events order by bank_id, shard, seq`;
    expect(rows.map((r) => `${r.bank_id}/${r.shard}/${r.seq}/${r.subject_id}`)).toEqual(['a/3/1/s1', 'a/3/2/s3', 'a/3/3/s5', 'a/4/1/s6', 'b/3/1/s2', 'b/3/2/s4']);
    expect(rows[0].data).toEqual({ from: 'x"y' });
  });

  it('writes nothing for an empty list', async () => {
    const before = await db.sql`select count(*)::int as n from events`;
    await appendEvents(db.sql, 9, 1, []);
    expect(await db.sql`select count(*)::int as n from events`).toEqual(before);
  });
});

describe('pruneEvents', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  const ev = (bankId: string) => ({ bankId, type: 'payment.received' as const, subjectId: 's', walletId: 'w', amountMinor: 1n, code: null, data: null });

  it('prunes a prefix of each bank’s seqs per shard, records where it ends, and takes a later-committed earlier-timed event with it', async () => {
    await db.sql.begin((tx) => appendEvents(tx, 0, 1000, [ev('a'), ev('a'), ev('b')]));
    // Committed later with an earlier clock (another writer's): below the mark once seq 4 goes.
    await db.sql.begin((tx) => appendEvents(tx, 0, 3000, [ev('a')]));
    await db.sql.begin((tx) => appendEvents(tx, 0, 500, [ev('a')]));
    await db.sql.begin((tx) => appendEvents(tx, 0, 5000, [ev('a')]));
    // a/1, a/2, a/4 and b/1 are older than the cutoff; a/3 (newer, but below a/4) goes with them.
    expect(await pruneEvents(db.sql, 2000, 100)).toBe(5);
    const left = await db.sql<{ bank_id: string; seq: bigint }[]>`select bank_id, seq from events order by bank_id, seq`;
    expect(left.map((r) => `${r.bank_id}/${r.seq}`)).toEqual(['a/5']);
    expect(await eventSpans(db.sql, 'a', [0, 1])).toEqual(
      new Map([
        [0, { prunedSeq: 4n, headSeq: 5n }],
        [1, { prunedSeq: 0n, headSeq: 0n }],
      ]),
    );
    expect((await eventSpans(db.sql, 'b', [0])).get(0)).toEqual({ prunedSeq: 1n, headSeq: 1n });
    expect(await pruneEvents(db.sql, 2000, 100)).toBe(0);
  });
});
