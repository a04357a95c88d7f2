/**
 * Appending bank events (see @cbdc/shared/events) inside the transaction of the change they report.
 * The caller holds the shard's lock (the settlement head lock, or lockShard): that is what makes a
 * bank's seqs on a shard commit in order. One statement, whatever the number of events and banks.
 */
import type { NewEvent, StoredEvent } from '@cbdc/shared/events';
import { arrayLiteral } from './array-literal.js';
import type { Queryable, Sql } from './connect.js';

/** The events' columns as array literals, built ahead of the statement (settlement encodes while the previous batch commits). */
export interface EncodedEvents {
  count: number;
  bank: string;
  type: string;
  subject: string;
  wallet: string;
  amount: string;
  code: string;
  data: string;
  /** Each event's place among its bank's events of this append (1, 2, ...): its seq is the bank's head before it plus this. */
  ord: string;
  /** The banks of the append and how many events each has. */
  banks: string;
  counts: string;
}

export function encodeEvents(events: readonly NewEvent[]): EncodedEvents {
  const col = (f: (e: NewEvent) => string | bigint | number | null) => arrayLiteral(events.map(f));
  const counts = new Map<string, number>();
  const ord = events.map((e) => {
    const n = (counts.get(e.bankId) ?? 0) + 1;
    counts.set(e.bankId, n);
    return n;
  });
  return {
    count: events.length,
    bank: col((e) => e.bankId),
    type: col((e) => e.type),
    subject: col((e) => e.subjectId),
    wallet: col((e) => e.walletId),
    amount: col((e) => e.amountMinor),
    code: col((e) => e.code),
    data: col((e) => (e.data ? JSON.stringify(e.data) : null)),
    ord: arrayLiteral(ord),
    banks: arrayLiteral([...counts.keys()]),
    counts: arrayLiteral([...counts.values()]),
  };
}

/**
 * Appends events recorded on `shard` at `atMs`, in order (a bank's events get consecutive seqs in
 * the order given). Resolves when the statement is done; pass `encoded` to reuse encoded columns.
 */
export async function appendEvents(tx: Queryable, shard: number, atMs: number, events: readonly NewEvent[] | EncodedEvents): Promise<void> {
  const e = Array.isArray(events) ? encodeEvents(events as readonly NewEvent[]) : (events as EncodedEvents);
  if (e.count === 0) return;
  // Each bank's head moves by its count once (the head row lock orders concurrent appenders); each
  // event's seq is the new head minus the bank's count plus its place, numbered in encodeEvents, so
  // the statement needs no sort and no window.
  await tx`
    with heads as (
      insert into event_heads (bank_id, shard, seq) select b, ${shard}, n from unnest(${e.banks}::text[], ${e.counts}::bigint[]) as c(b, n)
      on conflict (bank_id, shard) do update set seq = event_heads.seq + excluded.seq
      returning bank_id, seq
    ), bases as (
      select h.bank_id, h.seq - c.n as base from heads h join unnest(${e.banks}::text[], ${e.counts}::bigint[]) as c(bank_id, n) using (bank_id)
    )
    insert into events (bank_id, shard, seq, type, subject_id, wallet_id, amount_minor, code, data, at_ms)
    select i.bank_id, ${shard}, b.base + i.ord, i.type, i.subject_id, i.wallet_id, i.amount_minor, i.code, i.data::jsonb, ${atMs}
    from unnest(${e.bank}::text[], ${e.type}::text[], ${e.subject}::text[], ${e.wallet}::text[], ${e.amount}::bigint[], ${e.code}::text[], ${e.data}::text[], ${e.ord}::int[])
      as i(bank_id, type, subject_id, wallet_id, amount_minor, code, data, ord)
    join bases b using (bank_id)`.execute();
}

/** Where a bank's events on a shard start (after `prunedSeq`, the retention's last pruned seq) and end (`headSeq`). */
export interface EventSpan {
  prunedSeq: bigint;
  headSeq: bigint;
}

