/**
 * Payment requests (pull payments), the pure rules. A payee's bank creates a request for one of
 * its wallets (a fixed amount or an open one, an expiry, a reference); the payer's customer signs
 * a transfer naming it (canonical encoding v2). The request lives in its payee's shard, and only
 * there is it checked and marked paid: for a transfer within one shard when it settles there, for
 * one between shards when the credit arrives. The shard's head lock serialises every batch and
 * every cancellation, so a request is paid at most once, whichever gateways the transfers that
 * name it came through.
 *
 * Rules, in precedence order, after the payee's own (not found, closed, frozen) and before the
 * payer's caps and funds (see settle.ts and docs/errors.md):
 *   request_not_found        no request with this id on the payee's shard
 *   request_payee_mismatch   the request is another wallet's
 *   request_cancelled        cancelled by the payee's bank
 *   request_already_paid     paid by another transfer (before, or earlier in this batch)
 *   request_expired          its expiry is at or before the batch time
 *   request_amount_mismatch  it has a fixed amount and the transfer pays another
 * An open-amount request takes any amount of at least 1 fen that the caps allow.
 */
import type { RejectionCode } from '../errors.js';

export type PaymentRequestStatus = 'open' | 'paid' | 'cancelled';

/** A payment request as settlement needs it (prefetched from the payee's shard). */
export interface PaymentRequestState {
  id: string;
  /** The payee's bank, which created it and is told when it is paid. */
  bankId: string;
  payeeWalletId: string;
  /** The fixed amount, or null for an open amount (the payer chooses). */
  amountMinor: bigint | null;
  expiresAtMs: bigint;
  status: PaymentRequestStatus;
}

/** A request paid by a batch: which transfer paid it (the batch time is when). */
export interface PaidRequest {
  id: string;
  transferId: string;
  bankId: string;
  payeeWalletId: string;
  amountMinor: bigint;
}

/** The first request rule a payment of `amountMinor` to `payeeWalletId` breaks at `nowMs`, or null. */
export function checkRequestPayment(request: PaymentRequestState | undefined, payeeWalletId: string, amountMinor: bigint, nowMs: number): RejectionCode | null {
  if (!request) return 'request_not_found';
  if (request.payeeWalletId !== payeeWalletId) return 'request_payee_mismatch';
  if (request.status === 'cancelled') return 'request_cancelled';
  if (request.status === 'paid') return 'request_already_paid';
  if (request.expiresAtMs <= BigInt(nowMs)) return 'request_expired';
  if (request.amountMinor !== null && request.amountMinor !== amountMinor) return 'request_amount_mismatch';
  return null;
}

/**
 * The requests of one batch as it is decided: the prefetched ones, with those paid earlier in the
 * batch shown as paid, so that a second transfer naming one in the same batch is refused.
 */
export class RequestBook {
  private readonly paidNow = new Map<string, PaymentRequestState>();
  readonly paid: PaidRequest[] = [];

  constructor(private readonly prefetched: ReadonlyMap<string, PaymentRequestState> | undefined) {}

  /** The request as this batch stands, or undefined if none is known by this id. */
  get(id: string): PaymentRequestState | undefined {
    return this.paidNow.get(id) ?? this.prefetched?.get(id);
  }

  /** The first rule a payment of the request breaks, or null. */
  check(id: string, payeeWalletId: string, amountMinor: bigint, nowMs: number): RejectionCode | null {
    return checkRequestPayment(this.get(id), payeeWalletId, amountMinor, nowMs);
  }

  /** Marks a request paid by `transferId` (its payment passed `check` and is being applied). */
  pay(id: string, transferId: string, amountMinor: bigint): PaidRequest {
    const request = this.get(id);
    if (!request || request.status !== 'open') throw new Error(`invariant broken: request ${id} is paid by ${transferId} while not open`);
    this.paidNow.set(id, { ...request, status: 'paid' });
    const paid = { id, transferId, bankId: request.bankId, payeeWalletId: request.payeeWalletId, amountMinor };
    this.paid.push(paid);
    return paid;
  }
}
