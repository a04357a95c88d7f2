/**
 * The queue contract between gateways and settlement workers. One job carries one
 * micro-batch of items for one shard.
 *
 * Nothing that arrives through Redis moves money on its own. Each item carries its own authority
 * (the customer's signature over the canonical transfer, or the bank's signed funding request),
 * which the settlement core verifies against the key in force. On top of that, every job is
 * attested with the Ed25519 key of whoever made it: a gateway (its own key, configured at the
 * settlement service, so that attestations are attributable and a gateway can be revoked) or a
 * shard (its chain key, for the legs it sends other shards). A job whose attestation does not
 * verify is never opened. Exactly-once comes from Postgres (unique ids and nonces), never from
 * the queue.
 */
import { encodeTransfer, transferIdOf, type ItemKind } from './canonical.js';
import { encodeHold, holdIdOf } from './canonical-hold.js';
import { ed25519VerifyRaw, parseHex, type Signer } from './crypto.js';
import { fundingAuthorityMessage, type FundingAuthority } from './funding-authority.js';
import { holdActionAuthorityMessage, type HoldActionAuthority } from './hold-authority.js';
import { isTreasuryWalletId } from './ids.js';
import type { ItemAuthority, SettlementItem } from './ledger/settle.js';
import type { RejectionCode } from './errors.js';
import { keySlot, REDIS_CLUSTER_SLOTS } from './redis-slot.js';

/** Slots in the window a shard's queue aims for (see shardQueueTag). */
export const SHARD_QUEUE_SLOT_WINDOW = 128;

/** The 14-bit reversal of `shard`: 0, 8192, 4096, 12288, 2048, ... spreads any number of shards evenly over the slots. */
export function shardSlotTarget(shard: number): number {
  let reversed = 0;
  for (let bit = 0; bit < 14; bit++) if (shard & (1 << bit)) reversed |= 1 << (13 - bit);
  return reversed;
}

/**
 * The hash tag of a shard's queue: "<prefix>-s<shard>", or "<prefix>-s<shard>.<k>" with the
 * smallest k that puts it in the 128-slot window starting at shardSlotTarget(shard). All of a
 * queue's keys carry it (BullMQ's scripts touch several keys of a queue at once, which on Redis
 * Cluster must share a slot), and the windows of shards 0, 1, 2, 3, ... halve the slot space again
 * and again, so that shards land on different masters of a cluster whose masters hold equal ranges
 * of slots (as `redis-cli --cluster create` assigns them), whatever the prefix and the shard count.
 * A plain "{<prefix>-s<shard>}" would put them where CRC16 happens to, often several on one master.
 */
export function shardQueueTag(prefix: string, shard: number): string {
  const target = shardSlotTarget(shard);
  const inWindow = (tag: string) => (keySlot(`{${tag}}`) - target + REDIS_CLUSTER_SLOTS) % REDIS_CLUSTER_SLOTS < SHARD_QUEUE_SLOT_WINDOW;
  const base = `${prefix}-s${shard}`;
  if (inWindow(base)) return base;
  // A window of 128 of 16,384 slots is hit after about 128 tries; 65,536 tries all missing is a broken CRC.
  for (let k = 1; k < 65_536; k++) if (inWindow(`${base}.${k}`)) return `${base}.${k}`;
  throw new Error(`invariant broken: no hash tag for shard ${shard} lands in slots ${target}+${SHARD_QUEUE_SLOT_WINDOW}`);
}

/** The queue of a shard: name "settle" under the prefix "{<its hash tag>}", so that on Redis Cluster the whole queue lives in one slot. */
export function shardQueue(prefix: string, shard: number): { name: string; prefix: string } {
  return { name: 'settle', prefix: `{${shardQueueTag(prefix, shard)}}` };
}

/**
 * Where a gateway process hears the outcomes of its own jobs: a stream of its own (its own hash
 * tag), so that no gateway reads the answers meant for the others. One entry per committed job,
 * field `result` holding its JobResult as JSON.
 */
export function replyStream(prefix: string, gatewayId: string): string {
  return `{${prefix}-gw-${gatewayId}}:replies`;
}

