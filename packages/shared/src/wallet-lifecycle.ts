/**
 * A wallet's lifecycle after its opening, pure: a tier change (KYC upgrade or downgrade) and the
 * replacement of a customer's key (a lost device), each decided by its bank. Both are recorded in
 * the wallet's registry chain (see registry.ts) and reach settlement through the wallet row, under
 * the shard lock: the new caps and the new key apply from the shard's next batch.
 *
 * A downgrade is refused while the wallet holds more than the new tier's balance cap allows,
 * counting the money on its way out (debited towards another shard, not yet credited): a refund of
 * it must still fit under the cap, the rule settlement applies to a payee (`payeeHeadroomCheck`).
 */
import type { WalletStatus } from './ledger/settle.js';
import { limitsOf, type Tier } from './tiers.js';

export type TierChangeRefusal = 'wallet_is_treasury' | 'wallet_closed' | 'tier_unchanged' | 'tier_below_balance';
export type KeyReplacementRefusal = 'wallet_is_treasury' | 'wallet_closed' | 'key_unchanged';

/** What a tier change is decided on: the wallet row, read under the shard lock. */
export interface TierChangeBasis {
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  status: WalletStatus;
  balanceMinor: bigint;
  /** Money the wallet still answers for beyond its balance (in flight outwards, and held by open holds). */
  committedMinor: bigint;
}

/** Why a tier change is refused, or null if it may proceed. A frozen wallet may change tier. */
export function tierChangeRefusal(w: TierChangeBasis, tier: Tier): TierChangeRefusal | null {
  if (w.kind === 'treasury') return 'wallet_is_treasury';
  if (w.status === 'closed') return 'wallet_closed';
  if (w.tier === tier) return 'tier_unchanged';
  const cap = limitsOf('customer', tier).balanceMaxMinor;
  if (cap !== null && w.balanceMinor + w.committedMinor > cap) return 'tier_below_balance';
  return null;
}

/** What a key replacement is decided on. */
export interface KeyReplacementBasis {
  kind: 'customer' | 'treasury';
  status: WalletStatus;
  publicKey: Uint8Array | null;
}

/**
 * Why a key replacement is refused, or null. A frozen wallet may be re-keyed (a bank freezes a
 * wallet when its customer reports the device lost, replaces the key, then lifts its freeze).
 */
export function keyReplacementRefusal(w: KeyReplacementBasis, publicKey: Uint8Array): KeyReplacementRefusal | null {
  if (w.kind === 'treasury') return 'wallet_is_treasury';
  if (w.status === 'closed') return 'wallet_closed';
  if (w.publicKey !== null && Buffer.from(w.publicKey).equals(Buffer.from(publicKey))) return 'key_unchanged';
  return null;
}

/** One key of a wallet's history: in force for the batches of the wallet's shard with a seq above `afterBatchSeq`. */
export interface KeyPeriod {
  publicKey: string;
  afterBatchSeq: bigint;
}

/**
 * The key in force for a batch of the wallet's shard: the last one recorded before that batch.
 * A key replaced when the shard's head was batch H governs batches H+1 onwards (the replacement
 * and the settlement worker's batches commit under the same shard lock, so no batch straddles
 * it). Null if the wallet has no key (a treasury).
 */
export function keyInForce(history: readonly KeyPeriod[], batchSeq: bigint): string | null {
  let key: string | null = null;
  for (const period of history) {
    if (period.afterBatchSeq >= batchSeq) break;
    key = period.publicKey;
  }
  return key;
}
