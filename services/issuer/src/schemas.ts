/**
 * The wire form of the issuer's answers: banks, operator actions, issuances, operators, supply and
 * wallet controls. The views return these types; tests check every answer against them
 * (@cbdc/http/response-contract). Component ids are distinct from the gateway's (one zod registry).
 */
import { z } from 'zod';
import { decimalStringSchema, hexSchema, isoTimeSchema } from '@cbdc/http/openapi';
import { OPERATOR_ACTION_KINDS } from '@cbdc/shared/dual-control';

export const bankSchema = z
  .object({
    id: z.string().meta({ example: 'bank-a' }),
    name: z.string(),
    publicKey: hexSchema(32, "The bank's Ed25519 API key"),
    treasuryWalletId: z.string().meta({ example: 't_bank-a' }),
    freeReserveMinor: decimalStringSchema.meta({ description: 'Reserve not pledged to back currency' }),
    mintedMinor: decimalStringSchema,
    retiredMinor: decimalStringSchema,
    treasuryBalanceMinor: decimalStringSchema,
    createdAt: isoTimeSchema,
  })
  .meta({ id: 'Bank', description: "A commercial bank and its position: free reserve, minted, retired, its treasury's balance" });
export type BankWire = z.output<typeof bankSchema>;

export const bankListSchema = z.object({ banks: z.array(bankSchema) }).meta({ id: 'BankList' });

const approvalReason = z.enum(['always_dual', 'above_single_action_max', 'operator_window_max', 'bank_window_max']).nullable().meta({ description: 'The rule that required a second operator; null if one operator could act alone' });

export const operatorActionSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(OPERATOR_ACTION_KINDS),
    bankId: z.string().nullable(),
    amountMinor: decimalStringSchema.nullable(),
    params: z.record(z.string(), z.string()).meta({ description: "What the action does, by kind (an onboarded bank's id, name and key; a reserve reference; ...)" }),
    requestedBy: z.string(),
    approvedBy: z.string().nullable(),
    status: z.enum(['pending_approval', 'executed', 'expired']),
    approvalReason,
    createdAt: isoTimeSchema,
    expiresAt: isoTimeSchema.meta({ description: 'A pending action not approved by then reads `expired`' }),
    executedAt: isoTimeSchema.nullable(),
  })
  .meta({ id: 'OperatorAction', description: 'An action under dual control' });
export type OperatorActionWire = z.output<typeof operatorActionSchema>;

export const operatorActionListSchema = z.object({ actions: z.array(operatorActionSchema) }).meta({ id: 'OperatorActionList' });

export const issuanceSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(['mint', 'retire']),
    bankId: z.string(),
    amountMinor: decimalStringSchema,
    requestedBy: z.string(),
    approvedBy: z.string().nullable(),
    status: z.enum(['pending_approval', 'retiring', 'executed', 'refused', 'expired']).meta({ description: '`retiring`: approved, its treasury debit not yet applied; `refused`: the treasury did not hold the amount' }),
    legStatus: z.enum(['sent', 'delivered']).nullable().meta({ description: "A mint's treasury credit: `sent` until the treasury's group applied it, then `delivered`" }),
    code: z.string().nullable().meta({ description: 'Why it was refused (`insufficient_treasury_balance`)' }),
    approvalReason: approvalReason.optional().meta({ description: 'Present when read from its action (pending, and in lists)' }),
    chainSeq: decimalStringSchema.nullable().meta({ description: 'Its entry in the signed issuance chain, once executed' }),
    createdAt: isoTimeSchema,
    expiresAt: isoTimeSchema.optional().meta({ description: 'Present when read from its action: a pending request not approved by then reads `expired`' }),
    executedAt: isoTimeSchema.nullable(),
  })
  .meta({ id: 'Issuance', description: 'A mint or retire request and how far it got' });
export type IssuanceWire = z.output<typeof issuanceSchema>;

export const issuanceListSchema = z.object({ issuances: z.array(issuanceSchema) }).meta({ id: 'IssuanceList' });

export const operatorSchema = z.object({ id: z.string(), name: z.string(), publicKey: hexSchema(32, "The operator's Ed25519 key"), createdBy: z.string().nullable(), createdAt: isoTimeSchema }).meta({ id: 'Operator' });
export type OperatorWire = z.output<typeof operatorSchema>;

export const operatorListSchema = z.object({ operators: z.array(operatorSchema) }).meta({ id: 'OperatorList' });

export const approvalSchema = z
  .object({
    action: operatorActionSchema,
    result: z.union([issuanceSchema, bankSchema, operatorSchema]).meta({ description: 'What executing it produced: the issuance (mint, retire), the bank (onboarding, reserve entry), or the operator' }),
  })
  .meta({ id: 'Approval' });

export const supplySchema = z
  .object({
    supplyMinor: decimalStringSchema.meta({ description: 'Currency outstanding: all mints minus all retirements' }),
    backingMinor: decimalStringSchema.meta({ description: 'Reserve pledged as backing: equals the supply' }),
    walletBalancesMinor: decimalStringSchema,
    heldMinor: decimalStringSchema.meta({ description: 'Set aside by open holds: taken from the payer balances, not yet captured or returned' }),
    inFlightMinor: decimalStringSchema.meta({ description: 'transfersInFlightMinor + issuanceInFlightMinor' }),
    transfersInFlightMinor: decimalStringSchema.meta({ description: "Debited at a payer's shard, not yet credited or refunded" }),
    issuanceInFlightMinor: decimalStringSchema.meta({ description: 'Between the central database and a shard group' }),
    freeReserveMinor: decimalStringSchema,
    chain: z.object({ seq: decimalStringSchema, headHash: hexSchema(32, "The issuance chain's head"), issuerPublicKey: hexSchema(32, 'The key that signs it').nullable() }),
    groups: z.array(
      z.object({
        group: z.number().int().min(0),
        shards: z.array(z.number().int().min(0)),
        walletBalancesMinor: decimalStringSchema,
        heldMinor: decimalStringSchema,
        transfersInFlightMinor: z
          .string()
          .regex(/^(0|-?[1-9][0-9]*)$/)
          .meta({
            description:
              "Money in flight as this group sees it: debited at its payers' shards and not yet closed, less what its payees' shards have already credited of transfers still open elsewhere; negative when credits here ran ahead of their payers' results (the groups' sum is the total)",
          }),
      }),
    ),
    banks: z.array(bankSchema),
  })
  .meta({ id: 'Supply', description: 'The conservation law, as it stands: supply = backing = wallet balances + in flight' });

/** The freezes of a wallet as the central bank sees them: with who froze it. */
const freezesWithActorsSchema = z
  .object({
    central: z.object({ reason: z.string(), reference: z.string().nullable(), frozenAt: isoTimeSchema, operatorId: z.string() }).nullable(),
    bank: z.object({ reason: z.string(), frozenAt: isoTimeSchema, bankId: z.string() }).nullable(),
  })
  .meta({ id: 'WalletFreezesWithActors' });

export const controlledWalletSchema = z
  .object({ id: z.string(), bankId: z.string(), status: z.enum(['active', 'frozen', 'closed']), balanceMinor: decimalStringSchema, freezes: freezesWithActorsSchema })
  .meta({ id: 'ControlledWallet', description: 'A wallet after a central-bank control, with both freezes and who froze it' });

export const issuerKeySchema = z.object({ publicKey: hexSchema(32, "The issuer's Ed25519 key, which signs the issuance chain") }).meta({ id: 'IssuerKey' });
