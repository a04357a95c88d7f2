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
