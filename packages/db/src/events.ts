/**
 * Appending bank events (see @cbdc/shared/events) inside the transaction of the change they report.
 * The caller holds the shard's lock (the settlement head lock, or lockShard): that is what makes a
 * bank's seqs on a shard commit in order. One statement, whatever the number of events and banks.
 */
import type { NewEvent } from '@cbdc/shared/events';
import { arrayLiteral } from './array-literal.js';
import type { Queryable } from './connect.js';

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
}

export function encodeEvents(events: readonly NewEvent[]): EncodedEvents {
  const col = (f: (e: NewEvent) => string | bigint | null) => arrayLiteral(events.map(f));
  return {
    count: events.length,
    bank: col((e) => e.bankId),
    type: col((e) => e.type),
    subject: col((e) => e.subjectId),
    wallet: col((e) => e.walletId),
    amount: col((e) => e.amountMinor),
    code: col((e) => e.code),
    data: col((e) => (e.data ? JSON.stringify(e.data) : null)),
  };
}

/**
 * Appends events recorded on `shard` at `atMs`, in order (a bank's events get consecutive seqs in
 * the order given). Resolves when the statement is done; pass `encoded` to reuse encoded columns.
 */
export async function appendEvents(tx: Queryable, shard: number, atMs: number, events: readonly NewEvent[] | EncodedEvents): Promise<void> {
  const e = Array.isArray(events) ? encodeEvents(events as readonly NewEvent[]) : (events as EncodedEvents);
  if (e.count === 0) return;
  await tx`
    with input as (
      select * from unnest(${e.bank}::text[], ${e.type}::text[], ${e.subject}::text[], ${e.wallet}::text[], ${e.amount}::bigint[], ${e.code}::text[], ${e.data}::text[])
        with ordinality as u(bank_id, type, subject_id, wallet_id, amount_minor, code, data, ord)
    ), counts as (
      select bank_id, count(*)::bigint as n from input group by bank_id
    ), heads as (
      insert into event_heads (bank_id, shard, seq) select bank_id, ${shard}, n from counts
      on conflict (bank_id, shard) do update set seq = event_heads.seq + excluded.seq
      returning bank_id, seq
    )
    insert into events (bank_id, shard, seq, type, subject_id, wallet_id, amount_minor, code, data, at_ms)
    select i.bank_id, ${shard}, h.seq - c.n + row_number() over (partition by i.bank_id order by i.ord),
           i.type, i.subject_id, i.wallet_id, i.amount_minor, i.code, i.data::jsonb, ${atMs}
    from input i join counts c using (bank_id) join heads h using (bank_id)`.execute();
}
