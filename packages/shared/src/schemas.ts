/**
 * Wire schemas shared by the services: amounts, ids, transfers. Every rule carries a message
 * naming the rule, which the problem renderer passes to the caller.
 */
import { z } from 'zod';
import { AMOUNT_MINOR_MAX, POSITIVE_AMOUNT_PATTERN } from './money.js';
import { BANK_ID_PATTERN, TRANSFER_ID_PATTERN, WALLET_ID_PATTERN } from './ids.js';
import { LIMITS } from './limits.js';
import { TIERS } from './tiers.js';

/** A positive amount of fen as a decimal string: no sign, no leading zero, no fraction, no exponent, at most 2^63-1. */
export const amountMinorSchema = z
  .string({ error: 'positive_integer_string: must be a string of digits' })
  .regex(POSITIVE_AMOUNT_PATTERN, { error: 'positive_integer_string: must be a whole number of fen above zero, digits only (no sign, fraction or exponent)' })
  // The pattern has already reported a malformed value; only a well-formed one is compared.
  .refine((s) => !POSITIVE_AMOUNT_PATTERN.test(s) || BigInt(s) <= AMOUNT_MINOR_MAX, { error: 'amount_max: must be at most 9223372036854775807' });

const U63_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

/** An unsigned 63-bit integer as a decimal string (nonces, timestamps). */
export const u63StringSchema = z
  .string({ error: 'integer_string: must be a string of digits' })
  .regex(U63_PATTERN, { error: 'integer_string: must be digits only, no sign or leading zero' })
  .refine((s) => !U63_PATTERN.test(s) || BigInt(s) <= AMOUNT_MINOR_MAX, { error: 'integer_max: must be at most 9223372036854775807' });

export const walletIdSchema = z.string().regex(WALLET_ID_PATTERN, { error: 'wallet_id: must be a wallet id such as w_0123456789abcdef01234567' });
export const bankIdSchema = z.string().regex(BANK_ID_PATTERN, { error: 'bank_id: 2 to 32 characters, lowercase letters, digits and dashes, starting with a letter' });
export const transferIdSchema = z.string().regex(TRANSFER_ID_PATTERN, { error: 'transfer_id: must be 64 lowercase hex digits' });
export const publicKeyHexSchema = z.string().regex(/^[0-9a-f]{64}$/, { error: 'ed25519_public_key: must be 64 lowercase hex digits (32 bytes)' });
export const signatureHexSchema = z.string().regex(/^[0-9a-f]{128}$/, { error: 'ed25519_signature: must be 128 lowercase hex digits (64 bytes)' });
export const tierSchema = z.enum(TIERS, { error: 'tier: must be one of I, II, III, IV' });

export const memoSchema = z
  .string()
  .refine((s) => Buffer.byteLength(s, 'utf8') <= LIMITS.memoBytesMax, { error: `memo_max_bytes: must be at most ${LIMITS.memoBytesMax} bytes of UTF-8` });

/** Why a freeze, lift or similar decision is made: printable Unicode (no control or format characters), bounded. */
export const reasonSchema = z
  .string({ error: 'reason: required, a short text saying why' })
  .min(1, { error: 'reason: must not be empty' })
  .regex(/^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]+$/u, { error: 'reason_printable: letters, marks, digits, punctuation, symbols and spaces only' })
  .refine((s) => Buffer.byteLength(s, 'utf8') <= LIMITS.reasonBytesMax, { error: `reason_max_bytes: must be at most ${LIMITS.reasonBytesMax} bytes of UTF-8` });

/** An external reference (RTGS entry, court order): 1 to 64 printable ASCII characters without spaces. */
export const referenceSchema = z
  .string({ error: 'reference: required' })
  .regex(/^[\x21-\x7e]{1,64}$/, { error: 'reference: 1 to 64 printable ASCII characters without spaces' });

/** A customer-signed transfer as submitted by a bank. */
export const signedTransferSchema = z.strictObject({
  payerWalletId: walletIdSchema,
  payeeWalletId: walletIdSchema,
  amountMinor: amountMinorSchema,
  nonce: u63StringSchema,
  expiresAtMs: u63StringSchema,
  memo: memoSchema.default(''),
  signature: signatureHexSchema,
});
export type SignedTransferWire = z.infer<typeof signedTransferSchema>;

/** Cursor pagination query. */
export const pageQuerySchema = z.strictObject({
  limit: z.coerce
    .number({ error: 'integer: must be a whole number' })
    .int({ error: 'integer: must be a whole number' })
    .min(1, { error: 'page_size_min: must be at least 1' })
    .max(LIMITS.pageSizeMax, { error: `page_size_max: must be at most ${LIMITS.pageSizeMax}` })
    .default(LIMITS.pageSizeDefault),
  cursor: z.string().max(200, { error: 'cursor_max: must be at most 200 characters' }).optional(),
});
