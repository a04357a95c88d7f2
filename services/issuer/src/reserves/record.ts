/** Recording a reserve entry (deposit or withdrawal, as RTGS reports it); its reference is unique per bank. */
import type { Sql } from '@cbdc/db/connect';
import { planReserveWithdrawal } from '@cbdc/shared/issuance';
import { ApiError } from '@cbdc/shared/problem';
import { appendActionEvent, type ActionHandler, type OperatorActionRow } from '../approvals/actions.js';
import { bankView, loadBanks } from '../banks/view.js';

export interface ReserveEntry {
  bankId: string;
  kind: 'deposit' | 'withdrawal';
  amountMinor: bigint;
  reference: string;
  operatorId: string;
  actionId: string;
}

const bankNotFound = (id: string) => new ApiError('bank_not_found', `no bank ${id}`, { errors: [{ field: 'params/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
const referenceTaken = (bankId: string, reference: string) =>
  new ApiError('reserve_reference_exists', `reference ${reference} is already recorded or pending for bank ${bankId}`, {
    errors: [{ field: 'body/reference', rule: 'unique_per_bank', message: 'is already recorded (or pending) for this bank' }],
  });
const noFreeReserve = (bankId: string, free: bigint) => new ApiError('insufficient_reserve', `bank ${bankId} has ${free} fen of free reserve; pledged backing cannot be withdrawn`);

/** Moves the bank's free reserve and records the entry, in `tx` (locks the bank's reserve row). */
export async function recordReserveEntry(tx: Sql, e: ReserveEntry): Promise<string> {
  const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${e.bankId} for update`;
  if (!reserve) throw bankNotFound(e.bankId);
  let free = reserve.free_minor + e.amountMinor;
  if (e.kind === 'withdrawal') {
    const next = planReserveWithdrawal(reserve.free_minor, e.amountMinor);
    if (next === 'insufficient_reserve') throw noFreeReserve(e.bankId, reserve.free_minor);
    free = next;
  }
  const inserted = await tx`
    insert into reserve_entries (bank_id, kind, amount_minor, reference, operator_id, action_id)
    values (${e.bankId}, ${e.kind}, ${e.amountMinor.toString()}, ${e.reference}, ${e.operatorId}, ${e.actionId})
    on conflict (bank_id, reference) do nothing returning id`;
  if (inserted.length === 0) throw referenceTaken(e.bankId, e.reference);
  await tx`update bank_reserves set free_minor = ${free.toString()} where bank_id = ${e.bankId}`;
  return String(inserted[0].id);
}

const entryKindOf = (action: OperatorActionRow) => (action.kind === 'reserve_withdrawal' ? 'withdrawal' : 'deposit');

export const reserveEntryAction: ActionHandler = {
  async check(tx, ctx, action) {
    const bankId = action.bank_id!;
    const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${bankId}`;
    if (!reserve) throw bankNotFound(bankId);
    const reference = action.params.reference;
    const [taken] = await tx`
      select 1 from reserve_entries where bank_id = ${bankId} and reference = ${reference}
      union all
      select 1 from operator_actions where bank_id = ${bankId} and kind in ('reserve_deposit', 'reserve_withdrawal') and params->>'reference' = ${reference}
        and status = 'pending_approval' and expires_at > ${new Date(ctx.now())} and id <> ${action.id}
      limit 1`;
    if (taken) throw referenceTaken(bankId, reference);
    if (entryKindOf(action) === 'withdrawal' && reserve.free_minor < action.amount_minor!) throw noFreeReserve(bankId, reserve.free_minor);
  },
  async execute(tx, ctx, action) {
    const bankId = action.bank_id!;
    const kind = entryKindOf(action);
    const entryId = await recordReserveEntry(tx, { bankId, kind, amountMinor: action.amount_minor!, reference: action.params.reference, operatorId: action.requested_by, actionId: action.id });
    await appendActionEvent(tx, ctx, action, { kind: 'reserve_entry', subject: bankId, facts: { entryId, kind, amountMinor: action.amount_minor!.toString(), reference: action.params.reference } });
    const [bank] = await loadBanks(tx, ctx, bankId);
    return bankView(bank);
  },
};
