/**
 * The audit of issuance across servers: every treasury leg in a group's database against the
 * central records (the request, and for a mint the signed chain entry whose seq and hash it
 * carries), every executed or refused request against its leg, and the issuance in flight.
 */
import { shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import type { AuditGroup, AuditRun } from './audit.js';

interface RequestRow {
  id: string;
  kind: 'mint' | 'retire';
  bank_id: string;
  amount_minor: bigint;
  status: 'pending_approval' | 'retiring' | 'executed' | 'refused';
  leg_status: 'sent' | 'delivered' | null;
}

interface LegRow {
  request_id: string;
  kind: 'mint' | 'retire';
  bank_id: string;
  treasury_wallet_id: string;
  shard: number;
  amount_minor: bigint;
  status: 'applied' | 'rejected';
  code: string | null;
  chain_seq: bigint | null;
  entry_hash: Buffer | null;
}

/**
 * Checks the treasury legs of every group and returns the issuance in flight: executed mints whose
 * leg no group has applied yet (leg `sent`), and retires whose leg a group applied but whose chain
 * entry is not yet appended (`retiring`). Issuance is rare: every request and leg is read at once.
 */
export async function checkIssuanceLegs(run: AuditRun): Promise<bigint> {
  const requests = new Map(
    (await run.tx<RequestRow[]>`select id, kind, bank_id, amount_minor, status, leg_status from issuance_requests where status <> 'pending_approval' or id in (select request_id from issuance_chain)`).map((r) => [r.id, r]),
  );
  const entries = new Map((await run.tx<{ seq: bigint; hash: Buffer; request_id: string }[]>`select seq, hash, request_id from issuance_chain`).map((e) => [e.request_id, e]));
  const legs = new Map<string, { leg: LegRow; group: AuditGroup }>();
  for (const g of run.groups) {
    const rows = await g.tx<LegRow[]>`select request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, code, chain_seq, entry_hash from issuance_legs order by request_id`;
    for (const leg of rows) {
      const subject = `${g.prefix}issuance leg ${leg.request_id}`;
      const earlier = legs.get(leg.request_id);
      if (earlier) {
        run.find({ check: 'issuance_legs', subject, message: `request ${leg.request_id} has a treasury leg in group ${earlier.group.id} too` });
        continue;
      }
      legs.set(leg.request_id, { leg, group: g });
      for (const message of legProblems(run, g, leg, requests.get(leg.request_id), entries.get(leg.request_id))) run.find({ check: 'issuance_legs', subject, message });
    }
  }
  let inFlight = 0n;
  for (const r of requests.values()) {
    const found = legs.get(r.id)?.leg;
    const subject = `issuance request ${r.id}`;
    const applied = found?.status === 'applied';
    if (r.kind === 'mint' && r.status === 'executed' && !applied) {
      if (r.leg_status === 'sent') inFlight += r.amount_minor;
      else run.find({ check: 'issuance_legs', subject, message: `its mint of ${r.amount_minor} is delivered, but no group holds its applied treasury leg` });
    }
    if (r.kind === 'retire' && r.status === 'executed' && !applied) run.find({ check: 'issuance_legs', subject, message: `its retire of ${r.amount_minor} is executed, but no group holds its applied treasury debit` });
    if (r.kind === 'retire' && r.status === 'refused' && found?.status !== 'rejected') run.find({ check: 'issuance_legs', subject, message: 'it is refused, but no group recorded its treasury debit as refused' });
    if (r.kind === 'retire' && r.status === 'retiring' && applied) inFlight += r.amount_minor;
  }
  return inFlight;
}

function legProblems(run: AuditRun, g: AuditGroup, leg: LegRow, request: RequestRow | undefined, entry: { seq: bigint; hash: Buffer } | undefined): string[] {
  const problems: string[] = [];
  if (leg.treasury_wallet_id !== treasuryWalletId(leg.bank_id)) problems.push(`it moves wallet ${leg.treasury_wallet_id}, which is not bank ${leg.bank_id}'s treasury`);
  if (run.shardCount !== null && leg.shard !== shardOf(leg.treasury_wallet_id, run.shardCount)) problems.push(`it names shard ${leg.shard}, but ${leg.treasury_wallet_id} is on shard ${shardOf(leg.treasury_wallet_id, run.shardCount)}`);
  if (g.shards !== null && !g.shards.includes(leg.shard)) problems.push(`it is in the database of group ${g.id}, which does not hold shard ${leg.shard}`);
  if (!request) return [...problems, 'no issuance request in the central database accounts for it'];
  if (request.kind !== leg.kind || request.bank_id !== leg.bank_id || request.amount_minor !== leg.amount_minor)
    problems.push(`its kind, bank or amount (${leg.kind} ${leg.bank_id} ${leg.amount_minor}) differ from its request's (${request.kind} ${request.bank_id} ${request.amount_minor})`);
  if (leg.kind === 'mint') {
    if (request.status !== 'executed') problems.push(`it credits a mint whose request is ${request.status}`);
    if (!entry || leg.chain_seq !== entry.seq || !leg.entry_hash?.equals(entry.hash)) problems.push(`it does not carry the signed issuance entry that executed its request (${entry ? `entry ${entry.seq}` : 'none'})`);
  } else {
    if (request.status === 'pending_approval') problems.push('it debits the treasury for a retire that was never approved');
    if (request.status === 'executed' && leg.status !== 'applied') problems.push('its retire is executed, but the leg records the debit as refused');
    if (request.status === 'refused' && leg.status !== 'rejected') problems.push('its retire is refused, but the leg records the debit as applied');
  }
  return problems;
}
