/**
 * Payment requests' rows: each in the database of its payee wallet's shard (see ../ledger.ts), where
 * settlement checks it and marks it paid. The gateway creates and cancels them; it never marks one
 * paid (its role may not: packages/db/roles/roles.sql).
 */
import type { Sql } from '@cbdc/db/connect';
import { lockShard } from '@cbdc/db/shard-lock';
import { paymentRequestUri } from '@cbdc/shared/payment-request';

export interface PaymentRequestRow {
  id: string;
  bank_id: string;
  payee_wallet_id: string;
  shard: number;
  amount_minor: bigint | null;
  expires_at_ms: bigint;
  reference: string;
  status: 'open' | 'paid' | 'cancelled';
  created_at_ms: bigint;
  paid_by_transfer_id: string | null;
  paid_at_ms: bigint | null;
  cancelled_at_ms: bigint | null;
}

const str = (v: bigint | null) => (v === null ? null : v.toString());

/** The wire form of a request: an open one past its expiry reads `expired` (nothing is written when it expires). */
export function paymentRequestView(r: PaymentRequestRow, nowMs: number) {
  const expired = r.status === 'open' && r.expires_at_ms <= BigInt(nowMs);
  return {
    id: r.id,
    payeeWalletId: r.payee_wallet_id,
    amountMinor: str(r.amount_minor),
    expiresAtMs: r.expires_at_ms.toString(),
    reference: r.reference,
    status: expired ? ('expired' as const) : r.status,
    createdAtMs: r.created_at_ms.toString(),
    paidByTransferId: r.paid_by_transfer_id,
    paidAtMs: str(r.paid_at_ms),
    cancelledAtMs: str(r.cancelled_at_ms),
    uri: paymentRequestUri({ requestId: r.id, payeeWalletId: r.payee_wallet_id, amountMinor: r.amount_minor, expiresAtMs: r.expires_at_ms, reference: r.reference }),
  };
}
export type PaymentRequestView = ReturnType<typeof paymentRequestView>;

export interface NewPaymentRequest {
  id: string;
  bankId: string;
  payeeWalletId: string;
  shard: number;
  amountMinor: bigint | null;
  expiresAtMs: bigint;
  reference: string;
  nowMs: number;
}

/** Records a new open request (the caller checked that the payee is an open customer wallet of the bank). */
export async function insertPaymentRequest(tx: Sql, r: NewPaymentRequest): Promise<PaymentRequestRow> {
  const [row] = await tx<PaymentRequestRow[]>`
    insert into payment_requests (id, bank_id, payee_wallet_id, shard, amount_minor, expires_at_ms, reference, created_at_ms)
    values (${r.id}, ${r.bankId}, ${r.payeeWalletId}, ${r.shard}, ${r.amountMinor === null ? null : r.amountMinor.toString()}, ${r.expiresAtMs.toString()}, ${r.reference}, ${r.nowMs})
    returning *`;
  return row;
}

/** The bank's own request `id`, or null (another bank's is as absent as a missing one). */
export async function getOwnPaymentRequest(sql: Sql, bankId: string, id: string): Promise<PaymentRequestRow | null> {
  const [row] = await sql<PaymentRequestRow[]>`select * from payment_requests where id = ${id} and bank_id = ${bankId}`;
  return row ?? null;
}

/**
 * Cancels the bank's own open request, under its shard's lock: settlement decides on the requests
 * it reads under that lock, so a request is either paid by a batch or cancelled, never both. A
 * request cancelled already is answered as it is (a retry changes nothing); a paid one is refused.
 */
export async function cancelPaymentRequest(tx: Sql, bankId: string, id: string, nowMs: number): Promise<PaymentRequestRow | 'not_found' | 'paid'> {
  const own = await getOwnPaymentRequest(tx, bankId, id);
  if (!own) return 'not_found';
  await lockShard(tx, own.shard);
  const [row] = await tx<PaymentRequestRow[]>`
    update payment_requests set status = 'cancelled', cancelled_at_ms = ${nowMs}
    where id = ${id} and bank_id = ${bankId} and status = 'open' returning *`;
  if (row) return row;
  const now = (await getOwnPaymentRequest(tx, bankId, id))!;
  return now.status === 'paid' ? 'paid' : now;
}
