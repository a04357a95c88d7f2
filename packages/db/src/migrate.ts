/** Applies the SQL migrations in packages/db/migrations (forward only, each in a transaction). */
import { fileURLToPath } from 'node:url';
import shift from 'postgres-shift';
import { connectPostgres, describeUrl, isUnreachable } from './connect.js';
import { databaseOf, editPostgresUrl } from './postgres-url.js';
import { applyRoles } from './roles.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** Creates the database named in `url` if it does not exist. */
export async function ensureDatabase(url: string): Promise<void> {
  const name = databaseOf(url);
  const adminUrl = editPostgresUrl(url, (u) => {
    u.pathname = '/postgres';
  });
  // Through connectPostgres: a URL naming a primary and its standby creates the database on the primary.
  const admin = connectPostgres(adminUrl, { max: 1, applicationName: 'cbdc-migrate' });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    // Byte-order collation: every key here (ids, wallet ids, hex) is ASCII, and comparing with
    // memcmp instead of the locale's strcoll makes every index insert and lookup cheaper.
    if (rows.length === 0) await admin.unsafe(`create database "${name.replace(/"/g, '""')}" template template0 encoding 'UTF8' locale 'C'`);
  } catch (error) {
    if (isUnreachable(error)) throw new Error(`cannot reach PostgreSQL at ${describeUrl(url)}; start PostgreSQL or set DATABASE_URL`);
    throw error;
  } finally {
    await admin.end();
  }
}

/** Creates the database if needed and applies pending migrations. */
export async function migrate(url: string, log: (line: string) => void = () => {}): Promise<void> {
  await ensureDatabase(url);
  const sql = connectPostgres(url, { max: 1, applicationName: 'cbdc-migrate' });
  try {
    await shift({ sql: sql as never, path: MIGRATIONS_DIR, before: ({ migration_id, name }: { migration_id: number; name: string }) => log(`migrating ${migration_id} ${name}`) });
    await applyRoles(sql);
  } finally {
    await sql.end();
  }
}
