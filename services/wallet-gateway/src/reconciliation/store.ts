/**
 * Reading entries from one shard group's database (the order and the cursor are in ./entries.ts).
 * Each source is one index range (migration 00012_reconciliation): a bank's rows by (bank, time, shard, batch
 * seq, leaf index), a treasury's by (wallet, time, ...). A page reads at most `limit` + 1 rows of
 * each source past the cursor, already in key order, and keeps the first `limit` + 1 of them.
 */
import type { Queryable } from '@cbdc/db/connect';
import type { EntryKey, EntryRow } from './entries.js';

/** Whose entries: every wallet of a bank, or only the movements of its treasury. */
export interface EntryScope {
  bankId: string;
  /** Only this treasury's movements (refused requests, which move nothing, are left out). */
  treasuryWalletId?: string;
}

type Q = Queryable;
type Fragment = ReturnType<Q['unsafe']>;

/** The side of the key an entry source is compared on; `after`: keys above K; `upTo`: keys at or below K. */
type Direction = 'after' | 'upTo';

/**
 * The condition "the entry's key is above (or at most) K" for a source whose rows have the key
 * (time, shard, seq, leaf, side). Debits (side 0) compare on the first four columns alone; a
 * credit (side 1) of the same leaf as a debit K comes after it.
 */
function leafKeyCondition(sql: Q, cols: { at: string; shard: string; seq: string; leaf: string }, side: 0 | 1, k: EntryKey | null, direction: Direction): Fragment {
  if (k === null) return sql``;
  const tuple = sql.unsafe(`(${cols.at}, ${cols.shard}, ${cols.seq}, ${cols.leaf})`);
  const against = sql`(${k.atMs.toString()}::bigint, ${k.shard}::int, ${k.batchSeq.toString()}::bigint, ${k.leafIndex.toString()}::bigint)`;
  const inclusive = side === 1 && k.side === 0;
  if (direction === 'after') return inclusive ? sql`and ${tuple} >= ${against}` : sql`and ${tuple} > ${against}`;
  return inclusive ? sql`and ${tuple} < ${against}` : sql`and ${tuple} <= ${against}`;
}

/**
 * The same for issuance legs, whose key is (time, shard, 0, leg number): past a leaf K (seq >= 1)
 * only the time and shard decide; past another issuance leg the leg number does too. Written on the
 * index's own columns, so that the comparison bounds the index range.
 */
function issuanceKeyCondition(sql: Q, k: EntryKey | null, direction: Direction): Fragment {
  if (k === null) return sql``;
  const op = direction === 'after' ? sql`>` : sql`<=`;
  if (k.batchSeq === 0n) return sql`and (i.applied_at_ms, i.shard, i.leg_no) ${op} (${k.atMs.toString()}::bigint, ${k.shard}::int, ${k.leafIndex.toString()}::bigint)`;
  return sql`and (i.applied_at_ms, i.shard) ${op} (${k.atMs.toString()}::bigint, ${k.shard}::int)`;
}

/** The row filters of each source for a scope: the bank's own rows, or one treasury's movements (on its partial indexes). */
function scopeFilters(sql: Q, s: EntryScope) {
  const t = s.treasuryWalletId;
  if (t === undefined) {
    return {
      // The bank's requests; a refused one only if its payer is the bank's (a forged job may name another's).
      payer: sql`t.bank_id = ${s.bankId} and (t.leg_status <> 'rejected' or exists (select 1 from wallets w where w.id = t.payer_wallet_id and w.bank_id = ${s.bankId}))`,
      payee: sql`t.payee_bank_id = ${s.bankId}`,
      leg: sql`l.bank_id = ${s.bankId}`,
      issuance: sql`i.bank_id = ${s.bankId}`,
    };
  }
  return {
    payer: sql`t.payer_wallet_id = ${t} and left(t.payer_wallet_id, 2) = 't_' and t.leg_status <> 'rejected'`,
    payee: sql`t.payee_wallet_id = ${t} and t.payee_bank_id is not null and left(t.payee_wallet_id, 2) = 't_'`,
    leg: sql`l.wallet_id = ${t} and l.bank_id is not null and left(l.wallet_id, 2) = 't_'`,
    issuance: sql`i.bank_id = ${s.bankId} and i.treasury_wallet_id = ${t} and i.status = 'applied'`,
  };
}

