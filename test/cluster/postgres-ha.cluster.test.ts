/**
 * A primary and its synchronous standby on two hosts, and a pool naming both: after the primary is
 * killed and the standby promoted, the pool writes to the new primary by itself, and no write it
 * was told had committed is missing there.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Sql } from '@cbdc/db/connect';
import { createHosts, type HostNetwork } from '../../infra/cluster/hosts.js';
import { startPostgresPair, type PostgresPair } from '../../infra/cluster/postgres-ha.js';

describe('Postgres with a synchronous standby on two hosts', () => {
  let network: HostNetwork;
  let pair: PostgresPair;
  let sql: Sql;
  beforeAll(async () => {
    network = createHosts(['pga', 'pgb'], { tag: 'ha', subnet: 252 });
    const [a, b] = [network.host('pga'), network.host('pgb')];
    pair = await startPostgresPair({
      name: 'central',
      dir: mkdtempSync(join(tmpdir(), 'cbdc-ha-')),
      nodes: [
        { name: 'central_a', host: a.ip, port: 5432, prefix: a.prefix },
        { name: 'central_b', host: b.ip, port: 5432, prefix: b.prefix },
      ],
    });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 }).catch(() => {});
    await pair?.stop();
    network?.teardown();
  });

  it('streams synchronously, fails over, and the pool follows the promoted standby', async () => {
    const [state] = await (async () => {
      const s = connectPostgres(pair.url(), { max: 1 });
      try {
        return await s<{ sync_state: string }[]>`select sync_state from pg_stat_replication`;
      } finally {
        await s.end();
      }
    })();
    expect(state.sync_state).toBe('sync');

    sql = connectPostgres(pair.url(), { max: 4 });
    await sql`create table writes (n int primary key)`;
    const acknowledged: number[] = [];
    let failures = 0;
    let stop = false;
    let n = 0;
    const writer = async () => {
      while (!stop) {
        const mine = n++;
        try {
          await sql`insert into writes values (${mine})`;
          acknowledged.push(mine);
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const writers = Promise.all(Array.from({ length: 4 }, writer));
    await new Promise((r) => setTimeout(r, 1000));
    const before = acknowledged.length;
    await pair.killPrimary();
    const killedAt = Date.now();
    const report = await pair.failover();
    // Resumed: a write acknowledged after the promotion.
    const countAtPromotion = acknowledged.length;
    while (acknowledged.length === countAtPromotion && Date.now() - killedAt < 30_000) await new Promise((r) => setTimeout(r, 10));
    const resumedAfterMs = Date.now() - killedAt;
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await writers;
    console.log(`failover: promoted ${report.promoted} in ${report.promotedAfterMs} ms; writes resumed ${resumedAfterMs} ms after the kill; ${before} writes before, ${acknowledged.length} acknowledged, ${failures} failed attempts`);

    const stored = new Set((await sql<{ n: number }[]>`select n from writes`).map((r) => r.n));
    expect(acknowledged.filter((x) => !stored.has(x))).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(before);
    expect(resumedAfterMs).toBeLessThan(15_000);
    const [{ recovery }] = await sql<{ recovery: boolean }[]>`select pg_is_in_recovery() as recovery`;
    expect(recovery).toBe(false);

    // The fenced node comes back as the new primary's synchronous standby.
    await pair.reseed();
    const [again] = await sql<{ application_name: string; sync_state: string }[]>`select application_name, sync_state from pg_stat_replication`;
    expect(again).toEqual({ application_name: 'central_a', sync_state: 'sync' });
  });
});
