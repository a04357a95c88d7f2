/**
 * The audit of holds (see @cbdc/shared/ledger-holds): each hold leaf's authority (the customer's
 * signature over the signed hold; the bank's signed request for a capture or void, from the right
 * bank), the timing of expiries, each hold's state against its leaves and legs, and the money held
 * by each wallet against its open holds. The balances, daily outflows, caps and conservation
 * count holds in audit.ts beside transfers.
 */
import { encodeHold, holdIdOf } from '@cbdc/shared/canonical-hold';
import { ed25519Verify } from '@cbdc/shared/crypto';
import { holdActionAuthorityMessage } from '@cbdc/shared/hold-authority';
import { shardOf } from '@cbdc/shared/ids';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import type { AuditGroup, AuditRun } from './audit.js';
import type { Sql } from './connect.js';
import { storedLeafHash, type StoredHoldLeaf } from './leaves.js';

/** Keys and owners in force, as the registry establishes them. */
export interface HoldAuditKeys {
  keyOf(walletId: string): Buffer | null;
  bankKeyOf(bankId: string): Buffer | null;
  bankOfWallet(walletId: string): string | null;
}

/** One stored hold leaf: its index, its authority and its timing; returns its hash. */
export function checkHoldLeaf(run: AuditRun, prefix: string, keys: HoldAuditKeys, m: StoredHoldLeaf, i: number, batch: string): Buffer {
  const subject = `${prefix}hold ${m.holdId} (${m.event})`;
  const find = (message: string) => run.find({ check: 'hold', subject, message });
  if (m.leafIndex !== i) run.find({ check: 'settlement_chain', subject, message: `leaf index ${m.leafIndex} where ${i} was expected in ${batch}` });
  if (m.event === 'placed' || m.event === 'rejected') {
    const bytes = encodeHold({ payerWalletId: m.payerWalletId, payeeWalletId: m.payeeWalletId, amountMinor: m.amountMinor, nonce: m.nonce, expiresAtMs: m.expiresAtMs, holdExpiresAtMs: m.holdExpiresAtMs, memo: m.memo });
    if (holdIdOf(bytes) !== m.holdId) find('its stored content does not hash to its id (the row was altered)');
    const key = keys.keyOf(m.payerWalletId);
    if (!key || !ed25519Verify(key, bytes, m.signature)) find("the payer's signature does not verify over its stored content");
    if (m.event === 'placed' && m.payeeBankId !== keys.bankOfWallet(m.payeeWalletId)) find(`its payee's bank ${m.payeeBankId} is not the registered bank of wallet ${m.payeeWalletId}`);
    return storedLeafHash(m);
  }
  if (m.event === 'expired') {
    if (m.atMs < m.holdExpiresAtMs) find(`expired at ${m.atMs}, before its expiry ${m.holdExpiresAtMs}`);
    return storedLeafHash(m);
  }
  // A capture or void: the bank's own signed request, from the bank that may ask for it, before the expiry.
  if (m.atMs >= m.holdExpiresAtMs) find(`${m.event} at ${m.atMs}, at or after its expiry ${m.holdExpiresAtMs}`);
  const action = m.event === 'captured' ? 'capture' : 'void';
  const entitled = keys.bankOfWallet(action === 'capture' ? m.payeeWalletId : m.payerWalletId);
  if (m.closingBankId === null || m.closingBankId !== entitled) find(`${action} by bank ${m.closingBankId}, but only ${entitled ?? 'the registered bank'} may ${action} it`);
  const authority = m.closingRequest && m.closingSignature ? { ...m.closingRequest, signature: m.closingSignature.toString('hex') } : undefined;
  const claim = { id: m.closedBy ?? '', bankId: m.closingBankId ?? '', holdId: m.holdId, action, amountMinor: action === 'capture' ? m.capturedMinor.toString() : undefined } as const;
  const message = holdActionAuthorityMessage(authority, claim, run.options.audience ?? DEFAULT_AUDIENCE);
  const key = m.closingBankId === null ? null : keys.bankKeyOf(m.closingBankId);
  if (!message || !key || !ed25519Verify(key, message, m.closingSignature!)) find(`its bank's signed ${action} request is missing, asks for another ${action}, or does not verify against bank ${m.closingBankId}'s registered key`);
  return storedLeafHash(m);
}

