/**
 * The audit of the banks' events (docs/events.md) against the ledger, within retention (pruned
 * events are gone; the ledger is not). Each group's events are checked against that group's own
 * rows, where the change they report was committed in the same transaction:
 *
 * - seqs: each bank's events on a shard are exactly pruned_seq+1 .. head, no gap, none extra;
 * - transfer.settled / transfer.rejected: the transfer row exists on the event's shard, of the
 *   event's bank, with the event's amount and final status;
 * - payment.received: a settled transfer, an applied credit leg, or a hold captured to a payee on
 *   its own shard, on the event's shard, paid to the event's wallet, of its amount;
 * - treasury.minted / treasury.retired: the applied issuance leg of that request, kind, bank and amount;
 * - wallet.frozen / wallet.unfrozen: a wallet of the event's bank on its shard.
 *
 * Types other writers add (holds, requests, wallet changes) are counted in the seq check only. It
 * is one grouped scan and a few joins per group, beside the transfer checks the audit makes anyway.
 */
import type { AuditGroup, AuditRun } from './audit.js';

const LIMIT = 100;

/** Checks one group's events; returns how many it holds. */
export async function checkEvents(run: AuditRun, g: AuditGroup): Promise<number> {
  const spans = await g.tx<{ bank_id: string; shard: number; n: bigint; low: bigint | null; high: bigint | null; pruned: bigint; head: bigint | null }[]>`
    with counted as (select bank_id, shard, count(*)::bigint as n, min(seq) as low, max(seq) as high from events group by bank_id, shard)
    select coalesce(c.bank_id, h.bank_id) as bank_id, coalesce(c.shard, h.shard) as shard, coalesce(c.n, 0)::bigint as n, c.low, c.high,
           coalesce(r.pruned_seq, 0)::bigint as pruned, h.seq as head
    from counted c full join event_heads h on h.bank_id = c.bank_id and h.shard = c.shard
    left join event_retention r on r.bank_id = coalesce(c.bank_id, h.bank_id) and r.shard = coalesce(c.shard, h.shard)`;
  let total = 0;
  for (const s of spans) {
    total += Number(s.n);
    const head = s.head ?? 0n;
    const expected = head > s.pruned ? head - s.pruned : 0n;
    const contiguous = s.n === expected && (s.n === 0n || (s.low === s.pruned + 1n && s.high === head));
    if (!contiguous)
      run.find({
        check: 'events',
        subject: `${g.prefix}events of bank ${s.bank_id} on shard ${s.shard}`,
        message: `hold ${s.n} event(s), seqs ${s.low ?? '-'}..${s.high ?? '-'}, where retention and head say ${s.pruned + 1n}..${head}`,
      });
  }
  const wrong = await g.tx<{ bank_id: string; shard: number; seq: bigint; type: string; subject_id: string; problem: string }[]>`
    select e.bank_id, e.shard, e.seq, e.type, e.subject_id,
           case when t.id is null then 'its transfer is not recorded on this shard' else 'its transfer has another bank, amount or outcome' end as problem
    from events e left join transfers t on t.id = e.subject_id and t.shard = e.shard
    where e.type in ('transfer.settled', 'transfer.rejected')
      and (t.id is null or t.bank_id <> e.bank_id or t.amount_minor <> e.amount_minor or t.status <> substr(e.type, 10))
    union all
    select e.bank_id, e.shard, e.seq, e.type, e.subject_id, 'no settled transfer or applied credit on this shard pays its wallet its amount'
    from events e
    where e.type = 'payment.received'
      and not exists (select 1 from transfers t where t.id = e.subject_id and t.shard = e.shard and t.status = 'settled' and t.payee_wallet_id = e.wallet_id and t.amount_minor = e.amount_minor)
      and not exists (select 1 from transfer_legs l where l.transfer_id = e.subject_id and l.shard = e.shard and l.leg = 'credit' and l.status = 'applied' and l.wallet_id = e.wallet_id and l.amount_minor = e.amount_minor)
      and not exists (select 1 from holds h where h.id = e.subject_id and h.shard = e.shard and h.capture_leg_status = 'settled' and h.payee_wallet_id = e.wallet_id and h.captured_minor = e.amount_minor)
    union all
    select e.bank_id, e.shard, e.seq, e.type, e.subject_id, 'no applied treasury leg of this request, bank, kind and amount'
    from events e
    where e.type in ('treasury.minted', 'treasury.retired')
      and not exists (select 1 from issuance_legs l where l.request_id = e.subject_id and l.status = 'applied' and l.bank_id = e.bank_id and l.amount_minor = e.amount_minor
                        and l.kind = case e.type when 'treasury.minted' then 'mint' else 'retire' end and l.treasury_wallet_id = e.wallet_id)
    union all
    select e.bank_id, e.shard, e.seq, e.type, e.subject_id, 'no wallet of this bank on this shard'
    from events e
    where e.type in ('wallet.frozen', 'wallet.unfrozen') and not exists (select 1 from wallets w where w.id = e.subject_id and w.bank_id = e.bank_id and w.shard = e.shard)
    order by 2, 3 limit ${LIMIT}`;
  for (const e of wrong) run.find({ check: 'events', subject: `${g.prefix}event evt_${e.shard}_${e.seq} of bank ${e.bank_id}`, message: `${e.type} of ${e.subject_id}: ${e.problem}` });
  return total;
}
