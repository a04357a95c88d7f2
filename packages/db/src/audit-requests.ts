/**
 * The audit of payment requests: each paid request names a transfer that names it, pays its payee
 * (its fixed amount, if it has one) and was applied in the batch that marked the request paid; and
 * each settled transfer that names a request is the one that request names, so no request is paid
 * twice. The transfer's request id is covered by its customer's signature (the settlement chain
 * check verifies it over the v2 bytes), so a request marked paid, or unpaid, by hand is named here.
 *
 * A request lives in its payee's shard group, the transfer in its payer's: what the other group
 * holds is read in that group's snapshot and, before a disagreement is named, again from its
 * current state (its snapshot may be older than this one's; see audit.ts).
 */
import { shardOf } from '@cbdc/shared/ids';
import type { AuditGroup, AuditRun } from './audit.js';
import type { Sql } from './connect.js';

const PAGE = 2000;

interface PaidRequestRow {
  id: string;
  payee_wallet_id: string;
  amount_minor: bigint | null;
  paid_by_transfer_id: string;
  paid_at_ms: bigint;
}

interface TransferRow {
  id: string;
  request_id: string | null;
  payee_wallet_id: string;
  amount_minor: bigint;
  leg_status: 'settled' | 'rejected' | 'debited';
  status: 'settled' | 'rejected' | 'in_flight';
  settled_at_ms: bigint;
}

/** Checks every group's paid requests and every group's settled transfers that name a request. */
export async function checkPaymentRequests(run: AuditRun): Promise<void> {
  for (const g of run.groups) {
    await checkPaidRequests(run, g);
    await checkRequestedTransfers(run, g);
  }
}

/** The group holding a wallet's shard (the only one in the one-database deployment). */
function groupOfWallet(run: AuditRun, walletId: string): AuditGroup {
  return run.shardCount === null ? run.groups[0] : run.groupOfShard(shardOf(walletId, run.shardCount));
}

async function transfersByIds(q: Sql, ids: string[]): Promise<Map<string, TransferRow>> {
  if (ids.length === 0) return new Map();
  const rows = await q<TransferRow[]>`select id, request_id, payee_wallet_id, amount_minor, leg_status, status, settled_at_ms from transfers where id = any(${ids})`;
  return new Map(rows.map((t) => [t.id, t]));
}

/** Why a paid request does not agree with the transfer it names (and that transfer's credit here), or null. */
function paidRequestProblem(r: PaidRequestRow, t: TransferRow | undefined, creditAtMs: bigint | undefined): string | null {
  if (!t) return `it is marked paid by transfer ${r.paid_by_transfer_id}, which is not recorded`;
  if (t.request_id !== r.id) return `it is marked paid by transfer ${t.id}, which names ${t.request_id === null ? 'no request' : `request ${t.request_id}`}`;
  if (t.payee_wallet_id !== r.payee_wallet_id) return `transfer ${t.id} pays ${t.payee_wallet_id}, not the request's payee ${r.payee_wallet_id}`;
  if (r.amount_minor !== null && t.amount_minor !== r.amount_minor) return `transfer ${t.id} pays ${t.amount_minor}, not the request's amount ${r.amount_minor}`;
  // Paid where the request lives: at settlement of a transfer within the shard, or by its applied credit.
  const paidAtMs = t.leg_status === 'settled' ? t.settled_at_ms : t.leg_status === 'debited' && t.status !== 'rejected' ? creditAtMs : undefined;
  if (paidAtMs === undefined) return `transfer ${t.id} did not settle (${t.status}), or its credit was not applied`;
  if (paidAtMs !== r.paid_at_ms) return `it is marked paid at ${r.paid_at_ms}, but transfer ${t.id} was applied at ${paidAtMs}`;
  return null;
}