interface CaptureRow {
  id: string;
  payee_wallet_id: string;
  captured_minor: bigint;
  capture_status: 'settled' | 'rejected' | 'in_flight';
}

/**
 * Each wallet's held money equals its open holds; each capture agrees with its legs: one that paid a
 * payee here or was refused here has none, one sent to another shard has a refund here exactly when
 * its credit was refused, and its credit at the payee's shard says what its status says (read again
 * from that group's current state before naming it, as checkLegsAgree does).
 */
export async function checkHoldRecords(run: AuditRun, g: AuditGroup): Promise<void> {
  const wrongHeld = await g.tx<{ id: string; held_minor: bigint; expected: bigint }[]>`
    with open as (select payer_wallet_id as id, sum(amount_minor)::bigint as expected from holds where status = 'open' group by payer_wallet_id)
    select w.id, w.held_minor, coalesce(o.expected, 0)::bigint as expected from wallets w left join open o on o.id = w.id
    where w.held_minor <> coalesce(o.expected, 0) order by w.id limit 100`;
  for (const w of wrongHeld) run.find({ check: 'balance', subject: `${g.prefix}wallet ${w.id}`, message: `stored held money ${w.held_minor} but its open holds add up to ${w.expected}` });
  const refunds = await g.tx<{ id: string }[]>`
    select h.id from holds h left join transfer_legs r on r.transfer_id = h.id and r.leg = 'refund'
    where (h.capture_leg_status is distinct from 'debited' and r.transfer_id is not null)
       or (h.capture_leg_status = 'debited' and ((h.capture_status = 'rejected') <> (r.transfer_id is not null)
           or (r.transfer_id is not null and (r.code is distinct from h.capture_code or r.amount_minor <> h.captured_minor or r.status <> 'applied'))))
    order by h.id limit 100`;
  for (const h of refunds) run.find({ check: 'hold', subject: `${g.prefix}hold ${h.id}`, message: 'its capture status does not agree with its refund leg' });
  for (let after = ''; ; ) {
    const rows = await g.tx<CaptureRow[]>`
      select id, payee_wallet_id, captured_minor, capture_status from holds where capture_leg_status = 'debited' and id > ${after} order by id limit 2000`;
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    const byGroup = new Map<AuditGroup, CaptureRow[]>();
    for (const h of rows) {
      const payee = run.shardCount === null ? g : run.groupOfShard(shardOf(h.payee_wallet_id, run.shardCount));
      byGroup.set(payee, [...(byGroup.get(payee) ?? []), h]);
    }
    for (const [other, list] of byGroup) {
      const creditsIn = async (q: Sql, ids: string[]) =>
        new Map((await q<{ transfer_id: string; status: string; amount_minor: bigint }[]>`select transfer_id, status, amount_minor from transfer_legs where leg = 'credit' and transfer_id = any(${ids})`).map((c) => [c.transfer_id, c]));
      const agrees = (h: CaptureRow, c: { status: string; amount_minor: bigint } | undefined) =>
        (c === undefined || c.amount_minor === h.captured_minor) && (h.capture_status === 'settled' ? c?.status === 'applied' : h.capture_status === 'rejected' ? c?.status === 'rejected' : true);
      const snapshot = await creditsIn(
        other.tx,
        list.map((h) => h.id),
      );
      const doubtful = list.filter((h) => !agrees(h, snapshot.get(h.id)));
      if (doubtful.length === 0) continue;
      const current = await creditsIn(
        other.pool,
        doubtful.map((h) => h.id),
      );
      for (const h of doubtful) if (!agrees(h, current.get(h.id))) run.find({ check: 'hold', subject: `${g.prefix}hold ${h.id}`, message: `its capture status ${h.capture_status} does not agree with its credit leg` });
    }
  }
}
