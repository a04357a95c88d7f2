/**
 * The registry (governance) chains: every registration and change of a fact that decides who may
 * move money (operators, banks and their keys, reserve entries, wallets: owner, kind, tier, key,
 * customer reference, shard, status) is an event, hashed and signed, appended in the same
 * transaction as the row it explains. The audit replays the chains and names every stored row
 * that no event accounts for.
 *
 * Chains: "central" holds operators, bank onboardings and reserve entries (written by the issuer);
 * "bank:<bank id>/shard:<n>" holds the wallets of that bank on that shard (opened, re-tiered,
 * re-keyed, frozen, unfrozen, closed by the bank at the gateway, or frozen and unfrozen by the
 * central bank at the issuer). One chain per bank and shard, not one global head: a wallet change
 * locks only its own bank's head on its shard, and every event of one wallet is totally ordered in
 * one chain.
 *
 * Event (canonical bytes, hashed with SHA-256; the hash is signed with Ed25519):
 *   "CBDC/registry/v1" | chain (u8 len + ASCII) | seq u64 | previous hash (32)
 *   | kind u8 (1 operator_registered, 2 bank_onboarded, 3 reserve_entry, 4 wallet_opened,
 *                5 wallet_status_changed, 6 operator_key_changed, 7 wallet_tier_changed,
 *                8 wallet_key_replaced)
 *   | subject (u8 len + ASCII: operator, bank or wallet id)
 *   | fact count u8, then per fact in ascending name order: name (u8 len + ASCII), value (u16 len + UTF-8)
 *   | actor kind u8 (1 system, 2 operator, 3 bank) | actor id (u8 len + ASCII)
 *   | authority hash (32; SHA-256 of the actor's signed request, zeros when there is none)
 *   | signer u8 (1 issuer, 2 gateway) | time, Unix ms, u64
 *
 * Authority: the caller's own signed request (the string it signed, its signature and the raw
 * body), stored beside the event. The audit verifies it against the actor's key in force (from
 * the chain, not from the `banks`/`operators` tables) and that it names this event's facts.
 *
 * Example: bank "bank-a" opening wallet "w_0123..." is event {chain "bank:bank-a/shard:0", seq 1,
 * previous hash 00..00, kind wallet_opened, subject "w_0123...", facts {bankId "bank-a",
 * customerRef "c-1", kind "customer", publicKey "<64 hex>", shard "0", tier "II"}, actor bank
 * "bank-a", authority SHA-256 of its POST /v1/wallets request, signer gateway}.
 */
import { createHmac } from 'node:crypto';
import { ByteWriter } from './bytes.js';
import { sha256, signerFromSeed, type Signer } from './crypto.js';

export const REGISTRY_DOMAIN_TAG = 'CBDC/registry/v1';
export const AUTHORITY_DOMAIN_TAG = 'CBDC/authority/v1';
export const CENTRAL_CHAIN = 'central';
export const NO_AUTHORITY = Buffer.alloc(32);

export const REGISTRY_KIND_CODE = { operator_registered: 1, bank_onboarded: 2, reserve_entry: 3, wallet_opened: 4, wallet_status_changed: 5, operator_key_changed: 6, wallet_tier_changed: 7, wallet_key_replaced: 8 } as const;
export type RegistryKind = keyof typeof REGISTRY_KIND_CODE;
export const ACTOR_KIND_CODE = { system: 1, operator: 2, bank: 3 } as const;
export type ActorKind = keyof typeof ACTOR_KIND_CODE;
export const SIGNER_CODE = { issuer: 1, gateway: 2 } as const;
export type SignerRole = keyof typeof SIGNER_CODE;

/** Named facts, as strings (keys hex, amounts decimal). */
export type Facts = Readonly<Record<string, string>>;

export interface RegistryEvent {
  chain: string;
  seq: bigint;
  prevHash: Buffer;
  kind: RegistryKind;
  subject: string;
  facts: Facts;
  actorKind: ActorKind;
  actorId: string;
  authorityHash: Buffer;
  signer: SignerRole;
  timeMs: bigint;
}

/** A caller's signed request, kept as the authority of the event it caused. */
export interface Authority {
  /** The exact string the caller signed (see request-auth.ts). */
  message: Buffer;
  signature: Buffer;
  /** The raw request body the message's body hash covers. */
  body: Buffer;
}

