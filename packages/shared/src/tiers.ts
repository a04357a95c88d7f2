/**
 * Wallet tiers after the public e-CNY classes. Class I (in-person verified) has no caps; the
 * figures for II and IV are the published ones, III sits between them. Amounts in fen.
 * Treasury wallets belong to banks and carry no caps.
 */
export const TIERS = ['I', 'II', 'III', 'IV'] as const;
export type Tier = (typeof TIERS)[number];

export interface TierLimits {
  balanceMaxMinor: bigint | null;
  paymentMaxMinor: bigint | null;
  dailyOutflowMaxMinor: bigint | null;
}

const YUAN = 100n;

export const TIER_LIMITS: Record<Tier, TierLimits> = {
  I: { balanceMaxMinor: null, paymentMaxMinor: null, dailyOutflowMaxMinor: null },
  II: { balanceMaxMinor: 500_000n * YUAN, paymentMaxMinor: 50_000n * YUAN, dailyOutflowMaxMinor: 100_000n * YUAN },
  III: { balanceMaxMinor: 20_000n * YUAN, paymentMaxMinor: 5_000n * YUAN, dailyOutflowMaxMinor: 10_000n * YUAN },
  IV: { balanceMaxMinor: 10_000n * YUAN, paymentMaxMinor: 2_000n * YUAN, dailyOutflowMaxMinor: 5_000n * YUAN },
};

/** The limits of a wallet: a tier's for customer wallets, none for a bank's treasury. */
export function limitsOf(kind: 'customer' | 'treasury', tier: Tier | null): TierLimits {
  if (kind === 'treasury' || tier === null) return { balanceMaxMinor: null, paymentMaxMinor: null, dailyOutflowMaxMinor: null };
  return TIER_LIMITS[tier];
}
