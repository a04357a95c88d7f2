/**
 * The pool after failed connection attempts. postgres.js leaves a connection in its "connecting"
 * state for good when a custom socket factory rejects; once every connection of the pool had
 * failed once, each later query waited forever (found by fault test F4: after Postgres was killed
 * and restarted, the gateway's reads hung).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectPostgres, matchesTarget, type Sql } from './connect.js';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Settles with 'timeout' if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);
}

describe('connectPostgres when the server refuses connections', () => {
  let sql: Sql | undefined;
  afterEach(async () => {
    await sql?.end({ timeout: 0 });
  });

  it('fails every query with ECONNREFUSED, more queries than the pool has connections, none hangs', async () => {
    sql = connectPostgres(`postgres://postgres@127.0.0.1:${await closedPort()}/cbdc`, { max: 2 });
    const outcomes: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      outcomes.push(
        await within(
          sql`select 1`.then(
            () => 'answered',
            (error: { code?: string }) => error.code,
          ),
          8000,
        ),
      );
    }
    expect(outcomes).toEqual(Array(6).fill('ECONNREFUSED'));
  });

  it('recovers promptly once the server is back, however many attempts failed during the outage', async () => {
    // A plain TCP proxy in front of the real server, closed then opened on the same port.
    const port = await closedPort();
    sql = connectPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 2 });
    // Many requests failing during an outage: the driver's default backoff grew to 10-20 s here.
    const failed = await within(Promise.all(Array.from({ length: 16 }, () => sql!`select 1`.catch((error: { code?: string }) => error.code))), 15_000);
    expect(failed).toEqual(Array(16).fill('ECONNREFUSED'));

    const proxy = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: 5432 });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
    try {
      // Well under the driver's default worst case (20 s); ours waits at most 1 s per attempt.
      const answer = await within(
        sql<{ one: number }[]>`select 1 as one`.then((rows) => rows[0].one),
        5000,
      );
      expect(answer).toBe(1);
    } finally {
      await sql.end({ timeout: 0 });
      sql = undefined;
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('connectPostgres with several servers (a primary and its standby)', () => {
  it.each([
    ['read-write', { inRecovery: false, readOnly: false }, true],
    ['read-write', { inRecovery: true, readOnly: true }, false],
    ['read-write', { inRecovery: false, readOnly: true }, false],
    ['primary', { inRecovery: false, readOnly: true }, true],
    ['standby', { inRecovery: true, readOnly: true }, true],
    ['standby', { inRecovery: false, readOnly: false }, false],
    [null, { inRecovery: true, readOnly: true }, true],
  ])('target %s matches %o: %s', (target, state, expected) => {
    expect(matchesTarget(target, state)).toBe(expected);
  });

  it('connects to the server that answers when the first one in the list is down', async () => {
    const sql = connectPostgres(`postgres://postgres@127.0.0.1:${await closedPort()},127.0.0.1:5432/postgres`, { max: 2 });
    try {
      const answers = await within(Promise.all(Array.from({ length: 4 }, () => sql<{ one: number }[]>`select 1 as one`.then((rows) => rows[0].one))), 8000);
      expect(answers).toEqual([1, 1, 1, 1]);
    } finally {
      await sql.end({ timeout: 0 });
    }
  });

  it('fails every query (none hangs) while no server of the list answers', async () => {
    // The driver's own multi-host loop retried at once, for ever, and never failed the query.
    const sql = connectPostgres(`postgres://postgres@127.0.0.1:${await closedPort()},127.0.0.1:${await closedPort()}/cbdc`, { max: 2 });
    try {
      const outcomes = await within(
        Promise.all(
          Array.from({ length: 4 }, () =>
            sql`select 1`.then(
              () => 'answered',
              (error: { code?: string }) => error.code,
            ),
          ),
        ),
        10_000,
      );
      expect(outcomes).toEqual(Array(4).fill('ECONNREFUSED'));
    } finally {
      await sql.end({ timeout: 0 });
    }
  });
});
