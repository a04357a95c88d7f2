/**
 * A Postgres server with a synchronous standby: a primary and a streaming standby (pg_basebackup -R
 * over a physical replication slot), the primary naming the standby in synchronous_standby_names
 * with synchronous_commit=on, so that a commit is acknowledged only once it is on both servers.
 * Each server may run on a host of its own (a command prefix such as `ip netns exec cbdc-c-pg0b`),
 * listening on that host's address.
 *
 * Failover is the documented procedure of infra/README.md, driven by `failover()` (the tests call
 * it; `npm run cluster` runs `watchPrimary` in its monitor process):
 *   1. the primary is declared lost after `misses` consecutive failed probes;
 *   2. it is fenced: its process group is killed if it still runs and its data directory is renamed
 *      `<dir>.fenced-<time>`, so that it can never start again as a second primary;
 *   3. the standby is promoted (`pg_ctl promote`) and probed until it takes writes.
 * The promoted server runs without a standby, and its commits no longer wait for one (its
 * synchronous_standby_names is empty), until `reseed()` makes the fenced node a new standby from a
 * fresh base backup and names it synchronous again. Until then, an acknowledged commit is on one
 * server only; that window is the price of staying available, and the runbook says so.
 *
 * Clients name both servers (`url()`: postgres://...@a:5432,b:5432/db?target_session_attrs=read-write);
 * `connectPostgres` sends each new connection to whichever takes writes.
 */