/**
 * Final outcomes of transfers between shards whose waiting gateway is not known: they arrive with
 * a credit result at the payer's shard, in a job no gateway made. The gateway's id normally travels
 * with the credit and back (its result then goes to that gateway's reply stream); a credit sent
 * again by the sweeper has lost it, and its result comes here, where every gateway reads it.
 */
export function finalsStream(prefix: string): string {
  return `{${prefix}-finals}:outcomes`;
}

/** An origin item as it travels in a job (from a gateway): bigints as decimal strings. */
export interface JobItem {
  type?: 'origin';
  id: string;
  kind: ItemKind;
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  nonce: string | null;
  expiresAtMs: string | null;
  memo: string;
  signature: string | null;
  submittedAtMs: number;
  /** The payee's shard (the payer's shard is the job's). */
  payeeShard: number;
  /** A funding's authority: the bank's signed request (a transfer's is its customer signature). */
  authority?: FundingAuthority;
  /** The payment request a transfer pays: part of its signed bytes (canonical v2), absent for v1. */
  requestId?: string;
}

/** A credit for a payee on this shard, sent by the payer's shard. */
export interface JobCredit {
  type: 'credit';
  id: string;
  payeeWalletId: string;
  amountMinor: string;
  fromShard: number;
  /** The gateway waiting for the transfer's final outcome, carried there and back (absent on a resend by the sweeper). */
  replyTo?: string;
  /**
   * The payment request the transfer pays, checked and marked paid at the payee's shard. Only a
   * shard sends credits (see openJob), and it forwards the id from the transfer its customer signed.
   */
  requestId?: string;
}

/** The answer to a credit, sent back to the payer's shard. */
export interface JobCreditResult {
  type: 'credit_result';
  id: string;
  status: 'applied' | 'rejected';
  code: RejectionCode | null;
  /** The payee's shard, which applied or rejected the credit (and attests the job). */
  fromShard: number;
  /** The credit's `replyTo`, sent back with its result. */
  replyTo?: string;
}

/** A customer-signed hold, from a gateway, for the payer's shard (see @cbdc/shared/ledger-holds). */
export interface JobHold {
  type: 'hold';
  id: string;
  bankId: string;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  nonce: string;
  expiresAtMs: string;
  holdExpiresAtMs: string;
  memo: string;
  signature: string;
  submittedAtMs: number;
}

/** A bank's capture or void of a hold, from a gateway, for the hold's (payer's) shard; its authority is the bank's signed request. */
export interface JobHoldAction {
  type: 'hold_capture' | 'hold_void';
  /** holdActionIdOf(bank, Idempotency-Key). */
  id: string;
  holdId: string;
  bankId: string;
  /** The amount captured, decimal; null for a void. */
  amountMinor: string | null;
  authority: HoldActionAuthority;
  submittedAtMs: number;
}

/** The expiry of a hold, made by its shard's own worker (never accepted from a job). */
export interface JobHoldExpire {
  type: 'hold_expire';
  id: string;
}

export type AnyJobItem = JobItem | JobCredit | JobCreditResult | JobHold | JobHoldAction | JobHoldExpire;

/** The item types a gateway may send (a shard sends legs only; nobody sends an expiry). */
const GATEWAY_ITEM_TYPES: ReadonlySet<string | undefined> = new Set([undefined, 'origin', 'hold', 'hold_capture', 'hold_void']);

export interface JobPayload {
  shard: number;
  items: AnyJobItem[];
}

export interface SettlementJobData {
  /** The gateway process waiting for the outcomes (its reply stream), or the sending shard. */
  gatewayId: string;
  /** Who attests the job: "gateway:<key id>" or "shard:<n>". */
  attestor: string;
  payload: string;
  /** Ed25519 signature of the attestor over `attestationMessage(attestor, gatewayId, payload)`, hex. */
  signature: string;
}

export interface JobOutcome {
  id: string;
  type: 'origin' | 'credit' | 'credit_result' | 'hold' | 'hold_capture' | 'hold_void' | 'hold_expire';
  status: 'settled' | 'rejected' | 'debited' | 'applied' | 'duplicate' | 'unauthorized';
  code?: RejectionCode;
}