const T_COLS = { at: 't.settled_at_ms', shard: 't.shard', seq: 't.batch_seq', leaf: 't.leaf_index' };
const L_COLS = { at: 'l.settled_at_ms', shard: 'l.shard', seq: 'l.batch_seq', leaf: 'l.leaf_index' };

/** Up to `limit` + 1 entries of `scope` in this database with a time in [fromMs, toMs) and a key above `after`, in key order. */
export async function entryRows(sql: Q, scope: EntryScope, range: { fromMs: bigint; toMs: bigint }, after: EntryKey | null, limit: number): Promise<EntryRow[]> {
  const f = scopeFilters(sql, scope);
  const n = limit + 1;
  const from = range.fromMs.toString();
  const to = range.toMs.toString();
  return sql<EntryRow[]>`
    select * from (
      (select 'payer' as source, t.settled_at_ms as at_ms, t.shard, t.batch_seq, t.leaf_index::bigint as leaf, 0 as side, t.id as subject_id, t.kind, null::text as leg,
              t.payer_wallet_id as wallet_id, t.payer_wallet_id, t.payee_wallet_id, t.amount_minor, t.leg_status <> 'rejected' as applied, t.status, t.code, null::int as from_shard
       from transfers t
       where ${f.payer} and t.settled_at_ms >= ${from} and t.settled_at_ms < ${to} ${leafKeyCondition(sql, T_COLS, 0, after, 'after')}
       order by t.settled_at_ms, t.shard, t.batch_seq, t.leaf_index limit ${n})
      union all
      (select 'payee', t.settled_at_ms, t.shard, t.batch_seq, t.leaf_index::bigint, 1, t.id, t.kind, null,
              t.payee_wallet_id, t.payer_wallet_id, t.payee_wallet_id, t.amount_minor, true, t.status, t.code, null
       from transfers t
       where ${f.payee} and t.settled_at_ms >= ${from} and t.settled_at_ms < ${to} ${leafKeyCondition(sql, T_COLS, 1, after, 'after')}
       order by t.settled_at_ms, t.shard, t.batch_seq, t.leaf_index limit ${n})
      union all
      (select 'leg', l.settled_at_ms, l.shard, l.batch_seq, l.leaf_index::bigint, 1, l.transfer_id, null, l.leg,
              l.wallet_id, null, null, l.amount_minor, true, null, l.code, l.from_shard
       from transfer_legs l
       where ${f.leg} and l.settled_at_ms >= ${from} and l.settled_at_ms < ${to} ${leafKeyCondition(sql, L_COLS, 1, after, 'after')}
       order by l.settled_at_ms, l.shard, l.batch_seq, l.leaf_index limit ${n})
      union all
      (select 'issuance', i.applied_at_ms, i.shard, 0::bigint, i.leg_no, case i.kind when 'mint' then 1 else 0 end, i.request_id, i.kind, null,
              i.treasury_wallet_id, null, null, i.amount_minor, i.status = 'applied', i.status, i.code, null
       from issuance_legs i
       where ${f.issuance} and i.applied_at_ms >= ${from} and i.applied_at_ms < ${to} ${issuanceKeyCondition(sql, after, 'after')}
       order by i.applied_at_ms, i.shard, i.leg_no limit ${n})
    ) e
    order by at_ms, shard, batch_seq, leaf, side limit ${n}`;
}

/**
 * The movements of treasury `walletId` (signed: credits positive) as (time, amount), over its
 * whole history, with the filters of the treasury indexes, optionally only those with a key at or
 * below `upTo` in [fromMs, toMs).
 */
