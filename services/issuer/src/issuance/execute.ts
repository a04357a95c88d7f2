/**
 * Executing a mint or retire: one transaction that locks the issuance head, the treasury's
 * shard head, the bank's reserve row and its treasury wallet (in that order), applies the pure rule, appends the signed chain
 * entry and moves reserve, supply and treasury balance together.
 */
import type { Sql } from '@cbdc/db/connect';
import { lockShard } from '@cbdc/db/shard-lock';
import { issuanceEntryHash, type IssuanceEntry } from '@cbdc/shared/chains';
import type { Signer } from '@cbdc/shared/crypto';
import { treasuryWalletId } from '@cbdc/shared/ids';
import { planMint, planRetire } from '@cbdc/shared/issuance';
import { ApiError } from '@cbdc/shared/problem';
import type { ActionHandler } from '../approvals/actions.js';

export interface IssuanceRequestRow {
  id: string;
  kind: 'mint' | 'retire';
  bank_id: string;
  amount_minor: bigint;
  requested_by: string;
  approved_by: string | null;
  status: 'pending_approval' | 'executed';
  chain_seq: bigint | null;
  created_at: Date;
  executed_at: Date | null;
}

export function issuanceView(r: IssuanceRequestRow) {
  return {
    id: r.id,
    kind: r.kind,
    bankId: r.bank_id,
    amountMinor: r.amount_minor.toString(),
    requestedBy: r.requested_by,
    approvedBy: r.approved_by,
    status: r.status,
    chainSeq: r.chain_seq === null ? null : r.chain_seq.toString(),
    createdAt: r.created_at.toISOString(),
    executedAt: r.executed_at ? r.executed_at.toISOString() : null,
  };
}

/** Registers the issuer's public key, or refuses if the chain is bound to another key. */
export async function registerIssuerKey(sql: Sql, signer: Signer): Promise<void> {
  await sql`update issuance_head set public_key = ${signer.publicKey} where public_key is null`;
  const [head] = await sql<{ public_key: Buffer }[]>`select public_key from issuance_head`;
  if (!head.public_key.equals(signer.publicKey)) throw new Error(`the issuance chain is bound to public key ${head.public_key.toString('hex')}, not this issuer's ${signer.publicKey.toString('hex')}`);
}

/** Refuses a request that the bank's free reserve or treasury balance cannot cover right now. */
export async function checkCoverable(tx: Sql, request: Pick<IssuanceRequestRow, 'kind' | 'bank_id' | 'amount_minor'>): Promise<void> {
  const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${request.bank_id}`;
  const [treasury] = await tx<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${treasuryWalletId(request.bank_id)}`;
  if (request.kind === 'mint' && reserve.free_minor < request.amount_minor) throw new ApiError('insufficient_reserve', `bank ${request.bank_id} has ${reserve.free_minor} fen of free reserve, ${request.amount_minor} needed`);
  if (request.kind === 'retire' && treasury.balance_minor < request.amount_minor) throw new ApiError('insufficient_treasury_balance', `treasury of ${request.bank_id} holds ${treasury.balance_minor} fen, ${request.amount_minor} needed`);
}

/**
 * Executes a request inside `tx`: the caller has inserted or approved it in the same transaction,
 * so a refusal (insufficient reserve) rolls the whole request back.
 */
export async function executeIssuance(tx: Sql, signer: Signer, request: IssuanceRequestRow, nowMs: number): Promise<IssuanceRequestRow> {
  const [head] = await tx<{ seq: bigint; hash: Buffer; supply_minor: bigint }[]>`select seq, hash, supply_minor from issuance_head for update`;
  const treasuryId = treasuryWalletId(request.bank_id);
  const [place] = await tx<{ shard: number }[]>`select shard from wallets where id = ${treasuryId}`;
  if (!place) throw new ApiError('bank_not_found', `no bank ${request.bank_id}`);
  await lockShard(tx, place.shard);
  const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${request.bank_id} for update`;
  const [treasury] = await tx<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${treasuryId} for update`;
  const state = { bankFreeReserveMinor: reserve.free_minor, treasuryBalanceMinor: treasury.balance_minor, supplyMinor: head.supply_minor };
  const next = request.kind === 'mint' ? planMint(state, request.amount_minor) : planRetire(state, request.amount_minor);
  if (next === 'insufficient_reserve') throw new ApiError('insufficient_reserve', `bank ${request.bank_id} has ${reserve.free_minor} fen of free reserve, ${request.amount_minor} needed`);
  if (next === 'insufficient_treasury_balance') throw new ApiError('insufficient_treasury_balance', `treasury ${treasuryId} holds ${treasury.balance_minor} fen, ${request.amount_minor} needed`);

  const entry: IssuanceEntry = { seq: head.seq + 1n, prevHash: head.hash, kind: request.kind, bankId: request.bank_id, amountMinor: request.amount_minor, supplyAfterMinor: next.supplyMinor, timeMs: BigInt(nowMs) };
  const hash = issuanceEntryHash(entry);
  const signature = signer.sign(hash);
  await tx`
    insert into issuance_chain (seq, prev_hash, kind, bank_id, amount_minor, supply_after_minor, time_ms, hash, signature, request_id)
    values (${entry.seq.toString()}, ${entry.prevHash}, ${entry.kind}, ${entry.bankId}, ${entry.amountMinor.toString()}, ${entry.supplyAfterMinor.toString()}, ${nowMs}, ${hash}, ${signature}, ${request.id})`;
  await tx`update issuance_head set seq = ${entry.seq.toString()}, hash = ${hash}, supply_minor = ${next.supplyMinor.toString()}`;
  await tx`
    update bank_reserves set free_minor = ${next.bankFreeReserveMinor.toString()},
      minted_minor = minted_minor + ${request.kind === 'mint' ? request.amount_minor.toString() : '0'},
      retired_minor = retired_minor + ${request.kind === 'retire' ? request.amount_minor.toString() : '0'}
    where bank_id = ${request.bank_id}`;
  await tx`update wallets set balance_minor = ${next.treasuryBalanceMinor.toString()}, updated_at = now() where id = ${treasuryId}`;
  const [done] = await tx<IssuanceRequestRow[]>`
    update issuance_requests set status = 'executed', chain_seq = ${entry.seq.toString()}, executed_at = now() where id = ${request.id} returning *`;
  return done;
}

/** Mints and retires as operator actions: checked at request, executed (with their chain entry) once authorised. */
export const issuanceAction: ActionHandler = {
  async check(tx, _ctx, action) {
    const request = { kind: action.kind as IssuanceRequestRow['kind'], bank_id: action.bank_id!, amount_minor: action.amount_minor! };
    const [bank] = await tx`select id from banks where id = ${request.bank_id}`;
    if (!bank) throw new ApiError('bank_not_found', `no bank ${request.bank_id}`, { errors: [{ field: 'body/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
    // Refuse now what could not execute now; execution checks again, as balances move meanwhile.
    await checkCoverable(tx, request);
  },
  async execute(tx, ctx, action) {
    const [request] = await tx<IssuanceRequestRow[]>`
      insert into issuance_requests (id, kind, bank_id, amount_minor, requested_by, approved_by, status)
      values (${action.id}, ${action.kind}, ${action.bank_id}, ${action.amount_minor!.toString()}, ${action.requested_by}, ${action.approved_by}, 'pending_approval') returning *`;
    return issuanceView(await executeIssuance(tx, ctx.signer, request, ctx.now()));
  },
};
