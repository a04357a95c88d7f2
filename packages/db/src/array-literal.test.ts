import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from './array-literal.js';
import { createTestDatabase, type TestDatabase } from './testing.js';

describe('arrayLiteral, read back by Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('round-trips strings that would break an unquoted literal', async () => {
    const values = ['plain', '', 'NULL', 'null', 'a,b', '{x}', 'say "hi"', 'back\\slash', '\\"', ' spaced ', 'multi\nline', 'ünïcödé ✓', 'end\\'];
    const [row] = await db.sql<{ a: string[] }[]>`select ${arrayLiteral(values)}::text[] as a`;
    expect(row.a).toEqual(values);
  });

  it('keeps nulls, numbers and bigints, and the order of a long array', async () => {
    const values = [null, '1', null];
    // Read back as JSON: the driver's own text[] parser shows SQL nulls as the string "NULL".
    const [row] = await db.sql<{ a: Array<string | null>; n: bigint[]; c: number }[]>`
      select array_to_json(${arrayLiteral(values)}::text[]) as a, ${arrayLiteral([0n, -5n, 9_007_199_254_740_993n])}::bigint[] as n,
             cardinality(${arrayLiteral(Array.from({ length: 5000 }, (_, i) => i))}::int[]) as c`;
    expect(row.a).toEqual(values);
    expect(row.n).toEqual([0n, -5n, 9_007_199_254_740_993n]);
    expect(row.c).toBe(5000);
  });

  it('refuses a number Postgres could not read back', () => {
    expect(() => arrayLiteral([Number.NaN])).toThrow(/finite/);
  });
});
