/** The wire form of wallets in the gateway's contract: what `walletView` returns, checked in tests against every answer. */
import { z } from 'zod';
import { decimalStringSchema, hexSchema, isoTimeSchema } from '@cbdc/http/openapi';
import { TIERS } from '@cbdc/shared/tiers';

const nullableMinor = decimalStringSchema.nullable().meta({ description: 'In fen; null: no cap' });

/** The freezes holding on a wallet, as its bank sees them (who froze it is the central bank's to know). */
export const walletFreezesSchema = z
  .object({
    central: z
      .object({ reason: z.string(), reference: z.string().nullable().meta({ description: 'The order or case the decision rests on' }), frozenAt: isoTimeSchema })
      .nullable()
      .meta({ description: "The central bank's freeze: only the central bank lifts it" }),
    bank: z.object({ reason: z.string(), frozenAt: isoTimeSchema }).nullable().meta({ description: "The bank's own freeze" }),
  })
  .meta({ id: 'WalletFreezes', description: "The freezes holding on a wallet, recorded apart: the central bank's and the bank's own" });

export const walletSchema = z
  .object({
    id: z.string().meta({ description: '`w_` and 24 hex digits, or `t_<bank>` for a treasury', example: 'w_0123456789abcdef01234567' }),
    bankId: z.string(),
    kind: z.enum(['customer', 'treasury']),
    tier: z.enum(TIERS).nullable().meta({ description: 'e-CNY class; null for a treasury' }),
    status: z.enum(['active', 'frozen', 'closed']).meta({ description: '`frozen` while either freeze holds' }),
    freezes: walletFreezesSchema,
    balanceMinor: decimalStringSchema,
    inFlightOutMinor: decimalStringSchema.meta({ description: 'Paid to other shards, not yet credited there' }),
    heldMinor: decimalStringSchema.meta({ description: "Set aside by the wallet's open holds: not spendable until captured or returned" }),
    dailyOutflowMinor: decimalStringSchema.meta({ description: "Today's payments out (UTC day)" }),
    limits: z.object({ balanceMaxMinor: nullableMinor, paymentMaxMinor: nullableMinor, dailyOutflowMaxMinor: nullableMinor }).meta({ description: "The tier's caps" }),
    publicKey: hexSchema(32, "The customer's Ed25519 public key; null for a treasury").nullable(),
    customerRef: z.string().nullable().meta({ description: 'Opaque to the central bank: only the bank resolves it' }),
    shard: z.number().int().min(0),
    createdAt: isoTimeSchema,
  })
  .meta({
    id: 'Wallet',
    examples: [
      {
        id: 'w_0123456789abcdef01234567',
        bankId: 'bank-a',
        kind: 'customer',
        tier: 'IV',
        status: 'active',
        freezes: { central: null, bank: null },
        balanceMinor: '150000',
        inFlightOutMinor: '0',
        heldMinor: '0',
        dailyOutflowMinor: '2500',
        limits: { balanceMaxMinor: '1000000', paymentMaxMinor: '200000', dailyOutflowMaxMinor: '500000' },
        publicKey: 'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c',
        customerRef: 'cust-8842',
        shard: 3,
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    ],
  });
export type Wallet = z.output<typeof walletSchema>;

export const walletPageSchema = z.object({ wallets: z.array(walletSchema), nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }) }).meta({ id: 'WalletPage' });