async function checkPaidRequests(run: AuditRun, g: AuditGroup): Promise<void> {
  for (let after = ''; ; ) {
    const requests = await g.tx<PaidRequestRow[]>`
      select id, payee_wallet_id, amount_minor, paid_by_transfer_id, paid_at_ms from payment_requests
      where status = 'paid' and id > ${after} order by id limit ${PAGE}`;
    if (requests.length === 0) break;
    after = requests[requests.length - 1].id;
    const ids = requests.map((r) => r.paid_by_transfer_id);
    const credits = new Map(
      (await g.tx<{ transfer_id: string; settled_at_ms: bigint }[]>`select transfer_id, settled_at_ms from transfer_legs where leg = 'credit' and status = 'applied' and transfer_id = any(${ids})`).map((c) => [
        c.transfer_id,
        c.settled_at_ms,
      ]),
    );
    // The transfer is in its payer's group, which the request does not name: every group is asked.
    const found = new Map<string, TransferRow>();
    for (const other of run.groups) for (const [id, t] of await transfersByIds(other.tx, ids)) found.set(id, t);
    let doubtful = requests.filter((r) => paidRequestProblem(r, found.get(r.paid_by_transfer_id), credits.get(r.paid_by_transfer_id)) !== null);
    if (doubtful.length > 0 && run.groups.length > 1) {
      for (const other of run.groups) {
        if (other === g) continue;
        for (const [id, t] of await transfersByIds(
          other.pool,
          doubtful.map((r) => r.paid_by_transfer_id),
        ))
          found.set(id, t);
      }
      doubtful = doubtful.filter((r) => paidRequestProblem(r, found.get(r.paid_by_transfer_id), credits.get(r.paid_by_transfer_id)) !== null);
    }
    for (const r of doubtful) {
      run.find({ check: 'payment_requests', subject: `${g.prefix}payment request ${r.id}`, message: paidRequestProblem(r, found.get(r.paid_by_transfer_id), credits.get(r.paid_by_transfer_id))! });
    }
  }
}

interface RequestedTransfer {
  id: string;
  request_id: string;
  payee_wallet_id: string;
}

/** Each settled transfer in this group naming a request is the one its request (in the payee's group) is paid by. */
async function checkRequestedTransfers(run: AuditRun, g: AuditGroup): Promise<void> {
  for (let after = ''; ; ) {
    const transfers: RequestedTransfer[] = await g.tx<RequestedTransfer[]>`
      select id, request_id, payee_wallet_id from transfers where request_id is not null and status = 'settled' and id > ${after} order by id limit ${PAGE}`;
    if (transfers.length === 0) break;
    after = transfers[transfers.length - 1].id;
    const byGroup = new Map<AuditGroup, RequestedTransfer[]>();
    for (const t of transfers) {
      const at = groupOfWallet(run, t.payee_wallet_id);
      byGroup.set(at, [...(byGroup.get(at) ?? []), t]);
    }
    for (const [at, list] of byGroup) {
      const paidBy = async (q: Sql, ids: string[]) =>
        new Map((await q<{ id: string; status: string; paid_by_transfer_id: string | null }[]>`select id, status, paid_by_transfer_id from payment_requests where id = any(${ids})`).map((r) => [r.id, r]));
      const agrees = (t: RequestedTransfer, r: { status: string; paid_by_transfer_id: string | null } | undefined) => r?.status === 'paid' && r.paid_by_transfer_id === t.id;
      const snapshot = await paidBy(
        at.tx,
        list.map((t) => t.request_id),
      );
      let doubtful = list.filter((t) => !agrees(t, snapshot.get(t.request_id)));
      if (doubtful.length === 0) continue;
      const current = at === g ? snapshot : await paidBy(at.pool, [...new Set(doubtful.map((t) => t.request_id))]);
      doubtful = doubtful.filter((t) => !agrees(t, current.get(t.request_id)));
      for (const t of doubtful) {
        const r = current.get(t.request_id);
        const state = !r ? 'does not exist' : r.status === 'paid' ? `is marked paid by transfer ${r.paid_by_transfer_id}` : `is ${r.status}`;
        run.find({ check: 'payment_requests', subject: `${g.prefix}transfer ${t.id}`, message: `it settled paying request ${t.request_id}, which ${state} (a request is paid once, by the transfer it names)` });
      }
    }
  }
}
