/**
 * The wire form of transfers in the gateway's contract: outcomes, batch results, receipts, shard
 * keys. The views in ./store.ts and ./submit.ts return these types; tests check every answer
 * against them (@cbdc/http/response-contract).
 */
import { z } from 'zod';
import { decimalStringSchema, hexSchema, inputProblemSchema } from '@cbdc/http/openapi';

const transferId = hexSchema(32, 'The transfer id: SHA-256 of its canonical signed bytes (docs/canonical-encoding.md); for a funding, derived from the bank and the Idempotency-Key').meta({
  example: '9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d',
});
const walletId = z.string().meta({ example: 'w_0123456789abcdef01234567' });

/** A recorded transfer (or funding): final once settled or rejected; pending while in flight between shards. */
export const transferSchema = z
  .object({
    id: transferId,
    kind: z.enum(['transfer', 'funding']),
    status: z.enum(['settled', 'rejected', 'pending', 'not_settled']).meta({
      description:
        "`pending`: accepted and not yet recorded (the payer's bank only), or debited at the payer's shard and not yet credited (or refunded) at the payee's. `not_settled`: accepted, never recorded, past its expiry (code `expired`): final",
    }),
    code: z.string().nullable().meta({ description: "Why it was rejected or not settled (docs/errors.md, settlement codes); null otherwise. Another bank's customer's reason reads `payee_unavailable` / `payer_unavailable`" }),
    payerWalletId: walletId,
    payeeWalletId: walletId,
    amountMinor: decimalStringSchema,
    nonce: decimalStringSchema.nullable().meta({ description: "The payer's nonce; null for a funding" }),
    expiresAtMs: decimalStringSchema.nullable().meta({ description: 'Unix ms; null for a funding' }),
    memo: z.string(),
    requestId: z
      .string()
      .nullable()
      .optional()
      .meta({ description: 'The payment request it pays (`pr_…`, a transfer signed as canonical v2); null otherwise; absent on a transfer accepted and not yet recorded', example: 'pr_0123456789abcdef0123456789abcdef' }),
    shard: z.number().int().min(0).meta({ description: "The payer's shard, which commits it" }),
    batchSeq: decimalStringSchema.nullable().meta({ description: "The settlement batch that committed it at the payer's shard; null before it is recorded" }),
    submittedAtMs: decimalStringSchema.meta({ description: 'When the gateway accepted it (Unix ms)' }),
    settledAtMs: decimalStringSchema.nullable().meta({ description: 'When that batch committed (Unix ms); null before it is recorded' }),
  })
  .meta({
    id: 'Transfer',
    examples: [
      {
        id: '9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d9f2c4d0e1a7b3c5d',
        kind: 'transfer',
        status: 'settled',
        code: null,
        payerWalletId: 'w_0123456789abcdef01234567',
        payeeWalletId: 'w_89abcdef0123456789abcdef',
        amountMinor: '2500',
        nonce: '17',
        expiresAtMs: '1767225900000',
        memo: 'lunch',
        requestId: null,
        shard: 3,
        batchSeq: '1042',
        submittedAtMs: '1767225600051',
        settledAtMs: '1767225600123',
      },
    ],
  });
export type TransferWire = z.output<typeof transferSchema>;

/** A transfer queued for settlement and not yet recorded: what an asynchronous (or timed-out) submission answers. */
export const queuedTransferSchema = z
  .object({
    id: transferId,
    kind: z.enum(['transfer', 'funding']),
    status: z.literal('pending'),
    payerWalletId: walletId,
    payeeWalletId: walletId,
    amountMinor: decimalStringSchema,
    submittedAtMs: decimalStringSchema.meta({ description: 'When the gateway accepted it (Unix ms)' }),
  })
  .meta({ id: 'QueuedTransfer', description: 'Queued, not yet recorded: read it later at its Location, or resubmit the same signed transfer (safe: its id is its content)' });

/** What a submission answers 202 with: the queued transfer, or the record if it is already known and in flight. */
export const pendingTransferSchema = z.union([transferSchema, queuedTransferSchema]).meta({ id: 'PendingTransfer' });

const index = z.number().int().min(0).meta({ description: "The item's place in the request" });

/** An item the gateway refused before queuing it: nothing was recorded for it. */
export const invalidBatchItemSchema = z
  .object({
    index,
    id: transferId.nullable().meta({ description: 'The transfer id, when the item could be encoded' }),
    status: z.literal('invalid'),
    problem: inputProblemSchema,
  })
  .meta({
    id: 'InvalidBatchItem',
    description: 'Refused by the gateway before anything was queued (for example `bad_signature`, `transfer_expired`, `same_wallet`): `problem` says why, naming the field. Nothing was recorded; a corrected transfer is a new transfer.',
  });

export const batchItemSchema = z
  .union([transferSchema.extend({ index }), queuedTransferSchema.extend({ index }), invalidBatchItemSchema])
  .meta({ id: 'BatchItem', description: 'One result per item, in order: a recorded outcome, a queued transfer (`pending`), or `invalid`' });

export const batchResultsSchema = z.object({ results: z.array(batchItemSchema) }).meta({ id: 'BatchResults' });

export const transferPageSchema = z.object({ transfers: z.array(transferSchema), nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }) }).meta({ id: 'TransferPage' });

const batchHeaderSchema = z
  .object({
    shard: z.number().int().min(0),
    seq: decimalStringSchema,
    prevHash: hexSchema(32, "The previous batch's hash"),
    merkleRoot: hexSchema(32, "Root of the batch's leaves"),
    count: z.number().int().min(1),
    timeMs: decimalStringSchema,
    hash: hexSchema(32, 'SHA-256 of the encoded header'),
    signature: hexSchema(64, "The shard's Ed25519 signature of `hash`"),
  })
  .meta({ id: 'BatchHeader', description: 'A settlement batch header (docs/canonical-encoding.md)' });

const leafProofShape = {
  leafIndex: z.number().int().min(0),
  path: z.array(hexSchema(32, 'A sibling hash')).meta({ description: 'Sibling hashes from the leaf to the root' }),
  batch: batchHeaderSchema,
  shardPublicKey: hexSchema(32, "The committing shard's registered key; pin it out of band (GET /v1/shards)"),
};

export const receiptSchema = z
  .object({
    transfer: z.object({
      id: transferId,
      kind: z.enum(['transfer', 'funding']),
      payerWalletId: walletId,
      payeeWalletId: walletId,
      amountMinor: decimalStringSchema,
      status: z.enum(['settled', 'rejected', 'debited']).meta({ description: "As the payer's shard committed it: `debited` for a transfer between shards" }),
      code: z.string().nullable(),
    }),
    ...leafProofShape,
    legs: z.array(
      z.object({
        leg: z.object({ transferId, leg: z.enum(['credit', 'refund']), walletId, amountMinor: decimalStringSchema, status: z.enum(['applied', 'rejected']), code: z.string().nullable() }),
        ...leafProofShape,
      }),
    ),
  })
  .meta({ id: 'Receipt', description: "The transfer's leaf with its Merkle path and signed batch header, and those of its credit and refund legs between shards: verifiable offline with the shard keys (`verifyReceipt` in @cbdc/client)" });

export const shardsSchema = z
  .object({ shards: z.array(z.object({ shard: z.number().int().min(0), publicKey: hexSchema(32, "The shard's Ed25519 key"), headSeq: decimalStringSchema.meta({ description: 'Its latest batch' }) })) })
  .meta({ id: 'Shards' });
