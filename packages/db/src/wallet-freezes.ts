/**
 * Recording wallet freezes. Each change is one named function that takes the shard lock (a
 * wallet row is written only under it; see shard-lock.ts), applies the pure rule of
 * @cbdc/shared/freezes to the recorded freezes, writes the wallet's freeze columns with the
 * effective status, and appends the change to `wallet_freeze_events`. A constraint on `wallets`
 * refuses any status that the recorded freezes do not account for.
 */
import { planFreezeChange, type FreezeAuthority, type FreezeChange, type FreezeRecord, type FreezeRefusal, type WalletFreezes } from '@cbdc/shared/freezes';
import type { WalletStatus } from '@cbdc/shared/ledger';
import type { Sql } from './connect.js';
import { appendEvents } from './events.js';
import { lockShard } from './shard-lock.js';

/** The freeze columns of a wallet row. */
export interface WalletFreezeColumns {
  status: WalletStatus;
  central_frozen_by: string | null;
  central_freeze_reason: string | null;
  central_freeze_reference: string | null;
  central_frozen_at: Date | null;
  bank_frozen_by: string | null;
  bank_freeze_reason: string | null;
  bank_frozen_at: Date | null;
}

/** The recorded freezes of a wallet row. */
export function freezesOf(w: WalletFreezeColumns): WalletFreezes {
  return {
    status: w.status,
    central: w.central_frozen_at ? { by: w.central_frozen_by!, reason: w.central_freeze_reason!, reference: w.central_freeze_reference, atMs: w.central_frozen_at.getTime() } : null,
    bank: w.bank_frozen_at ? { by: w.bank_frozen_by!, reason: w.bank_freeze_reason!, reference: null, atMs: w.bank_frozen_at.getTime() } : null,
  };
}

/** The wire form of a wallet's freezes; `withActors` adds who froze it (the central bank's own view). */
export function freezesView(w: WalletFreezeColumns, withActors: boolean) {
  const f = freezesOf(w);
  const at = (r: FreezeRecord) => new Date(r.atMs).toISOString();
  return {
    central: f.central ? { reason: f.central.reason, reference: f.central.reference, frozenAt: at(f.central), ...(withActors ? { operatorId: f.central.by } : {}) } : null,
    bank: f.bank ? { reason: f.bank.reason, frozenAt: at(f.bank), ...(withActors ? { bankId: f.bank.by } : {}) } : null,
  };
}

/** Who asks for a change, why, and (central bank) on what reference. */
export interface FreezeRequest {
  actor: string;
  reason: string;
  reference: string | null;
  nowMs: number;
}

async function changeFreeze<R extends WalletFreezeColumns>(
  tx: Sql,
  walletId: string,
  authority: FreezeAuthority,
  action: FreezeChange['action'],
  request: FreezeRequest,
  bankScope: string | null,
): Promise<R | FreezeRefusal | 'wallet_not_found'> {
  const [place] = await tx<{ shard: number }[]>`select shard from wallets where id = ${walletId} ${bankScope === null ? tx`` : tx`and bank_id = ${bankScope}`}`;
  if (!place) return 'wallet_not_found';
  await lockShard(tx, place.shard);
  const [current] = await tx<R[]>`select * from wallets where id = ${walletId} for update`;
  const record: FreezeRecord = { by: request.actor, reason: request.reason, reference: authority === 'central' ? request.reference : null, atMs: request.nowMs };
  const next = planFreezeChange(freezesOf(current), authority, action === 'freeze' ? { action, record } : { action });
  if (typeof next === 'string') return next;
  const at = new Date(request.nowMs);
  const [row] =
    authority === 'central'
      ? await tx<R[]>`
          update wallets set status = ${next.status}, central_frozen_by = ${next.central?.by ?? null}, central_freeze_reason = ${next.central?.reason ?? null},
            central_freeze_reference = ${next.central?.reference ?? null}, central_frozen_at = ${next.central ? at : null}, updated_at = now()
          where id = ${walletId} returning *`
      : await tx<R[]>`
          update wallets set status = ${next.status}, bank_frozen_by = ${next.bank?.by ?? null}, bank_freeze_reason = ${next.bank?.reason ?? null},
            bank_frozen_at = ${next.bank ? at : null}, updated_at = now()
          where id = ${walletId} returning *`;
  await tx`
    insert into wallet_freeze_events (wallet_id, authority, action, actor, reason, reference, at)
    values (${walletId}, ${authority}, ${action}, ${request.actor}, ${request.reason}, ${record.reference}, ${at})`;
  // The wallet's bank is told of the central bank's decisions (docs/events.md); its own freezes it
  // made itself, and the gateway's role may not write events (a forged event would be delivered signed).
  if (authority === 'central') {
    const bankId = (current as unknown as { bank_id: string }).bank_id;
    await appendEvents(tx, place.shard, request.nowMs, [
      { bankId, type: action === 'freeze' ? 'wallet.frozen' : 'wallet.unfrozen', subjectId: walletId, walletId, amountMinor: null, code: null, data: { authority, reason: request.reason, reference: record.reference } },
    ]);
  }
  return row;
}

/** The central bank freezes any wallet (operator, reason, reference). */
export function recordCentralFreeze<R extends WalletFreezeColumns>(tx: Sql, walletId: string, request: FreezeRequest) {
  return changeFreeze<R>(tx, walletId, 'central', 'freeze', request, null);
}

/** The central bank lifts its own freeze; a bank's freeze, if any, still holds. */
export function liftCentralFreeze<R extends WalletFreezeColumns>(tx: Sql, walletId: string, request: FreezeRequest) {
  return changeFreeze<R>(tx, walletId, 'central', 'lift', request, null);
}

/** A bank freezes one of its own wallets (`request.actor` is the bank). */
export function recordBankFreeze<R extends WalletFreezeColumns>(tx: Sql, walletId: string, request: FreezeRequest) {
  return changeFreeze<R>(tx, walletId, 'bank', 'freeze', { ...request, reference: null }, request.actor);
}

/** A bank lifts its own freeze of one of its wallets; never the central bank's. */
export function liftBankFreeze<R extends WalletFreezeColumns>(tx: Sql, walletId: string, request: FreezeRequest) {
  return changeFreeze<R>(tx, walletId, 'bank', 'lift', { ...request, reference: null }, request.actor);
}
