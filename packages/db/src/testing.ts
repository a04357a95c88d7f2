/** Throwaway databases for tests: created fresh, migrated, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { connectPostgres, type Sql } from './connect.js';
import { migrate } from './migrate.js';

export const TEST_ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? process.env.DATABASE_URL?.replace(/\/[^/]*$/, '/postgres') ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates and migrates a database named cbdc_test_<random>. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `cbdc_test_${randomBytes(6).toString('hex')}`;
  const u = new URL(TEST_ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  await migrate(url);
  const sql = connectPostgres(url, { max: 4, applicationName: 'cbdc-test' });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
