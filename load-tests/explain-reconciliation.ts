/**
 * How the reconciliation reads scale: a throwaway database with TRANSFERS rows (100 banks, 200
 * wallets each, 4 shards, 60 days, a third of the payments across shards with their credit legs,
 * fundings and redemptions), then EXPLAIN (ANALYZE, BUFFERS) of the queries the gateway sends: a
 * bank's listing over 31 days (first page, and a page deep in the range) and a treasury's statement
 * (its sums and a page). Then the write cost of the 00013 indexes: the same rows inserted with and
 * without them. Prints the plans' summaries; the database is dropped afterwards.
 *
 *   npx tsx load-tests/explain-reconciliation.ts [transfers=200000]
 */
import postgres from 'postgres';
import { createTestDatabase } from '@cbdc/db/testing';
import { entryRows, treasuryTotals } from '../services/wallet-gateway/src/reconciliation/store.js';
import type { EntryKey } from '../services/wallet-gateway/src/reconciliation/entries.js';

const TRANSFERS = Number(process.argv[2] ?? 200_000);
const DAY_MS = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

/** The rows: payments between customers of any bank, 5% fundings, 3% redemptions; across shards, a credit leg 50 ms later. */
const FILL = `
insert into wallets (id, bank_id, shard, kind, tier, public_key)
select 'w_' || lpad(to_hex(i), 24, '0'), 'bank-' || lpad((i % 100)::text, 2, '0'), i % 4, 'customer', 'II', decode(repeat('11', 32), 'hex')
from generate_series(0, 19999) i;
insert into wallets (id, bank_id, shard, kind) select 't_bank-' || lpad(b::text, 2, '0'), 'bank-' || lpad(b::text, 2, '0'), b % 4, 'treasury' from generate_series(0, 99) b;
create temp table gen as
select i, (case when r < 0.05 then 'funding' else 'transfer' end) as kind, r,
       ((i::bigint * 7919) % 20000)::int as p, ((i::bigint * 104729 + 13) % 20000)::int as q
from (select i, random() as r from generate_series(1, $1::int) i) s;
create temp table rows as
select i,
  md5(i::text) || md5((i + 1000000)::text) as id, kind,
  case when kind = 'funding' then 't_bank-' || lpad((p % 100)::text, 2, '0') else 'w_' || lpad(to_hex(p), 24, '0') end as payer,
  case when kind = 'transfer' and r < 0.08 then 't_bank-' || lpad((p % 100)::text, 2, '0') else 'w_' || lpad(to_hex(q), 24, '0') end as payee,
  'bank-' || lpad((p % 100)::text, 2, '0') as bank_id,
  (case when kind = 'funding' then (p % 100) % 4 else p % 4 end) as payer_shard,
  (case when kind = 'transfer' and r < 0.08 then (p % 100) % 4 else q % 4 end) as payee_shard,
  'bank-' || lpad(((case when kind = 'transfer' and r < 0.08 then p else q end) % 100)::text, 2, '0') as payee_bank,
  ${T0}::bigint + (i::bigint * ${60 * DAY_MS}::bigint) / $1::int as at
from gen;
insert into transfers (id, kind, bank_id, payer_wallet_id, payee_wallet_id, payee_bank_id, amount_minor, nonce, signature, leg_status, status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms)
select id, kind, bank_id, payer, payee, case when payer_shard = payee_shard then payee_bank end, 100 + i % 1000,
       case when kind = 'transfer' then i end, case when kind = 'transfer' then decode(repeat('22', 64), 'hex') end,
       case when payer_shard = payee_shard then 'settled' else 'debited' end, 'settled', null,
       payer_shard, 1 + i / 400, i % 400, at, at
from rows;
insert into transfer_legs (transfer_id, leg, wallet_id, bank_id, amount_minor, status, code, from_shard, shard, batch_seq, leaf_index, settled_at_ms)
select id, 'credit', payee, payee_bank, 100 + i % 1000, 'applied', null, payer_shard, payee_shard, 1 + i / 400, i % 400, at + 50
from rows where payer_shard <> payee_shard;
insert into issuance_legs (request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, chain_seq, entry_hash, applied_at_ms)
select 'mint-' || b || '-' || d, 'mint', 'bank-' || lpad(b::text, 2, '0'), 't_bank-' || lpad(b::text, 2, '0'), b % 4, 1000000, 'applied', b * 100 + d, decode(repeat('33', 32), 'hex'), ${T0}::bigint + d::bigint * ${DAY_MS}
from generate_series(0, 99) b, generate_series(0, 59) d;
analyze;`;

