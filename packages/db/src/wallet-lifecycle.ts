/**
 * Recording a wallet's tier change or customer key replacement, by its bank (the pure rules are in
 * @cbdc/shared/wallet-lifecycle). Each is one function, called inside the caller's transaction, that
 * takes the shard lock (reading the shard's head batch there), reads the wallet row under it,
 * decides, writes the row, tells the bank (an event in `events`) and appends the registry event
 * that explains the row, signed by `registry` and carrying the bank's signed request. All of it
 * commits together or not at all; a refusal is returned before anything is written.
 *
 * The shard lock is what makes "from the next batch" exact: the settlement worker commits each
 * batch under it and starts from the wallet rows afresh once `wallets_version` moved, so every
 * batch after the recorded head seq reads the new tier and key, and no batch up to it did.
 *
 * Lock order, as everywhere: shard head, then the wallet row, then the bank's event head, then the
 * registry chain head last.
 */
import type { NewEvent } from '@cbdc/shared/events';
import { bankChainOf, walletKeyFacts, walletTierFacts, type Authority } from '@cbdc/shared/registry';
import type { Tier } from '@cbdc/shared/tiers';
import { keyReplacementRefusal, tierChangeRefusal, type KeyReplacementRefusal, type TierChangeRefusal } from '@cbdc/shared/wallet-lifecycle';
import type { Sql } from './connect.js';
import { appendEvents } from './events.js';
import { appendRegistryEvent, type RegistrySigner } from './registry.js';
import { lockShardAtHead } from './shard-lock.js';

/** Who asks for a change, why, and the signed request that is its authority. */
export interface WalletChangeRequest {
  /** The wallet's bank: only its own wallets are found. */
  bankId: string;
  reason: string;
  /** The bank's signed request, stored with the registry event (see docs/registry.md). */
  authority: Authority | null;
  nowMs: number;
}

/** The columns a change is decided on. */
interface LifecycleColumns {
  id: string;
  bank_id: string;
  shard: number;
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  public_key: Buffer | null;
  status: 'active' | 'frozen' | 'closed';
  balance_minor: bigint;
  in_flight_out_minor: bigint;
  held_minor: bigint;
}

/** The bank's own wallet, read under its shard's lock, with the shard's head batch seq; null if it is not the bank's. */
async function lockOwnWallet<R extends LifecycleColumns>(tx: Sql, walletId: string, bankId: string): Promise<{ row: R; headSeq: bigint } | null> {
  const [place] = await tx<{ shard: number }[]>`select shard from wallets where id = ${walletId} and bank_id = ${bankId}`;
  if (!place) return null;
  const headSeq = await lockShardAtHead(tx, place.shard);
  const [row] = await tx<R[]>`select * from wallets where id = ${walletId} for update`;
  return { row, headSeq };
}

/** Tells the bank and appends the registry event explaining the row, in that order (the chain head last). */
async function record(tx: Sql, registry: RegistrySigner, row: LifecycleColumns, request: WalletChangeRequest, event: NewEvent, kind: 'wallet_tier_changed' | 'wallet_key_replaced', facts: Record<string, string>): Promise<void> {
  await appendEvents(tx, row.shard, request.nowMs, [event]);
  await appendRegistryEvent(tx, registry, {
    chain: bankChainOf(row.bank_id, row.shard),
    kind,
    subject: row.id,
    facts,
    actorKind: 'bank',
    actorId: request.bankId,
    authority: request.authority,
    timeMs: request.nowMs,
  });
}

/**
 * A KYC upgrade or downgrade: the new tier's caps apply from the shard's next batch. Refused for a
 * treasury, a closed wallet, the tier it has, and a downgrade below what the wallet holds.
 */
export async function changeWalletTier<R extends LifecycleColumns>(tx: Sql, registry: RegistrySigner, walletId: string, tier: Tier, request: WalletChangeRequest): Promise<R | TierChangeRefusal | 'wallet_not_found'> {
  const found = await lockOwnWallet<R>(tx, walletId, request.bankId);
  if (!found) return 'wallet_not_found';
  const w = found.row;
  // What the wallet answers for beyond its balance: the money on its way out, and the money its
  // open holds set aside (either may come back to it, and must then fit under the cap).
  const refusal = tierChangeRefusal({ kind: w.kind, tier: w.tier, status: w.status, balanceMinor: w.balance_minor, committedMinor: w.in_flight_out_minor + w.held_minor }, tier);
  if (refusal) return refusal;
  const [row] = await tx<R[]>`update wallets set tier = ${tier}, updated_at = now() where id = ${walletId} returning *`;
  const previousTier = w.tier as Tier;
  await record(
    tx,
    registry,
    row,
    request,
    { bankId: row.bank_id, type: 'wallet.tier_changed', subjectId: row.id, walletId: row.id, amountMinor: null, code: null, data: { tier, previousTier, reason: request.reason } },
    'wallet_tier_changed',
    walletTierFacts({ tier, previousTier, reason: request.reason }),
  );
  return row;
}

/**
 * Replaces a customer's key (a lost device): the old key is refused from the shard's next batch,
 * queued transfers signed with it included. The event records the shard's head batch seq read
 * under the lock, so that the audit knows exactly which batches each key governs. Nonces stay
 * per wallet across keys: a transfer's id does not name its key, so a nonce spent under the old
 * key stays spent under the new one.
 */
export async function replaceWalletKey<R extends LifecycleColumns>(tx: Sql, registry: RegistrySigner, walletId: string, publicKey: Buffer, request: WalletChangeRequest): Promise<R | KeyReplacementRefusal | 'wallet_not_found'> {
  const found = await lockOwnWallet<R>(tx, walletId, request.bankId);
  if (!found) return 'wallet_not_found';
  const w = found.row;
  const refusal = keyReplacementRefusal({ kind: w.kind, status: w.status, publicKey: w.public_key }, publicKey);
  if (refusal) return refusal;
  const [row] = await tx<R[]>`update wallets set public_key = ${publicKey}, updated_at = now() where id = ${walletId} returning *`;
  const hex = (k: Buffer | null) => (k ? k.toString('hex') : null);
  await record(
    tx,
    registry,
    row,
    request,
    { bankId: row.bank_id, type: 'wallet.key_replaced', subjectId: row.id, walletId: row.id, amountMinor: null, code: null, data: { publicKey: hex(publicKey), previousPublicKey: hex(w.public_key), reason: request.reason } },
    'wallet_key_replaced',
    walletKeyFacts({ publicKey, previousPublicKey: w.public_key, reason: request.reason, shardHeadSeq: found.headSeq }),
  );
  return row;
}