import { appendFileSync, chownSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { asPostgresUser, killGroup, postgresBinDir, postgresUserIds, run, runningAsRoot, startDetached, waitFor, type CommandPrefix } from './processes.js';

export interface PostgresNodeSpec {
  /** A name for the node, also its application_name as a standby: a-z 0-9 _. */
  name: string;
  /** The address it listens on (a host's address, or 127.0.0.1). */
  host: string;
  port: number;
  prefix?: CommandPrefix;
}

export interface PostgresNode extends PostgresNodeSpec {
  dataDir: string;
  /** The postmaster's pid while it runs (also its process group). */
  pid: number | null;
}

export interface FailoverReport {
  /** The node promoted. */
  promoted: string;
  /** From the call (or from the first failed probe, for `watchPrimary`) to the promoted node taking writes. */
  promotedAfterMs: number;
  fencedDataDir: string | null;
}

export interface PostgresPair {
  name: string;
  /** The node that takes writes now. */
  readonly primary: PostgresNode;
  /** Its synchronous standby, or null after a failover until `reseed()`. */
  readonly standby: PostgresNode | null;
  readonly nodes: PostgresNode[];
  /** A URL naming both servers, with target_session_attrs=read-write. */
  url(database?: string, user?: string): string;
  /** Waits until the standby streams and is synchronous. */
  waitSynchronous(timeoutMs?: number): Promise<void>;
  /** SIGKILL to the primary's postmaster and every backend (a crash). */
  killPrimary(): Promise<void>;
  /** Fences the primary and promotes the standby (see the module comment). */
  failover(): Promise<FailoverReport>;
  /** Probes the primary every `intervalMs`; after `misses` failures in a row, fails over once. */
  watchPrimary(o?: { intervalMs?: number; misses?: number; onFailover?: (r: FailoverReport) => void; onError?: (e: Error) => void }): { stop(): void };
  /** Makes the fenced node a synchronous standby of the new primary again. */
  reseed(): Promise<void>;
  stop(): Promise<void>;
}

const sqlOf = (node: PostgresNodeSpec, timeoutS = 2) => postgres({ host: node.host, port: node.port, user: 'postgres', database: 'postgres', max: 1, connect_timeout: timeoutS, idle_timeout: 1, onnotice: () => {} });

/** Runs one query on a node and closes the connection; throws if it does not answer within `timeoutMs`. */
async function ask<T extends object>(node: PostgresNodeSpec, query: (sql: postgres.Sql) => Promise<T[]>, timeoutMs = 2000): Promise<T[]> {
  const sql = sqlOf(node, Math.ceil(timeoutMs / 1000));
  try {
    const answer = query(sql);
    answer.catch(() => {});
    return await Promise.race([answer, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${node.name} did not answer within ${timeoutMs} ms`)), timeoutMs).unref())]);
  } finally {
    void sql.end({ timeout: 0 });
  }
}

/** Whether a node answers and takes writes. */
export async function takesWrites(node: PostgresNodeSpec, timeoutMs = 1000): Promise<boolean> {
  try {
    const [row] = await ask(node, (sql) => sql<{ ok: boolean }[]>`select not pg_is_in_recovery() as ok`, timeoutMs);
    return row.ok;
  } catch {
    return false;
  }
}

/** Starts a primary and its synchronous standby under `dir` (created; removed by `stop()`). */
export async function startPostgresPair(o: { name: string; dir: string; nodes: [PostgresNodeSpec, PostgresNodeSpec]; maxConnections?: number }): Promise<PostgresPair> {
  const bin = postgresBinDir();
  mkdirSync(o.dir, { recursive: true });
  const owner = runningAsRoot ? postgresUserIds() : null;
  if (owner) chownSync(o.dir, owner.uid, owner.gid);
  const nodes: PostgresNode[] = o.nodes.map((spec) => ({ ...spec, dataDir: join(o.dir, spec.name), pid: null }));
  const children = new Map<string, ReturnType<typeof startDetached>>();
  let primary = nodes[0];
  let standby: PostgresNode | null = nodes[1];
  let fenced: PostgresNode | null = null;

  const start = async (node: PostgresNode) => {
    // A socket directory per node: two nodes on the same port would share its lock file.
    const sockets = join(o.dir, `${node.name}.sockets`);
    mkdirSync(sockets, { recursive: true });
    if (owner) chownSync(sockets, owner.uid, owner.gid);
    const child = startDetached(
      node.prefix ?? [],
      asPostgresUser([
        join(bin, 'postgres'),
        '-D',
        node.dataDir,
        '-p',
        String(node.port),
        '-k',
        sockets,
        '-c',
        `listen_addresses=${node.host}`,
        '-c',
        `max_connections=${o.maxConnections ?? 200}`,
        '-c',
        'shared_buffers=64MB',
        '-c',
        `cluster_name=${node.name}`,
      ]),
    );
    children.set(node.name, child);
    node.pid = child.pid ?? null;
    child.once('exit', () => {
      if (children.get(node.name) === child) node.pid = null;
    });
    await waitFor(`postgres ${node.name} at ${node.host}:${node.port}`, async () => (await ask(node, (sql) => sql`select 1`, 1000)).length === 1, 60_000);
  };

  /** A fresh base backup of the primary as `node`'s data directory, configured as its standby. */
  const seedStandby = async (node: PostgresNode) => {
    rmSync(node.dataDir, { recursive: true, force: true });
    await ask(primary, (sql) => sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ${node.name}`);
    await ask(primary, (sql) => sql`select pg_create_physical_replication_slot(${node.name})`);
    const conninfo = `host=${primary.host} port=${primary.port} user=postgres application_name=${node.name}`;
    run(node.prefix ?? [], asPostgresUser([join(bin, 'pg_basebackup'), '-d', conninfo, '-D', node.dataDir, '-R', '-X', 'stream', '-S', node.name, '-c', 'fast']), { timeoutMs: 120_000 });
    // Later lines win: this node follows the primary under its own name, and, once promoted,
    // waits for no standby of its own until one is seeded (see the module comment).
    appendFileSync(join(node.dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${node.name}'\nsynchronous_standby_names = ''\nwal_retrieve_retry_interval = '200ms'\n`);
    await start(node);
    await ask(primary, (sql) => sql.unsafe(`alter system set synchronous_standby_names = 'FIRST 1 (${node.name})'`));
    await ask(primary, (sql) => sql`select pg_reload_conf()`);
  };

  const pair: PostgresPair = {
    name: o.name,
    get primary() {
      return primary;
    },
    get standby() {
      return standby;
    },
    nodes,
    url(database = 'postgres', user = 'postgres') {
      return `postgres://${user}@${nodes.map((n) => `${n.host}:${n.port}`).join(',')}/${database}?target_session_attrs=read-write`;
    },
    async waitSynchronous(timeoutMs = 60_000) {
      const name = standby?.name;
      if (!name) throw new Error(`${o.name} has no standby`);
      await waitFor(
        `${o.name}: standby ${name} synchronous`,
        async () => {
          const rows = await ask(primary, (sql) => sql<{ sync_state: string; state: string }[]>`select sync_state, state from pg_stat_replication where application_name = ${name}`);
          return rows[0]?.state === 'streaming' && rows[0]?.sync_state === 'sync';
        },
        timeoutMs,
      );
    },
    async killPrimary() {
      await killGroup(children.get(primary.name) ?? null, 'SIGKILL');
    },
    async failover() {
      const started = Date.now();
      if (!standby) throw new Error(`${o.name}: no standby to promote`);
      const old = primary;
      // Fence first: the old primary must never take writes again, even if its host comes back.
      await killGroup(children.get(old.name) ?? null, 'SIGKILL');
      let fencedDataDir: string | null = null;
      if (existsSync(old.dataDir)) {
        fencedDataDir = `${old.dataDir}.fenced-${Date.now()}`;
        renameSync(old.dataDir, fencedDataDir);
      }
      run(standby.prefix ?? [], asPostgresUser([join(bin, 'pg_ctl'), 'promote', '-D', standby.dataDir, '-w', '-t', '60']), { timeoutMs: 70_000 });
      const promoted = standby;
      await waitFor(`${promoted.name} taking writes`, () => takesWrites(promoted), 60_000);
      primary = promoted;
      standby = null;
      fenced = old;
      return { promoted: promoted.name, promotedAfterMs: Date.now() - started, fencedDataDir };
    },
    watchPrimary({ intervalMs = 500, misses = 3, onFailover, onError } = {}) {
      let stopped = false;
      let failed = 0;
      let firstFailureAt = 0;
      const loop = async () => {
        while (!stopped) {
          await new Promise((r) => setTimeout(r, intervalMs));
          if (stopped || !standby) continue;
          if (await takesWrites(primary, intervalMs * 2)) {
            failed = 0;
            continue;
          }
          if (failed++ === 0) firstFailureAt = Date.now();
          if (failed < misses) continue;
          try {
            const report = await pair.failover();
            onFailover?.({ ...report, promotedAfterMs: Date.now() - firstFailureAt });
          } catch (error) {
            onError?.(error as Error);
          }
          failed = 0;
        }
      };
      void loop();
      return {
        stop() {
          stopped = true;
        },
      };
    },
    async reseed() {
      if (!fenced) throw new Error(`${o.name}: no fenced node to reseed`);
      const node = fenced;
      await seedStandby(node);
      standby = node;
      fenced = null;
      await pair.waitSynchronous();
    },
    async stop() {
      await Promise.all([...children.values()].map((c) => killGroup(c, 'SIGKILL')));
      rmSync(o.dir, { recursive: true, force: true });
    },
  };

  try {
    run([], asPostgresUser([join(bin, 'initdb'), '-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
    // The servers trust the hosts' network (198.18.0.0/15) and loopback: the one-machine
    // deployment has no passwords. A real deployment uses scram-sha-256 and TLS (infra/README.md).
    appendFileSync(join(primary.dataDir, 'pg_hba.conf'), '\nhost all all 198.18.0.0/15 trust\nhost replication all 198.18.0.0/15 trust\n');
    await start(primary);
    if (standby) await seedStandby(standby);
    await pair.waitSynchronous();
  } catch (error) {
    await pair.stop();
    throw error;
  }
  return pair;
}