/** The span of `bankId`'s events on each of `shards` (absent shards: none yet, nothing pruned). */
export async function eventSpans(q: Queryable, bankId: string, shards: readonly number[]): Promise<Map<number, EventSpan>> {
  const rows = await q<{ shard: number; pruned_seq: bigint; head_seq: bigint }[]>`
    select s.shard, coalesce(r.pruned_seq, 0)::bigint as pruned_seq, coalesce(h.seq, 0)::bigint as head_seq
    from unnest(${shards as number[]}::int[]) as s(shard)
    left join event_retention r on r.bank_id = ${bankId} and r.shard = s.shard
    left join event_heads h on h.bank_id = ${bankId} and h.shard = s.shard`;
  return new Map(rows.map((r) => [r.shard, { prunedSeq: r.pruned_seq, headSeq: r.head_seq }]));
}

/**
 * Up to `limit` of `bankId`'s events on each shard after its position, in seq order, of the given
 * types (every type when null): one statement for all the shards of a database. A transfer event
 * comes with its transfer row's wallets (the counterparty), recorded on the same shard.
 */
export async function eventsAfter(q: Queryable, bankId: string, positions: ReadonlyArray<{ shard: number; after: bigint }>, limit: number, types: readonly string[] | null): Promise<StoredEvent[]> {
  if (positions.length === 0) return [];
  return q<StoredEvent[]>`
    select e.bank_id, e.shard, e.seq, e.type, e.subject_id, e.wallet_id, e.amount_minor, e.code, e.data, e.at_ms, t.payer_wallet_id, t.payee_wallet_id
    from unnest(${positions.map((p) => p.shard)}::int[], ${positions.map((p) => p.after.toString())}::bigint[]) as p(shard, after)
    cross join lateral (
      select * from events
      where bank_id = ${bankId} and shard = p.shard and seq > p.after ${types === null ? q`` : q`and type = any(${types as string[]})`}
      order by seq limit ${limit}
    ) e
    left join transfers t on t.id = e.subject_id and t.shard = e.shard and e.type in ('transfer.settled', 'transfer.rejected', 'payment.received')
    order by e.shard, e.seq`;
}

/** The advisory lock one pruner of a database holds while it prunes ("CBDC" and 2). */
const EVENT_PRUNE_LOCK = 0x4342_4443_0000_0002n;

/**
 * Prunes up to `rowsMax` events recorded before `cutoffMs` from one database, as a prefix of each
 * bank's seqs per shard: the newest pruned seq of each is recorded in `event_retention`, and any
 * event at or below it goes too (a later commit may carry an earlier time). Returns how many it
 * deleted; 0 when another pruner holds this database.
 */
export async function pruneEvents(sql: Sql, cutoffMs: number, rowsMax: number): Promise<number> {
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ held: boolean }[]>`select pg_try_advisory_xact_lock(${EVENT_PRUNE_LOCK.toString()}::bigint) as held`;
    if (!lock.held) return 0;
    const marks = await tx<{ bank_id: string; shard: number; upto: bigint; n: number }[]>`
      with doomed as (
        select bank_id, shard, seq from events where at_ms < ${cutoffMs} limit ${rowsMax}
      ), gone as (
        delete from events e using doomed d where e.bank_id = d.bank_id and e.shard = d.shard and e.seq = d.seq
        returning e.bank_id, e.shard, e.seq
      )
      select bank_id, shard, max(seq) as upto, count(*)::int as n from gone group by bank_id, shard`;
    if (marks.length === 0) return 0;
    const banks = marks.map((m) => m.bank_id);
    const shards = marks.map((m) => m.shard);
    const uptos = marks.map((m) => m.upto.toString());
    await tx`
      insert into event_retention (bank_id, shard, pruned_seq)
      select * from unnest(${banks}::text[], ${shards}::int[], ${uptos}::bigint[])
      on conflict (bank_id, shard) do update set pruned_seq = greatest(event_retention.pruned_seq, excluded.pruned_seq)`;
    const stragglers = await tx`
      delete from events e using unnest(${banks}::text[], ${shards}::int[], ${uptos}::bigint[]) as m(bank_id, shard, upto)
      where e.bank_id = m.bank_id and e.shard = m.shard and e.seq <= m.upto`;
    return marks.reduce((n, m) => n + m.n, 0) + stragglers.count;
  }) as Promise<number>;
}
