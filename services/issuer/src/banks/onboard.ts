/**
 * Onboarding a bank (always under dual control): its row, its reserve account and its central
 * registry event in one central transaction; its treasury wallet row right after, in its shard's
 * group (`ensureTreasuries`, idempotent; the issuer's recovery pass creates any that a crash left
 * missing, and so does every issuance step before its leg).
 */
import type { Sql } from '@cbdc/db/connect';
import { shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import { ApiError } from '@cbdc/shared/problem';
import { appendActionEvent, type ActionHandler } from '../approvals/actions.js';
import { bankView, loadBanks } from './view.js';

export interface BankOnboarding {
  id: string;
  name: string;
  publicKey: Buffer;
  /** The operator who requested it, and the action that records both operators. */
  createdBy: string;
  actionId: string;
  shardCount: number;
}

const bankExists = (id: string) => new ApiError('bank_exists', `bank ${id} already exists`, { errors: [{ field: 'body/id', rule: 'unique', message: 'is taken' }] });

/** Creates the bank and its reserve account, in `tx` (central). */
export async function onboardBank(tx: Sql, b: BankOnboarding): Promise<void> {
  const treasury = treasuryWalletId(b.id);
  const inserted = await tx`
    insert into banks (id, name, public_key, treasury_wallet_id, created_by, action_id)
    values (${b.id}, ${b.name}, ${b.publicKey}, ${treasury}, ${b.createdBy}, ${b.actionId}) on conflict do nothing returning id`;
  if (inserted.length === 0) throw bankExists(b.id);
  await tx`insert into bank_reserves (bank_id) values (${b.id})`;
}

export const bankOnboardingAction: ActionHandler = {
  async check(tx, _ctx, action) {
    const [existing] = await tx`select id from banks where id = ${action.params.id}`;
    if (existing) throw bankExists(action.params.id);
  },
  async execute(tx, ctx, action) {
    const p = action.params;
    await onboardBank(tx, { id: p.id, name: p.name, publicKey: Buffer.from(p.publicKey, 'hex'), createdBy: action.requested_by, actionId: action.id, shardCount: ctx.shardCount });
    const treasury = treasuryWalletId(p.id);
    await appendActionEvent(tx, ctx, action, { kind: 'bank_onboarded', subject: p.id, facts: { name: p.name, publicKey: p.publicKey.toLowerCase(), treasuryWalletId: treasury, treasuryShard: String(shardOf(treasury, ctx.shardCount)) } });
    const [bank] = await loadBanks(tx, ctx, p.id);
    return bankView(bank);
  },
};
