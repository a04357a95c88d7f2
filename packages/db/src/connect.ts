/** Postgres connections: bigint columns as BigInt, no-delay TCP, and one-line errors when unreachable. */
import net from 'node:net';
import postgres from 'postgres';
import { parsePostgresUrl, databaseOf, withSingleHost, type PostgresHost } from './postgres-url.js';

export type Sql = postgres.Sql<{ bigint: bigint }>;
/** A connection pool or an open transaction: what a query can be sent through. */
export type Queryable = Sql | postgres.TransactionSql<{ bigint: bigint }>;

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/cbdc';

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  applicationName?: string;
}

/**
 * Opens a pool. TCP sockets are created with Nagle's algorithm off: the driver writes small
 * protocol messages and, with Nagle on, each batch commit waited on delayed ACKs.
 *
 * `url` may name several servers (`postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write`,
 * a primary and its standby): each new connection goes to the server that matches
 * target_session_attrs (read-write when the URL names several and says nothing), found by
 * `ServerLocator`, so that after a failover the pool reconnects to the promoted standby by itself.
 * The driver itself is shown one server at a time: its own multi-host loop retries without delay
 * and never fails a query while no server matches (a query waited for good, spinning a core, while
 * both servers of a pair refused), where one server at a time lets every failed attempt reach the
 * caller (503, or settlement's hold-and-retry) and the backoff below apply.
 */
export function connectPostgres(url: string, options: ConnectOptions = {}): Sql {
  const { hosts, targetSessionAttrs } = parsePostgresUrl(url);
  const target = targetSessionAttrs ?? (hosts.length > 1 ? 'read-write' : null);
  const locator = hosts.length > 1 ? new ServerLocator(url, hosts, target) : null;
  const openSocket = (host: PostgresHost) => net.connect({ host: host.host, port: host.port, noDelay: true });
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    idle_timeout: 60,
    // Seconds before a connection tries again after a failed attempt. The driver's default grows
    // as 3^n / 100 s up to 20 s, counted over the whole pool: a few hundred requests failing during
    // a one-second outage left the pool waiting up to 20 s to reconnect after the server was back.
    backoff: reconnectDelayS,
    types: { bigint: postgres.BigInt },
    // JIT compilation pays off for long analytical queries; for the ledger's short batched
    // statements it only adds compile time (the planner's row estimates for unnest() trip it).
    connection: { application_name: options.applicationName ?? 'cbdc', jit: 'off' },
    ...(locator ? { host: [hosts[0].host], port: [hosts[0].port], target_session_attrs: target } : {}),
    // The socket is handed over while it is still connecting: the driver's own error, close and
    // connect-timeout handling then covers a refused or lost connection. (A factory that waits
    // for 'connect' and rejects on failure leaves the driver's connection in its "connecting"
    // state for good; once every connection of the pool had failed once, queries waited forever.)
    // Writes made before the connection is up are buffered by the socket. The locator never
    // rejects: when no server matches, it names one anyway and the driver's attempt fails.
    socket: ({ path }: { path?: string }) => {
      if (path) return net.connect({ path });
      if (!locator) return openSocket(hosts[0]);
      return locator.pick().then((host) => {
        const socket = openSocket(host);
        locator.watch(socket, host);
        return socket;
      });
    },
  } as postgres.Options<{ bigint: postgres.PostgresType<bigint> }>) as unknown as Sql;
}

/** What a server said about itself when asked. */
interface ServerState {
  inRecovery: boolean;
  readOnly: boolean;
}

/** Whether a server in `state` is what target_session_attrs asks for (null: any server that answers). */
export function matchesTarget(target: string | null, state: ServerState): boolean {
  switch (target) {
    case 'read-write':
      return !state.readOnly && !state.inRecovery;
    case 'primary':
      return !state.inRecovery;
    case 'read-only':
      return state.readOnly || state.inRecovery;
    case 'standby':
    case 'prefer-standby':
      return state.inRecovery;
    default:
      return true;
  }
}

/**
 * Finds, among the servers of a multi-host URL, the one new connections should go to: each server
 * is asked (in parallel, within `probeTimeoutS`) whether it is in recovery and read-only. The
 * answer is kept until a connection to that server fails, closes within `shortLivedMs` of opening
 * (the driver drops a connection to a server that does not match), or `keepMs` passes. Probes are
 * shared by every connection of the pool that asks while one runs.
 */
export class ServerLocator {
  private chosen: { host: PostgresHost; at: number } | null = null;
  private probing: Promise<PostgresHost | null> | null = null;
  private next = 0;

  constructor(
    private readonly url: string,
    private readonly hosts: PostgresHost[],
    private readonly target: string | null,
    private readonly timing = { probeTimeoutS: 2, keepMs: 10_000, shortLivedMs: 5_000 },
  ) {}

  /** The server for the next connection; never rejects (with no match, the next in turn). */
  async pick(): Promise<PostgresHost> {
    if (this.chosen && Date.now() - this.chosen.at < this.timing.keepMs) return this.chosen.host;
    this.probing ??= this.probe().finally(() => {
      this.probing = null;
    });
    const found = await this.probing;
    if (found) {
      this.chosen = { host: found, at: Date.now() };
      return found;
    }
    return this.hosts[this.next++ % this.hosts.length];
  }

