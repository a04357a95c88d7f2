/** Postgres connections: bigint columns as BigInt, no-delay TCP, and one-line errors when unreachable. */
import net from 'node:net';
import postgres from 'postgres';

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
 */
export function connectPostgres(url: string, options: ConnectOptions = {}): Sql {
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
    // The socket is handed over while it is still connecting: the driver's own error, close and
    // connect-timeout handling then covers a refused or lost connection. (A factory that waits
    // for 'connect' and rejects on failure leaves the driver's connection in its "connecting"
    // state for good; once every connection of the pool had failed once, queries waited forever.)
    // Writes made before the connection is up are buffered by the socket.
    socket: ({ host, port, path }: { host: string[]; port: number[]; path?: string }) => (path ? net.connect({ path }) : net.connect({ host: host[0], port: port[0], noDelay: true })),
  } as postgres.Options<{ bigint: postgres.PostgresType<bigint> }>) as unknown as Sql;
}

/** 10 ms doubling per failed attempt, at most 1 s, with jitter so that a pool does not retry in step. */
export function reconnectDelayS(failedAttempts: number): number {
  return Math.min(0.01 * 2 ** failedAttempts, 1) * (0.5 + Math.random() / 2);
}

/** Describes a URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
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