/**
 * What a completed job keeps in the queue: where it was committed and how many items it held
 * (its outcomes went to the gateway's reply stream, and are in Postgres).
 */
export interface JobSummary {
  shard: number;
  batchSeq: string | null;
  timeMs: number;
  items: number;
}

export interface JobResult {
  shard: number;
  batchSeq: string | null;
  /** The batch time (settled at), Unix ms. */
  timeMs: number;
  outcomes: JobOutcome[];
}

const ATTESTATION_TAG = 'CBDC-JOB-V1';

function attestationMessage(attestor: string, gatewayId: string, payload: string): Buffer {
  return Buffer.from(`${ATTESTATION_TAG}\n${attestor}\n${gatewayId}\n${payload}`, 'utf8');
}

/** The attestor name of a gateway key id. */
export const gatewayAttestor = (keyId: string) => `gateway:${keyId}`;
/** The attestor name of a shard (it signs the legs it sends with its chain key). */
export const shardAttestor = (shard: number) => `shard:${shard}`;

/** Wraps a payload with the attestor's signature. */
export function attestJob(signer: Signer, attestor: string, gatewayId: string, payload: JobPayload): SettlementJobData {
  const text = JSON.stringify(payload);
  return { gatewayId, attestor, payload: text, signature: signer.sign(attestationMessage(attestor, gatewayId, text)).toString('hex') };
}

/**
 * Checks a job's attestation and returns its payload, or null if it does not verify against the
 * attestor's key (`keyOf` answers null for an unknown or revoked attestor), or if the attestor
 * sends what it may not: gateways send origin items only, a shard sends legs only, and only
 * credits it is the source of.
 */
export function openJob(data: SettlementJobData, keyOf: (attestor: string) => Uint8Array | null): JobPayload | null {
  if (typeof data?.payload !== 'string' || typeof data?.signature !== 'string' || typeof data?.gatewayId !== 'string' || typeof data?.attestor !== 'string') return null;
  const key = keyOf(data.attestor);
  const signature = parseHex(data.signature, 64);
  if (!key || !signature || !ed25519VerifyRaw(key, attestationMessage(data.attestor, data.gatewayId, data.payload), signature)) return null;
  let payload: JobPayload;
  try {
    payload = JSON.parse(data.payload) as JobPayload;
  } catch {
    return null;
  }
  if (!payload || !Array.isArray(payload.items) || !Number.isInteger(payload.shard)) return null;
  const fromShard = data.attestor.startsWith('shard:') ? Number(data.attestor.slice('shard:'.length)) : null;
  const allowed = (i: AnyJobItem) => (fromShard === null ? GATEWAY_ITEM_TYPES.has(i.type) : (i.type === 'credit_result' || i.type === 'credit') && i.fromShard === fromShard);
  return payload.items.every((i) => i && typeof i === 'object' && allowed(i)) ? payload : null;
}

/**
 * What an origin item's authority is, decoded from the job: for a transfer, the canonical bytes
 * (its id must be their hash) and the customer's signature; for a funding, the bank's signed
 * request (which must ask for exactly this funding). Null if the item does not carry a
 * consistent one: the core then refuses it unrecorded.
 */
export function authorityOf(item: JobItem, audience: string): ItemAuthority | null {
  if (item.kind === 'funding') {
    const message = fundingAuthorityMessage(item.authority, { id: item.id, bankId: item.bankId, payerWalletId: item.payerWalletId, payeeWalletId: item.payeeWalletId, amountMinor: item.amountMinor }, audience);
    return message ? { by: 'bank', message, signature: Buffer.from(item.authority!.signature, 'hex') } : null;
  }
  const signature = typeof item.signature === 'string' ? parseHex(item.signature, 64) : null;
  if (!signature || item.nonce === null || item.expiresAtMs === null) return null;
  try {
    // v2 when the item names a payment request: the id the customer signed, or the signature fails.
    const message = encodeTransfer({
      payerWalletId: item.payerWalletId,
      payeeWalletId: item.payeeWalletId,
      amountMinor: BigInt(item.amountMinor),
      nonce: BigInt(item.nonce),
      expiresAtMs: BigInt(item.expiresAtMs),
      memo: item.memo,
      requestId: item.requestId,
    });
    return transferIdOf(message) === item.id ? { by: 'customer', message, signature } : null;
  } catch {
    return null;
  }
}

