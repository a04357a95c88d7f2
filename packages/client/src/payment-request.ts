/**
 * The payer's side of a payment request: read the payload the payee's bank showed (a QR code or a
 * link, docs/canonical-encoding.md "Payment request URI"), check its checksum, and sign the
 * transfer that pays it (canonical encoding v2, which names the request).
 */
import { parsePaymentRequestUri, type PaymentRequestPayload } from '@cbdc/shared/payment-request';
import type { SignedTransferWire } from '@cbdc/shared/schemas';
import { signTransfer } from './transfer.js';

export { paymentRequestChecksum, paymentRequestUri, parsePaymentRequestUri, type ParsedPaymentRequestUri, type PaymentRequestPayload } from '@cbdc/shared/payment-request';

export interface RequestedPayment {
  payerWalletId: string;
  /** Required for an open-amount request; for a fixed one, absent or equal to it. */
  amountMinor?: bigint;
  nonce?: bigint;
  /** Defaults to ten minutes from now, or the request's expiry if sooner. */
  expiresAtMs?: bigint;
  memo?: string;
}

/**
 * Signs the transfer that pays a request: to its payee, for its fixed amount (or the amount the
 * payer chose), naming it. Takes the URI itself or its parsed payload; throws on a URI that does
 * not parse or an amount that cannot pay the request, before anything is signed.
 */
export function signRequestedTransfer(request: string | PaymentRequestPayload, payment: RequestedPayment, payerPrivateKeyHex: string): { id: string; wire: SignedTransferWire; request: PaymentRequestPayload } {
  let payload: PaymentRequestPayload;
  if (typeof request === 'string') {
    const parsed = parsePaymentRequestUri(request);
    if (!parsed.ok) throw new Error(`not a payment request URI: ${parsed.problem}`);
    payload = parsed.payload;
  } else payload = request;
  const amountMinor = payment.amountMinor ?? payload.amountMinor;
  if (amountMinor === null) throw new Error('the request is for an open amount: give amountMinor');
  if (payload.amountMinor !== null && amountMinor !== payload.amountMinor) throw new Error(`the request is for ${payload.amountMinor} fen, not ${amountMinor}`);
  const tenMinutes = BigInt(Date.now() + 10 * 60_000);
  const expiresAtMs = payment.expiresAtMs ?? (payload.expiresAtMs < tenMinutes ? payload.expiresAtMs : tenMinutes);
  const signed = signTransfer({ payerWalletId: payment.payerWalletId, payeeWalletId: payload.payeeWalletId, amountMinor, nonce: payment.nonce, expiresAtMs, memo: payment.memo, requestId: payload.requestId }, payerPrivateKeyHex);
  return { ...signed, request: payload };
}