const INDEXES_00013 = ['transfers_bank_settled', 'transfers_payee_bank_settled', 'transfers_treasury_out', 'transfers_treasury_in'];

async function main() {
  const db = await createTestDatabase();
  let last: { query: string; params: unknown[] } = { query: '', params: [] };
  const sql = postgres(db.url, { max: 1, types: { bigint: postgres.BigInt }, onnotice: () => {}, debug: (_c, query, params) => (last = { query, params: params as unknown[] }) });
  try {
    const fillStart = performance.now();
    await sql.unsafe(FILL.replaceAll('$1', String(TRANSFERS)));
    console.log(`filled ${TRANSFERS} transfers in ${Math.round(performance.now() - fillStart)} ms`);
    const counts = await sql`select (select count(*) from transfers) as transfers, (select count(*) from transfer_legs) as legs, (select count(*) from transfers where bank_id = 'bank-07') as bank_rows`;
    console.log(counts[0]);

    /** Runs `run`, then EXPLAIN ANALYZE of the last statement it sent, and prints the plan's lines of interest. */
    const explain = async (title: string, run: () => Promise<unknown>) => {
      await run();
      const { query, params } = last;
      const plan = await sql.unsafe(`explain (analyze, buffers, costs off) ${query}`, params as never[]);
      const lines = plan.map((r) => Object.values(r)[0] as string);
      console.log(`\n## ${title}`);
      for (const l of lines) if (/Scan|Execution Time|Planning Time|Sort|Buffers: shared/.test(l) && !/Sort Key/.test(l)) console.log(l);
    };

    const bank = { bankId: 'bank-07' };
    const range = { fromMs: BigInt(T0 + 10 * DAY_MS), toMs: BigInt(T0 + 41 * DAY_MS) };
    const first = await entryRows(sql, bank, range, null, 1000);
    await explain('bank listing, 31 days, first page of 1000', () => entryRows(sql, bank, range, null, 1000));
    // Deep in the range: the cursor at day 35.
    const deep = await entryRows(sql, bank, { fromMs: BigInt(T0 + 35 * DAY_MS), toMs: range.toMs }, null, 1);
    const k = deep[0];
    const cursor: EntryKey = { atMs: k.at_ms, shard: k.shard, batchSeq: k.batch_seq, leafIndex: k.leaf, side: k.side };
    await explain('bank listing, 31 days, a page of 1000 past a cursor at day 35', () => entryRows(sql, bank, range, cursor, 1000));
    console.log(`(first page: ${first.length} rows)`);

    const treasury = { bankId: 'bank-07', treasuryWalletId: 't_bank-07' };
    const day = { startMs: BigInt(T0 + 30 * DAY_MS), endMs: BigInt(T0 + 31 * DAY_MS) };
    await explain('treasury statement: balance and sums over its history', () => treasuryTotals(sql, treasury, day.startMs, day.endMs));
    await explain('treasury statement: a page of the day', () => entryRows(sql, treasury, { fromMs: day.startMs, toMs: day.endMs }, null, 1000));

    // The write cost of the indexes this feature adds to transfers: the same rows inserted again,
    // with and without them, alternating (the machine is shared: medians of three rounds each).
    const definitions = await sql<{ indexdef: string }[]>`select indexdef from pg_indexes where indexname = any(${INDEXES_00013})`;
    await sql`create temp table copy as select * from transfers`;
    const insertMs = async () => {
      await sql`truncate transfers`;
      const started = performance.now();
      await sql`insert into transfers select * from copy`;
      return performance.now() - started;
    };
    const timings = { with: [] as number[], without: [] as number[] };
    for (let round = 0; round < 3; round++) {
      timings.with.push(await insertMs());
      for (const name of INDEXES_00013) await sql.unsafe(`drop index ${name}`);
      timings.without.push(await insertMs());
      for (const d of definitions) await sql.unsafe(d.indexdef);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
    const [w, wo] = [median(timings.with), median(timings.without)];
    console.log(
      `\ninsert of ${TRANSFERS} transfer rows (median of 3): ${Math.round(w)} ms with the 00013 indexes, ${Math.round(wo)} ms without (${Math.round((100 * (w - wo)) / wo)}% more; rounds ${JSON.stringify(timings, (_k, v) => (typeof v === 'number' ? Math.round(v) : v))})`,
    );
  } finally {
    await sql.end();
    await db.drop();
  }
}

await main();
