/**
 * Events for banks: what happened to a bank's wallets, transfers, holds and payment requests,
 * recorded in the same transaction as the change (an outbox) and delivered through the pull feed
 * (GET /v1/events) and signed webhooks. docs/events.md is the contract.
 *
 * An event belongs to one bank and one shard (where the change was committed). Its id is
 * "evt_<shard>_<seq>", seq counting that bank's events on that shard from 1: stable, unique per
 * bank, and in commit order per shard. A bank's feed merges its shards by time; every event of one
 * wallet is on the wallet's shard, so a wallet's events are always in order.
 */
import { rejectionCodeSeenBy } from './errors.js';

export const EVENT_TYPES = [
  /** A transfer paid by one of the bank's wallets became final: settled. */
  'transfer.settled',
  /** A transfer paid by one of the bank's wallets became final: rejected (code), refunded if it was debited. */
  'transfer.rejected',
  /** Money arrived in one of the bank's wallets (a transfer, a captured hold, a paid request). */
  'payment.received',
  /** A hold on one of the bank's wallets was placed, or refused (code). */
  'hold.placed',
  'hold.rejected',
  /** A hold ended: captured (amount taken), voided, or expired; the remainder is available again. */
  'hold.captured',
  'hold.voided',
  'hold.expired',
  /** The money of a captured hold came back to the payer: the payee could not receive it (code). */
  'hold.capture_returned',
  /** A payment request of the bank's was paid (subject: the request id). */
  'request.paid',
  /** The central bank froze or unfroze one of the bank's wallets. */
  'wallet.frozen',
  'wallet.unfrozen',
  /** A wallet's tier or customer key changed (recorded in its registry chain). */
  'wallet.tier_changed',
  'wallet.key_replaced',
  /** Currency issued into, or retired from, the bank's treasury wallet. */
  'treasury.minted',
  'treasury.retired',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event as a writer records it; the bank's per-shard seq and time are added on append. */
export interface NewEvent {
  bankId: string;
  type: EventType;
  /** The transfer, hold or request id, or the wallet id for wallet events. */
  subjectId: string;
  walletId: string | null;
  amountMinor: bigint | null;
  code: string | null;
  /** Small type-specific fields (counterparty wallet, tier, reason), or null. */
  data?: Readonly<Record<string, string | number | boolean | null>> | null;
}

/** The stable id of a bank's event. */
export function eventIdOf(shard: number, seq: bigint): string {
  return `evt_${shard}_${seq}`;
}

/** The shard and seq of an event id, or null if it is not one. */
export function parseEventId(id: string): { shard: number; seq: bigint } | null {
  const m = /^evt_(\d{1,6})_(\d{1,19})$/.exec(id);
  return m ? { shard: Number(m[1]), seq: BigInt(m[2]) } : null;
}

/** An event as stored (the `events` table's row). */
export interface StoredEvent {
  bank_id: string;
  shard: number;
  seq: bigint;
  type: string;
  subject_id: string;
  wallet_id: string | null;
  amount_minor: bigint | null;
  code: string | null;
  data: Record<string, string | number | boolean | null> | null;
  at_ms: bigint;
  /** The transfer row's wallets, joined on read when the event's subject is a transfer recorded on its shard (see eventsAfter). */
  payer_wallet_id?: string | null;
  payee_wallet_id?: string | null;
}

/** An event on the wire (the feed's items and a webhook's body): docs/events.md lists every type's data. */
export interface EventWire {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, string | number | boolean | null>;
}

/** The name of an event's subject in its data: what `subject_id` is for each family of types. */
function subjectKeyOf(type: string): string {
  if (type.startsWith('transfer.') || type.startsWith('payment.')) return 'transferId';
  if (type.startsWith('hold.')) return 'holdId';
  if (type.startsWith('treasury.')) return 'issuanceId';
  if (type.startsWith('request.')) return 'requestId';
  return 'walletId';
}

/**
 * The wire form of a stored event as its bank receives it. The data is the subject under its name
 * (transferId, holdId, issuanceId, requestId, or walletId for wallet events), the bank's wallet,
 * the amount as a decimal string, the code when there is one, then the type's own fields.
 *
 * A rejection code that describes the payee wallet is shown as `payee_unavailable` unless the
 * payee is known to be this bank's (`payeeBankOf`), exactly as GET /v1/transfers/:id shows it
 * (see rejectionCodeSeenBy): an event tells a bank nothing its API would not.
 */
export function eventWire(e: StoredEvent, payeeBankOf: (walletId: string) => string | null = () => null): EventWire {
  const subjectKey = subjectKeyOf(e.type);
  const data: Record<string, string | number | boolean | null> = { [subjectKey]: e.subject_id };
  if (subjectKey !== 'walletId' || e.wallet_id !== e.subject_id) data.walletId = e.wallet_id;
  if (e.amount_minor !== null) data.amountMinor = e.amount_minor.toString();
  const payee = payeeWalletOf(e);
  if (e.code !== null) data.code = rejectionCodeSeenBy(e.code, e.bank_id, e.bank_id, payee === null ? null : payeeBankOf(payee));
  // The counterparty of a transfer event, from its transfer row (null: a payment from another shard).
  if (e.type === 'transfer.settled' || e.type === 'transfer.rejected') data.payeeWalletId = payee;
  if (e.type === 'payment.received') data.payerWalletId = e.payer_wallet_id ?? (typeof e.data?.payerWalletId === 'string' ? e.data.payerWalletId : null);
  for (const [k, v] of Object.entries(e.data ?? {})) if (!(k in data)) data[k] = v;
  return { id: eventIdOf(e.shard, e.seq), type: e.type, createdAt: new Date(Number(e.at_ms)).toISOString(), data };
}

/** The payee wallet of a transfer event: from its transfer row, or from its data. */
export function payeeWalletOf(e: StoredEvent): string | null {
  return e.payee_wallet_id ?? (typeof e.data?.payeeWalletId === 'string' ? e.data.payeeWalletId : null);
}