  /** Forgets the chosen server when a connection to it errs or is dropped soon after it opened. */
  watch(socket: net.Socket, host: PostgresHost): void {
    const opened = Date.now();
    const forget = () => {
      if (this.chosen?.host === host) this.chosen = null;
    };
    socket.once('error', forget);
    socket.once('close', () => {
      if (Date.now() - opened < this.timing.shortLivedMs) forget();
    });
  }

  private async probe(): Promise<PostgresHost | null> {
    const states = await Promise.all(this.hosts.map((host) => this.ask(host)));
    const index = states.findIndex((state) => state !== null && matchesTarget(this.target, state));
    if (index >= 0) return this.hosts[index];
    // prefer-standby: a primary will do when no standby answers.
    if (this.target === 'prefer-standby') return this.hosts[states.findIndex((state) => state !== null)] ?? null;
    return null;
  }

  private async ask(host: PostgresHost): Promise<ServerState | null> {
    const sql = postgres(withSingleHost(this.url, host), {
      max: 1,
      onnotice: () => {},
      connect_timeout: this.timing.probeTimeoutS,
      idle_timeout: 1,
      target_session_attrs: undefined,
      connection: { application_name: 'cbdc-locate' },
    } as postgres.Options<Record<string, never>>);
    try {
      const answer = sql<{ in_recovery: boolean; read_only: string }[]>`
        select pg_is_in_recovery() as in_recovery, current_setting('transaction_read_only') as read_only`;
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), this.timing.probeTimeoutS * 1000).unref());
      const rows = await Promise.race([answer, timeout]);
      answer.catch(() => {});
      return rows ? { inRecovery: rows[0].in_recovery, readOnly: rows[0].read_only === 'on' } : null;
    } catch {
      return null;
    } finally {
      void sql.end({ timeout: 0 });
    }
  }
}

/** 10 ms doubling per failed attempt, at most 1 s, with jitter so that a pool does not retry in step. */
export function reconnectDelayS(failedAttempts: number): number {
  return Math.min(0.01 * 2 ** failedAttempts, 1) * (0.5 + Math.random() / 2);
}

/** Describes a URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const hosts = parsePostgresUrl(url).hosts.map((h) => `${h.host}:${h.port}`);
    return `${hosts.join(',')}/${databaseOf(url)}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** Error codes that mean "the server is not there", as opposed to a bad query. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  // Connection failures, server shutdown or crash, and a server refusing writes (read-only,
  // disk full): the request changed nothing and may be retried.
  return [
    'ECONNREFUSED',
    'ENOTFOUND',
    'ETIMEDOUT',
    'CONNECT_TIMEOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ECONNRESET',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    '57P01',
    '57P02',
    '57P03',
    '08000',
    '08003',
    '08006',
    '08001',
    '25006',
    '53100',
  ].includes(code ?? '');
}

/** Checks the database answers; throws an Error with a one-line message saying what to start. */
export async function assertPostgresReachable(sql: Sql, url: string): Promise<void> {
  try {
    await sql`select 1`;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '3D000') throw new Error(`PostgreSQL at ${describeUrl(url)}: the database does not exist; run "npm run migrate" (it creates it) or set DATABASE_URL`);
    if (isUnreachable(error)) throw new Error(`cannot reach PostgreSQL at ${describeUrl(url)} (${code}); start PostgreSQL or set DATABASE_URL`);
    throw error;
  }
}

export interface WritableWatch {
  /** False while the last probe failed or found the server read-only or in recovery. */
  readonly writable: boolean;
  /** False while the last probe failed (the server did not answer); a read-only server is reachable. */
  readonly reachable: boolean;
  /**
   * Probes now (or joins the probe under way) and resolves when it ends or after `waitMsMax`,
   * whichever is first: a caller that found the server down learns at once that it is back.
   */
  recheck(waitMsMax: number): Promise<void>;
  stop(): void;
}

/**
 * Probes every `intervalMs` whether the server takes writes, so that a service can refuse new work
 * with 503 at once while it cannot (down, read-only, a standby), instead of accepting work that
 * would wait for a commit that cannot happen.
 */
export function watchWritable(sql: Sql, intervalMs = 500): WritableWatch {
  let writable = true;
  let reachable = true;
  let running: Promise<void> | null = null;
  const probe = () => {
    running ??= (async () => {
      try {
        const [row] = await sql<{ ok: boolean }[]>`select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off' as ok`;
        writable = row.ok;
        reachable = true;
      } catch {
        writable = false;
        reachable = false;
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void probe(), intervalMs);
  timer.unref();
  return {
    get writable() {
      return writable;
    },
    get reachable() {
      return reachable;
    },
    async recheck(waitMsMax) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([probe(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMsMax)))]);
      clearTimeout(timer);
    },
    stop: () => clearInterval(timer),
  };
}