/** A hold's authority: its canonical bytes (its id must be their hash) and the customer's signature; null if inconsistent. */
export function holdAuthorityOf(item: JobHold): ItemAuthority | null {
  const signature = typeof item.signature === 'string' ? parseHex(item.signature, 64) : null;
  if (!signature) return null;
  try {
    const message = encodeHold({
      payerWalletId: item.payerWalletId,
      payeeWalletId: item.payeeWalletId,
      amountMinor: BigInt(item.amountMinor),
      nonce: BigInt(item.nonce),
      expiresAtMs: BigInt(item.expiresAtMs),
      holdExpiresAtMs: BigInt(item.holdExpiresAtMs),
      memo: item.memo,
    });
    return holdIdOf(message) === item.id ? { by: 'customer', message, signature } : null;
  } catch {
    return null;
  }
}

/** A capture's or void's authority: the bank's signed request, if it asks for exactly this action; else null. */
export function holdActionAuthorityOf(item: JobHoldAction, audience: string): ItemAuthority | null {
  const claim = { id: item.id, bankId: item.bankId, holdId: item.holdId, action: item.type === 'hold_capture' ? ('capture' as const) : ('void' as const), amountMinor: item.amountMinor ?? undefined };
  const message = holdActionAuthorityMessage(item.authority, claim, audience);
  return message ? { by: 'bank', message, signature: Buffer.from(item.authority.signature, 'hex') } : null;
}

function isHoldAction(item: AnyJobItem): item is JobHoldAction {
  return item.type === 'hold_capture' || item.type === 'hold_void';
}

/** A decimal field of a forged job may not convert; the core then refuses the item as malformed. */
function bigintOr(value: unknown, otherwise: bigint): bigint {
  try {
    return typeof value === 'string' ? BigInt(value) : otherwise;
  } catch {
    return otherwise;
  }
}

/** The core's view of a job item at `shard`, in environment `audience`. */
export function toSettlementItem(item: AnyJobItem, shard: number, audience: string): SettlementItem {
  if (item.type === 'hold') {
    return {
      type: 'hold',
      id: item.id,
      bankId: item.bankId,
      payerWalletId: item.payerWalletId,
      payeeWalletId: item.payeeWalletId,
      amountMinor: bigintOr(item.amountMinor, -1n),
      nonce: bigintOr(item.nonce, -1n),
      expiresAtMs: bigintOr(item.expiresAtMs, -1n),
      holdExpiresAtMs: bigintOr(item.holdExpiresAtMs, -1n),
      memo: item.memo,
      authority: holdAuthorityOf(item),
    };
  }
  if (isHoldAction(item)) {
    return { type: item.type, id: item.id, holdId: item.holdId, bankId: item.bankId, amountMinor: item.type === 'hold_capture' ? bigintOr(item.amountMinor, -1n) : null, authority: holdActionAuthorityOf(item, audience) };
  }
  if (item.type === 'hold_expire') return { type: 'hold_expire', id: item.id };
  if (item.type === 'credit') return { type: 'credit', id: item.id, payeeWalletId: item.payeeWalletId, amountMinor: BigInt(item.amountMinor), fromShard: item.fromShard, requestId: item.requestId ?? null };
  if (item.type === 'credit_result') return { type: 'credit_result', id: item.id, status: item.status, code: item.code, fromShard: item.fromShard };
  return {
    type: 'origin',
    id: item.id,
    kind: item.kind,
    bankId: item.bankId,
    payerWalletId: item.payerWalletId,
    payeeWalletId: item.payeeWalletId,
    amountMinor: BigInt(item.amountMinor),
    nonce: item.nonce === null ? null : BigInt(item.nonce),
    expiresAtMs: item.expiresAtMs === null ? null : BigInt(item.expiresAtMs),
    payeeRemote: item.payeeShard !== shard,
    payeeIsTreasury: isTreasuryWalletId(item.payeeWalletId),
    authority: authorityOf(item, audience),
    memo: item.memo,
    requestId: item.requestId ?? null,
  };
}
