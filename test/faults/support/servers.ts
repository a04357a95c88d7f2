/**
 * Postgres and Redis servers of a fault test's own, on free ports, from the binaries installed on
 * this machine, so that the test can kill them with SIGKILL and start them again on the same data.
 *
 * Postgres refuses to run as root; when the tests run as root, the server runs as the `postgres`
 * user (setpriv execs, so the pid we hold is the postmaster's). Each server is its own process
 * group, so that a kill takes the postmaster and every backend at once, as a crash would.
 */
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import { asPostgresUser as asPostgres, killGroup, postgresBinDir, postgresUserIds, runningAsRoot as asRoot, startDetached, waitFor, run, type CommandPrefix } from '../../../infra/cluster/processes.js';
import { freePort } from '../../../load-tests/src/fixture.js';

export interface OwnPostgres {
  port: number;
  adminUrl: string;
  /** The postmaster's pid while it runs (its backends are its children), for CPU accounting. */
  pid(): number | null;
  /** SIGKILL to the postmaster and all its backends. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Refuses writes: default_transaction_read_only for new sessions, and ends the open ones. */
  setReadOnly(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

let initialized: string | null = null;

/** A data directory made by initdb once per process (removed when it exits), to be copied. */
function initializedDataDir(bin: string): string {
  if (initialized) return initialized;
  const dir = mkdtempSync(join(tmpdir(), 'cbdc-fault-pg-template-'));
  if (asRoot) chownSync(dir, postgresUserIds().uid, postgresUserIds().gid);
  const data = join(dir, 'data');
  run([], asPostgres([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  initialized = data;
  return data;
}

export interface OwnPostgresOptions {
  /** Server settings over the defaults (max_connections=100, shared_buffers=64MB). */
  settings?: Record<string, string>;
}

export async function startOwnPostgres(options: OwnPostgresOptions = {}): Promise<OwnPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'cbdc-fault-pg-'));
  if (asRoot) chownSync(dir, postgresUserIds().uid, postgresUserIds().gid);
  const data = join(dir, 'data');
  // One initdb per test process, copied for every server after it (initdb costs seconds of CPU).
  run([], ['cp', '-a', initializedDataDir(bin), data]);
  const port = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ReturnType<typeof startDetached> | null = null;

  const start = async () => {
    // fsync and synchronous_commit stay on: the tests are about what survives a crash.
    const settings = { listen_addresses: '127.0.0.1', max_connections: '100', shared_buffers: '64MB', ...options.settings };
    child = startDetached([], asPostgres([join(bin, 'postgres'), '-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]));
    await waitFor('postgres', async () => {
      const sql = postgres(adminUrl, { max: 1, connect_timeout: 1, onnotice: () => {} });
      try {
        await sql`select 1`;
        return true;
      } finally {
        await sql.end({ timeout: 1 });
      }
    });
  };
  await start();
  return {
    port,
    adminUrl,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid! : null),
    kill: () => killGroup(child, 'SIGKILL'),
    start,
    async setReadOnly(on) {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`alter system set default_transaction_read_only = ${on ? 'on' : 'off'}`);
        await sql`select pg_reload_conf()`;
        if (on) await sql`select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()`;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    async stop() {
      await killGroup(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OwnRedis {
  port: number;
  url: string;
  /** The server's pid while it runs, for CPU accounting. */
  pid(): number | null;
  kill(): Promise<void>;
  /** Starts again on the same data directory (with `wipe`, an empty one: everything is lost). */
  start(options?: { wipe?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Redis with an append-only file fsynced on every write (`appendfsync: 'always'`, what the fault
 * tests need; the benchmark passes this machine's own setting), and the eviction policy BullMQ needs.
 */
export async function startOwnRedis(options: { maxmemory?: string; appendfsync?: 'always' | 'everysec' | 'no-aof'; prefix?: CommandPrefix; bind?: string; port?: number; password?: string } = {}): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'cbdc-fault-redis-'));
  const port = options.port ?? (await freePort());
  const bind = options.bind ?? '127.0.0.1';
  // Off loopback, Redis refuses clients in protected mode unless it has a password.
  const url = `redis://${options.password ? `:${encodeURIComponent(options.password)}@` : ''}${bind}:${port}`;
  let child: ReturnType<typeof startDetached> | null = null;
  const start = async ({ wipe = false } = {}) => {
    if (wipe) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
    }
    const aof = options.appendfsync ?? 'always';
    const persistence = aof === 'no-aof' ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', aof];
    const args = ['--port', String(port), '--bind', bind, '--dir', dir, ...persistence, '--save', '', '--maxmemory-policy', 'noeviction'];
    if (options.maxmemory) args.push('--maxmemory', options.maxmemory);
    if (options.password) args.push('--requirepass', options.password);
    child = startDetached(options.prefix ?? [], ['redis-server', ...args]);
    await waitFor('redis', async () => {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      try {
        await r.connect();
        // Still loading the append-only file answers LOADING; wait for it.
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    });
  };
  await start();
  return {
    port,
    url,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid! : null),
    kill: () => killGroup(child, 'SIGKILL'),
    start,
    async stop() {
      await killGroup(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
