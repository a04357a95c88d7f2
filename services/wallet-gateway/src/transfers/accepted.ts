/**
 * Transfers accepted by a gateway and not yet recorded by settlement: what `GET /v1/transfers/{id}`
 * answers between a 202 and the commit of the item's batch (docs/api.md, "Pending transfers").
 *
 * When the gateway answers 202 for an item, the item is in a shard's queue (the add succeeded), and
 * the gateway records it in Redis beside that queue, under the queue's hash tag, as the JobItem it
 * queued, with a TTL. It removes the record when settlement replies that the item is recorded;
 * from then on the transfer row answers. So:
 * - the record exists only for an item that was queued (written after the add succeeded), and a
 *   202 is answered only once it is written (else 503: resubmitting is safe);
 * - an item that settlement drops without recording it (`unauthorized`, `malformed_item`), or that
 *   Redis loses with its job, keeps its record: it reads `pending` until the transfer's signed
 *   expiry (plus the allowed clock skew), then `not_settled` with code `expired`, which is final and
 *   true whatever Redis says: settlement refuses an expired transfer, and the expiry is part of the
 *   signed bytes whose hash is the id. After `acceptedNotSettledRetentionMs` more, the record
 *   expires and the id reads 404 like any unknown one. A funding has no expiry: it reads `pending`
 *   for `acceptedFundingPendingMs`, then 404 (the bank drives it again with its Idempotency-Key).
 *
 * Redis is not trusted: a record is used only if it is bound to the id asked for (a transfer's id is
 * the hash of its canonical bytes, a funding's is derived from its bank and Idempotency-Key) and
 * names the asking bank as the submitter and the payer's bank; the answer from a record is never
 * a settled or rejected outcome, which only Postgres gives.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { fundingIdOf, treasuryWalletId } from '@cbdc/shared/ids';
import type { JobItem } from '@cbdc/shared/job';
import type { Limits } from '@cbdc/shared/limits';

/** The Redis key of an accepted item's record: under the hash tag of the queue it went to (one slot with it on a cluster). */
export function acceptedKey(queueTag: string, id: string): string {
  return `{${queueTag}}:accepted:${id}`;
}

/** What is stored: the item as it was queued. */
export interface AcceptedRecord {
  item: JobItem;
}

/** The record of an item as stored (JSON). */
export function encodeAccepted(item: JobItem): string {
  return JSON.stringify({ item } satisfies AcceptedRecord);
}

type TtlLimits = Pick<Limits, 'requestClockSkewMs' | 'acceptedNotSettledRetentionMs' | 'acceptedFundingPendingMs'>;

/** How long the record of `item` is kept: past the transfer's expiry by the skew and the retention; a funding's for its pending window. */
export function acceptedTtlMs(item: JobItem, nowMs: number, limits: TtlLimits): number {
  if (item.expiresAtMs === null) return limits.acceptedFundingPendingMs;
  const untilMs = Number(item.expiresAtMs) + limits.requestClockSkewMs + limits.acceptedNotSettledRetentionMs;
  return Math.max(1, untilMs - nowMs);
}

/** A transfer accepted and not recorded, as the payer's bank reads it. */
export interface AcceptedView {
  id: string;
  kind: 'transfer' | 'funding';
  /** `pending`: queued, no outcome yet. `not_settled`: expired unrecorded, final (code `expired`). */
  status: 'pending' | 'not_settled';
  code: 'expired' | null;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  nonce: string | null;
  expiresAtMs: string | null;
  memo: string;
  /** The payer's shard, whose queue holds it. */
  shard: number;
  batchSeq: null;
  submittedAtMs: string;
  settledAtMs: null;
}

/** Whether the record's content is the item named `id` (a record moved to another id, or altered, is not). */
function boundToId(item: JobItem, id: string): boolean {
  if (item.id !== id) return false;
  if (item.kind === 'funding') return typeof item.authority?.idempotencyKey === 'string' && fundingIdOf(item.bankId, item.authority.idempotencyKey) === id && item.payerWalletId === treasuryWalletId(item.bankId);
  if (item.nonce === null || item.expiresAtMs === null) return false;
  try {
    const bytes = encodeTransfer({ payerWalletId: item.payerWalletId, payeeWalletId: item.payeeWalletId, amountMinor: BigInt(item.amountMinor), nonce: BigInt(item.nonce), expiresAtMs: BigInt(item.expiresAtMs), memo: item.memo });
    return transferIdOf(bytes) === id;
  } catch {
    return false;
  }
}

/**
 * The view of a stored record for transfer `id` read at `nowMs` from shard `shard`'s keys, with the
 * bank that submitted it, or null if the record is not one (unparsable, or not bound to `id`). Who
 * may see it is the caller's check (the submitting bank, which must be the payer's bank).
 */
export function acceptedView(stored: string, id: string, shard: number, nowMs: number, clockSkewMs: number): { bankId: string; view: AcceptedView } | null {
  let item: JobItem;
  try {
    item = (JSON.parse(stored) as AcceptedRecord).item;
  } catch {
    return null;
  }
  if (!item || typeof item !== 'object' || !boundToId(item, id) || !Number.isSafeInteger(item.submittedAtMs)) return null;
  // Settlement refuses an item whose expiry is at or before its batch time; past the expiry by the
  // allowed clock difference between servers, no worker can settle it any more.
  const expired = item.expiresAtMs !== null && BigInt(nowMs) > BigInt(item.expiresAtMs) + BigInt(clockSkewMs);
  const view: AcceptedView = {
    id,
    kind: item.kind,
    status: expired ? 'not_settled' : 'pending',
    code: expired ? 'expired' : null,
    payerWalletId: item.payerWalletId,
    payeeWalletId: item.payeeWalletId,
    amountMinor: item.amountMinor,
    nonce: item.nonce,
    expiresAtMs: item.expiresAtMs,
    memo: item.memo,
    shard,
    batchSeq: null,
    submittedAtMs: String(item.submittedAtMs),
    settledAtMs: null,
  };
  return { bankId: item.bankId, view };
}
