/**
 * Wire schemas shared by the services: amounts, ids, transfers. Every rule carries a message
 * naming the rule, which the problem renderer passes to the caller.
 */
import { z } from 'zod';
import { ed25519PublicKeyCheck } from './crypto.js';
import { AMOUNT_MINOR_MAX, POSITIVE_AMOUNT_PATTERN } from './money.js';
import { BANK_ID_PATTERN, REQUEST_ID_PATTERN, TRANSFER_ID_PATTERN, WALLET_ID_PATTERN } from './ids.js';
import { LIMITS } from './limits.js';
import { memoProblem, textProblem } from './text.js';
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
export const requestIdSchema = z.string().regex(REQUEST_ID_PATTERN, { error: 'request_id: must be a payment request id such as pr_0123456789abcdef0123456789abcdef' });
/** A customer's, bank's or operator's Ed25519 public key: refused unless it passes the registration check (see ./ed25519.ts). */
export const publicKeyHexSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { error: 'ed25519_public_key: must be 64 lowercase hex digits (32 bytes)' })
  .superRefine((s, ctx) => {
    const problem = /^[0-9a-f]{64}$/.test(s) ? ed25519PublicKeyCheck(Buffer.from(s, 'hex')) : null;
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem.rule}: ${problem.message}` });
  });
export const signatureHexSchema = z.string().regex(/^[0-9a-f]{128}$/, { error: 'ed25519_signature: must be 128 lowercase hex digits (64 bytes)' });
export const tierSchema = z.enum(TIERS, { error: 'tier: must be one of I, II, III, IV' });

/** Adds the problem a pure rule of @cbdc/shared/text finds, so that the schema and the settlement core apply one rule. */
function withRule(schema: z.ZodString, problemOf: (s: string) => string | null) {
  return schema.superRefine((s, ctx) => {
    const problem = problemOf(s);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });
}

/** A transfer memo: printable Unicode, NFC, at most LIMITS.memoBytesMax bytes (see memoProblem). */
export const memoSchema = withRule(z.string({ error: 'memo_type: must be a string' }), memoProblem);

/** Free text a person reads (a name, a reference): non-empty, printable Unicode, NFC, at most `bytesMax` bytes. */
export function textSchema(field: string, bytesMax: number) {
  return withRule(z.string({ error: `${field}_type: must be a string` }).min(1, { error: `${field}_required: must not be empty` }), (s) => textProblem(s, field, bytesMax));
}

/** Why a freeze, lift or similar decision is made: free text under the one rule for text (see text.ts), bounded. */
export const reasonSchema = textSchema('reason', LIMITS.reasonBytesMax);

/** An external reference (RTGS entry, court order): free text under the one rule for text, bounded. */
export const referenceSchema = textSchema('reference', LIMITS.reserveReferenceBytesMax);

/** A customer-signed transfer as submitted by a bank; one naming a payment request is signed as canonical v2. */
export const signedTransferSchema = z.strictObject({
  payerWalletId: walletIdSchema,
  payeeWalletId: walletIdSchema,
  amountMinor: amountMinorSchema,
  nonce: u63StringSchema,
  expiresAtMs: u63StringSchema,
  memo: memoSchema.default(''),
  requestId: requestIdSchema.optional().describe('The payment request this transfer pays; the customer signs it (canonical encoding v2)'),
  signature: signatureHexSchema,
});
export type SignedTransferWire = z.infer<typeof signedTransferSchema>;

/** A customer-signed hold as submitted by the payer's bank (see @cbdc/shared/canonical-hold). */
export const signedHoldSchema = z.strictObject({
  payerWalletId: walletIdSchema,
  payeeWalletId: walletIdSchema,
  amountMinor: amountMinorSchema,
  nonce: u63StringSchema,
  expiresAtMs: u63StringSchema,
  holdExpiresAtMs: u63StringSchema,
  memo: memoSchema.default(''),
  signature: signatureHexSchema,
});
export type SignedHoldWire = z.infer<typeof signedHoldSchema>;

export const holdIdSchema = z.string().regex(TRANSFER_ID_PATTERN, { error: 'hold_id: must be 64 lowercase hex digits' });

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