function treasuryFlows(sql: Q, scope: Required<EntryScope>, upTo: { key: EntryKey; fromMs: bigint; toMs: bigint } | null): Fragment {
  const f = scopeFilters(sql, scope);
  const within = (col: string) => (upTo === null ? sql`` : sql`and ${sql.unsafe(col)} >= ${upTo.fromMs.toString()} and ${sql.unsafe(col)} < ${upTo.toMs.toString()}`);
  const k = upTo?.key ?? null;
  return sql`
    select t.settled_at_ms as at, -t.amount_minor as delta from transfers t where ${f.payer} ${within('t.settled_at_ms')} ${leafKeyCondition(sql, T_COLS, 0, k, 'upTo')}
    union all select t.settled_at_ms, t.amount_minor from transfers t where ${f.payee} ${within('t.settled_at_ms')} ${leafKeyCondition(sql, T_COLS, 1, k, 'upTo')}
    union all select l.settled_at_ms, l.amount_minor from transfer_legs l where ${f.leg} ${within('l.settled_at_ms')} ${leafKeyCondition(sql, L_COLS, 1, k, 'upTo')}
    union all select i.applied_at_ms, case i.kind when 'mint' then i.amount_minor else -i.amount_minor end from issuance_legs i where ${f.issuance} ${within('i.applied_at_ms')} ${issuanceKeyCondition(sql, k, 'upTo')}`;
}

/** What a treasury's statement of [startMs, endMs) sums, read in one snapshot. */
export interface TreasuryTotals {
  /** The balance now, and the movements before the day, on it and after it. */
  balanceMinor: bigint;
  beforeMinor: bigint;
  afterMinor: bigint;
  creditsMinor: bigint;
  debitsMinor: bigint;
  creditCount: number;
  debitCount: number;
}

/** The treasury's balance and its movements summed before, during and after [startMs, endMs); null if it has no row here. */
export async function treasuryTotals(sql: Q, scope: Required<EntryScope>, startMs: bigint, endMs: bigint): Promise<TreasuryTotals | null> {
  const [wallet] = await sql<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${scope.treasuryWalletId} and bank_id = ${scope.bankId} and kind = 'treasury'`;
  if (!wallet) return null;
  const start = startMs.toString();
  const end = endMs.toString();
  const [row] = await sql<{ before: string; after: string; credits: string; debits: string; credit_count: string; debit_count: string }[]>`
    with flows as (${treasuryFlows(sql, scope, null)})
    select coalesce(sum(delta) filter (where at < ${start}), 0)::text as before,
           coalesce(sum(delta) filter (where at >= ${end}), 0)::text as after,
           coalesce(sum(delta) filter (where at >= ${start} and at < ${end} and delta > 0), 0)::text as credits,
           coalesce(-sum(delta) filter (where at >= ${start} and at < ${end} and delta < 0), 0)::text as debits,
           count(*) filter (where at >= ${start} and at < ${end} and delta > 0)::text as credit_count,
           count(*) filter (where at >= ${start} and at < ${end} and delta < 0)::text as debit_count
    from flows`;
  return {
    balanceMinor: wallet.balance_minor,
    beforeMinor: BigInt(row.before),
    afterMinor: BigInt(row.after),
    creditsMinor: BigInt(row.credits),
    debitsMinor: BigInt(row.debits),
    creditCount: Number(row.credit_count),
    debitCount: Number(row.debit_count),
  };
}

/** The net of the treasury's movements in [fromMs, toMs) up to and including key `upTo` (for a page's running balance). */
export async function treasuryNetUpTo(sql: Q, scope: Required<EntryScope>, range: { fromMs: bigint; toMs: bigint }, upTo: EntryKey): Promise<bigint> {
  const [row] = await sql<{ net: string }[]>`select coalesce(sum(delta), 0)::text as net from (${treasuryFlows(sql, scope, { key: upTo, ...range })}) f`;
  return BigInt(row.net);
}
