/**
 * The payload of a payment request, for a QR code or a link: a URI the payee's bank shows and the
 * payer's app reads (docs/canonical-encoding.md, "Payment request URI"). One canonical form:
 *
 *   cbdc:pay?v=1&id=<request id>&to=<payee wallet id>[&amount=<fen>]&exp=<Unix ms>&ref=<reference>&check=<8 hex>
 *
 * - the parameters in exactly this order; `amount` only for a fixed amount (absent: the payer
 *   chooses); numbers in decimal without sign or leading zero;
 * - `ref` is the reference's UTF-8 bytes, each byte outside the RFC 3986 unreserved characters
 *   (A-Z a-z 0-9 - . _ ~) written as %XX with upper-case hex digits, so the URI is ASCII;
 * - `check` is the first 4 bytes of SHA-256 over the ASCII bytes of the URI before "&check=",
 *   as 8 lower-case hex digits.
 *
 * Example: request pr_00000000000000000000000000000001 to w_000000000000000000000002 for 100 fen,
 * expiring at 1767225600000, reference "Invoice 42" is
 *   cbdc:pay?v=1&id=pr_00000000000000000000000000000001&to=w_000000000000000000000002&amount=100&exp=1767225600000&ref=Invoice%2042&check=a45b917b
 * (more, valid and invalid, in docs/vectors/payment-request-uris.json).
 *
 * The checksum catches a link mangled in transit or typed wrong (a QR code has its own error
 * correction); it is not a signature. Nothing in the payload is trusted by the ledger: the request
 * lives in its payee's shard, which checks the payee, amount and expiry of the transfer against it.
 */
import { sha256 } from './crypto.js';
import { REQUEST_ID_PATTERN, WALLET_ID_PATTERN } from './ids.js';
import { LIMITS } from './limits.js';
import { AMOUNT_MINOR_MAX, POSITIVE_AMOUNT_PATTERN } from './money.js';
import { textProblem } from './text.js';

export const PAYMENT_REQUEST_URI_PREFIX = 'cbdc:pay?v=1';

/** A URI longer than this is refused before it is read (the longest valid one is under 600). */
export const PAYMENT_REQUEST_URI_CHARS_MAX = 1024;

/** What a payment request payload carries. */
export interface PaymentRequestPayload {
  requestId: string;
  payeeWalletId: string;
  /** The fixed amount, or null: the payer chooses. */
  amountMinor: bigint | null;
  expiresAtMs: bigint;
  /** Shown to the payer: what the payment is for. */
  reference: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const U63_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

/** The reference as written in the URI: UTF-8, every byte but the unreserved characters as %XX (upper case). */
export function encodeReference(reference: string): string {
  let out = '';
  for (const byte of Buffer.from(reference, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The reference a `ref` value encodes, or null if it is not in the canonical form or not UTF-8. */
function decodeReference(encoded: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; ) {
    if (encoded[i] === '%') {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else {
      if (!UNRESERVED.test(encoded[i])) return null;
      bytes.push(encoded.charCodeAt(i));
      i += 1;
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
  // One form only: an unreserved character written as %XX (or a BOM eaten) is not canonical.
  return encodeReference(text) === encoded ? text : null;
}

/** The checksum of the URI text before "&check=": the first 4 bytes of its SHA-256, hex. */
export function paymentRequestChecksum(body: string): string {
  return sha256(Buffer.from(body, 'ascii')).subarray(0, 4).toString('hex');
}

/** The canonical URI of a payment request. */
export function paymentRequestUri(p: PaymentRequestPayload): string {
  const amount = p.amountMinor === null ? '' : `&amount=${p.amountMinor}`;
  const body = `${PAYMENT_REQUEST_URI_PREFIX}&id=${p.requestId}&to=${p.payeeWalletId}${amount}&exp=${p.expiresAtMs}&ref=${encodeReference(p.reference)}`;
  return `${body}&check=${paymentRequestChecksum(body)}`;
}

export type ParsedPaymentRequestUri = { ok: true; payload: PaymentRequestPayload } | { ok: false; problem: string };

const SHAPE = /^cbdc:pay\?v=1&id=([^&]*)&to=([^&]*)(?:&amount=([^&]*))?&exp=([^&]*)&ref=([^&]*)$/;

/**
 * Reads a payment request URI, refusing anything but the canonical form: the checksum first (a
 * mangled URI says so), then each field by the rules the gateway applied when it made it. A problem
 * reads "rule: message", as the API's field errors do.
 */
export function parsePaymentRequestUri(uri: string): ParsedPaymentRequestUri {
  const fail = (problem: string): ParsedPaymentRequestUri => ({ ok: false, problem });
  if (typeof uri !== 'string') return fail('uri_type: must be a string');
  if (uri.length > PAYMENT_REQUEST_URI_CHARS_MAX) return fail(`uri_max: at most ${PAYMENT_REQUEST_URI_CHARS_MAX} characters`);
  if (!uri.startsWith('cbdc:pay?')) return fail('uri_scheme: must start with cbdc:pay?');
  if (!uri.startsWith(PAYMENT_REQUEST_URI_PREFIX)) return fail('uri_version: must be version 1 (v=1 first)');
  const at = uri.lastIndexOf('&check=');
  if (at < 0) return fail('checksum_missing: must end with &check= and 8 hex digits');
  const body = uri.slice(0, at);
  const check = uri.slice(at + '&check='.length);
  if (!/^[0-9a-f]{8}$/.test(check)) return fail('checksum_format: must be 8 lower-case hex digits');
  if (check !== paymentRequestChecksum(body)) return fail('checksum: does not match the rest of the URI (mistyped or altered)');
  const m = SHAPE.exec(body);
  if (!m) return fail('uri_shape: parameters must be v, id, to, amount (optional), exp, ref, in this order, each once');
  const [, id, to, amount, exp, ref] = m;
  if (!REQUEST_ID_PATTERN.test(id)) return fail('request_id: must be pr_ and 32 lower-case hex digits');
  if (!WALLET_ID_PATTERN.test(to)) return fail('wallet_id: must be a wallet id such as w_0123456789abcdef01234567');
  if (amount !== undefined && (!POSITIVE_AMOUNT_PATTERN.test(amount) || BigInt(amount) > AMOUNT_MINOR_MAX)) return fail('amount: must be a whole number of fen from 1 to 2^63-1, digits only');
  if (!U63_PATTERN.test(exp) || BigInt(exp) > AMOUNT_MINOR_MAX) return fail('expiry: must be Unix milliseconds, digits only');
  const reference = decodeReference(ref);
  if (reference === null) return fail('reference_encoding: must be UTF-8 with every byte but A-Z a-z 0-9 - . _ ~ written as %XX (upper case)');
  const problem = textProblem(reference, 'reference', LIMITS.requestReferenceBytesMax) ?? (reference === '' ? 'reference_required: must not be empty' : null);
  if (problem) return fail(problem);
  return { ok: true, payload: { requestId: id, payeeWalletId: to, amountMinor: amount === undefined ? null : BigInt(amount), expiresAtMs: BigInt(exp), reference } };
}