/**
 * The chain that records facts about a bank's wallets on one shard. One chain per bank and shard,
 * so that each chain lives, with its wallets, in the shard's database (see @cbdc/shared/topology)
 * and moves with the shard.
 */
export function bankChainOf(bankId: string, shard: number): string {
  return `bank:${bankId}/shard:${shard}`;
}

/** Canonical bytes of a registry event. */
export function encodeRegistryEvent(e: RegistryEvent): Buffer {
  const names = Object.keys(e.facts).sort();
  if (names.length > 0xff) throw new RangeError('too many facts');
  const w = new ByteWriter().tag(REGISTRY_DOMAIN_TAG).shortString(e.chain).u64(e.seq).digest(e.prevHash).u8(REGISTRY_KIND_CODE[e.kind]).shortString(e.subject).u8(names.length);
  for (const name of names) w.shortString(name).longString(e.facts[name]);
  return w.u8(ACTOR_KIND_CODE[e.actorKind]).shortString(e.actorId).digest(e.authorityHash).u8(SIGNER_CODE[e.signer]).u64(e.timeMs).bytes();
}

/** Hash of a registry event. */
export function registryEventHash(e: RegistryEvent): Buffer {
  return sha256(encodeRegistryEvent(e));
}

/** Hash of an authority: "CBDC/authority/v1" | message (u32 len) | signature (u32 len) | body (u32 len). */
export function authorityHashOf(a: Authority | null): Buffer {
  if (!a) return NO_AUTHORITY;
  const w = new ByteWriter().tag(AUTHORITY_DOMAIN_TAG);
  for (const part of [a.message, a.signature, a.body]) w.u32(part.length).raw(part);
  return sha256(w.bytes());
}

/** Facts of a wallet opening (a customer wallet at the gateway, or a treasury at onboarding). */
export function walletOpenedFacts(w: { bankId: string; kind: 'customer' | 'treasury'; tier: string | null; publicKey: Buffer | null; customerRef: string | null; shard: number }): Facts {
  return { bankId: w.bankId, kind: w.kind, tier: w.tier ?? '', publicKey: w.publicKey ? w.publicKey.toString('hex') : '', customerRef: w.customerRef ?? '', shard: String(w.shard) };
}

/** Who changed a wallet's status: its bank, or the central bank. */
export type StatusAuthority = 'bank' | 'central';

/** Facts of a wallet status change. */
export function walletStatusFacts(status: 'active' | 'frozen' | 'closed', by: StatusAuthority, action?: 'freeze' | 'unfreeze' | 'close'): Facts {
  // The action names the request that authorised it: a bank's unfreeze can leave a wallet frozen
  // (the central bank's freeze holds), so the status alone does not say which request it was.
  return action ? { status, by, action } : { status, by };
}

/** Facts of a tier change: the new tier, the one it replaces, and the bank's reason. */
export function walletTierFacts(c: { tier: string; previousTier: string; reason: string }): Facts {
  return { tier: c.tier, previousTier: c.previousTier, reason: c.reason };
}

/**
 * Facts of a customer key replacement: the new key, the one it replaces, the bank's reason, and
 * the seq of the shard's head batch when it was made (read under the shard lock): the new key
 * governs the shard's batches after that seq, the old one every batch up to it. This is what lets
 * the audit verify each transfer against the key in force when it settled, without a clock.
 */
export function walletKeyFacts(c: { publicKey: Uint8Array; previousPublicKey: Uint8Array | null; reason: string; shardHeadSeq: bigint }): Facts {
  const hex = (k: Uint8Array | null) => (k ? Buffer.from(k).toString('hex') : '');
  return { publicKey: hex(c.publicKey), previousPublicKey: hex(c.previousPublicKey), reason: c.reason, shardHeadSeq: c.shardHeadSeq.toString() };
}

/**
 * The gateway's registry signing key, derived from its attestation secret (HMAC-SHA-256 with a
 * registry tag) so that no new secret is needed; when gateways get Ed25519 keys of their own,
 * that key signs instead. The link signature attributes an event to a gateway; what makes a
 * gateway-written event authoritative is the bank's own signed request stored with it.
 */
export function registrySignerOfAttestationKey(attestationKey: Uint8Array): Signer {
  return signerFromSeed(createHmac('sha256', attestationKey).update('CBDC/registry-signer/v1').digest());
}
