/**
 * Same-run baselines: what this machine can do at the limits that bound settlement, measured by
 * the same invocation as the benchmark so that ratios are comparable on a noisy shared machine.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import postgres from 'postgres';
import { connectPostgres, type Sql } from '@cbdc/db/connect';

/**
 * node:crypto Ed25519 verifies per second with a reused KeyObject, on every core at once. Each
 * core runs a separate process: worker threads of this process were seen to leave OpenSSL's key
 * generation deadlocked in the main thread afterwards.
 */
export async function verifyLimitPerSecond(durationMs: number): Promise<number> {
  const code = `
    const { generateKeyPairSync, sign, verify } = require('node:crypto');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const message = Buffer.alloc(120, 7);
    const signature = sign(null, message, privateKey);
    const end = Date.now() + ${durationMs};
    let n = 0;
    while (Date.now() < end) { for (let i = 0; i < 100; i++) if (!verify(null, message, publicKey, signature)) throw new Error('bad'); n += 100; }
    process.stdout.write(String(n));`;
  const counts = await Promise.all(
    Array.from(
      { length: availableParallelism() },
      () =>
        new Promise<number>((resolve, reject) => {
          execFile(process.execPath, ['-e', code], (error, stdout) => (error ? reject(error) : resolve(Number(stdout))));
        }),
    ),
  );
  return Math.round(counts.reduce((a, b) => a + b, 0) / (durationMs / 1000));
}

/**
 * pgbench tpcb-like on the same Postgres: one transaction per transfer, the classic OLTP ceiling.
 * Runs once per entry of `clients` on one initialised database and returns TPS for each. With
 * one client per core it reproduces the figure issue #3 quotes for this machine kind (about
 * 2,100 TPS); more clients let Postgres group their commits and come out higher.
 */
export function pgbenchTpcb(adminUrl: string, durationS: number, clients: number[]): number[] {
  const u = new URL(adminUrl);
  const db = `cbdc_pgbench_${randomBytes(3).toString('hex')}`;
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
  execFileSync('createdb', [...args, db]);
  try {
    execFileSync('pgbench', [...args, '-i', '-q', '-s', '10', db], { stdio: 'ignore' });
    return clients.map((c) => {
      const run = spawnSync('pgbench', [...args, '-c', String(c), '-j', String(Math.min(c, availableParallelism())), '-T', String(durationS), '-M', 'prepared', db], { encoding: 'utf8' });
      const m = /tps = ([\d.]+)/.exec(run.stdout);
      if (!m) throw new Error(`pgbench printed no tps: ${run.stderr}`);
      return Math.round(Number(m[1]));
    });
  } finally {
    execFileSync('dropdb', [...args, '--force', db]);
  }
}

/** Runs `use` on a database of its own on the same server, dropped afterwards. */
async function withScratchDatabase<T>(adminUrl: string, label: string, maxConnections: number, use: (sql: Sql) => Promise<T>): Promise<T> {
  const u = new URL(adminUrl);
  const db = `cbdc_${label}_${randomBytes(3).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${db}`);
  u.pathname = `/${db}`;
  const sql = connectPostgres(u.toString(), { max: maxConnections });
  try {
    return await use(sql);
  } finally {
    await sql.end();
    await admin.unsafe(`drop database ${db} with (force)`);
    await admin.end();
  }
}

/**
 * Batched settlement straight in SQL, without our code: per batch, lock the touched accounts,
 * one netted UPDATE from unnest, one INSERT of the transfer rows; one transaction per batch.
 */
export async function rawBatchedSqlRate(adminUrl: string, batchSize: number, durationMs: number): Promise<number> {
  return withScratchDatabase(adminUrl, 'rawsql', 2, async (sql) => {
    const accounts = 100_000;
    await sql`create table accounts (id text primary key, balance bigint not null check (balance >= 0))`;
    await sql`create table transfers (id text primary key, payer text not null, payee text not null, amount bigint not null, batch bigint not null, leaf int not null)`;
    await sql`insert into accounts select 'a' || g, 1000000000 from generate_series(1, ${accounts}) g`;
    let batch = 0;
    let count = 0;
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      const ids: string[] = [];
      const payers: string[] = [];
      const payees: string[] = [];
      const net = new Map<string, bigint>();
      for (let i = 0; i < batchSize; i++) {
        const p = `a${1 + Math.floor(Math.random() * accounts)}`;
        const q = `a${1 + Math.floor(Math.random() * accounts)}`;
        ids.push(randomBytes(16).toString('hex'));
        payers.push(p);
        payees.push(q);
        net.set(p, (net.get(p) ?? 0n) - 1n);
        net.set(q, (net.get(q) ?? 0n) + 1n);
      }
      const touched = [...net.keys()].sort();
      batch++;
      await sql.begin(async (tx) => {
        await tx`select id from accounts where id = any(${touched}) order by id for update`;
        await tx`update accounts a set balance = a.balance + u.delta from unnest(${touched}::text[], ${touched.map((t) => net.get(t)!.toString())}::bigint[]) as u(id, delta) where a.id = u.id`;
        await tx`insert into transfers select * from unnest(${ids}::text[], ${payers}::text[], ${payees}::text[], ${ids.map(() => '1')}::bigint[], ${ids.map(() => String(batch))}::bigint[], ${ids.map((_, i) => i)}::int[])`;
      });
      count += batchSize;
    }
    return Math.round(count / (durationMs / 1000));
  });
}

/**
 * Latency of one durable commit (a one-row insert, synchronous_commit on) on the otherwise idle
 * server, one after another: the floor under every submit-to-settled latency, and the disk's
 * tail (a stalled fsync holds every commit behind it).
 */
export async function commitLatencyMs(adminUrl: string, durationMs: number): Promise<{ p50: number; p99: number; max: number; over50: number; n: number }> {
  return withScratchDatabase(adminUrl, 'commit', 1, async (sql) => {
    await sql`create table probe (x int)`;
    const latencies: number[] = [];
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      const t = performance.now();
      await sql`insert into probe values (1)`;
      latencies.push(performance.now() - t);
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] * 10) / 10;
    return { p50: at(0.5), p99: at(0.99), max: Math.round(latencies.at(-1)!), over50: latencies.filter((l) => l > 50).length, n: latencies.length };
  });
}
