/**
 * The queue contract between gateways and settlement workers. One job carries one
 * micro-batch of items for one shard. The gateway attests each job with an HMAC over the exact
 * payload string, so a worker accepts work only from gateways, not from anyone who can write
 * to Redis. Exactly-once comes from Postgres (unique ids and nonces), never from the queue.
 */
import { hexEqual, hmacHex } from './crypto.js';
import type { ItemKind } from './canonical.js';
import { isTreasuryWalletId } from './ids.js';
import type { SettlementItem } from './ledger/settle.js';
import type { RejectionCode } from './errors.js';

/** The queue of a shard. Its keys share the hash tag "{<prefix>-s<shard>}" so that, on Redis Cluster, a shard's queue lives in one slot. */
export function shardQueue(prefix: string, shard: number): { name: string; prefix: string } {
  return { name: 'settle', prefix: `{${prefix}-s${shard}}` };
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
}

/** The answer to a credit, sent back to the payer's shard. */
export interface JobCreditResult {
  type: 'credit_result';
  id: string;
  status: 'applied' | 'rejected';
  code: RejectionCode | null;
  /** The credit's `replyTo`, sent back with its result. */
  replyTo?: string;
}

export type AnyJobItem = JobItem | JobCredit | JobCreditResult;

export interface JobPayload {
  shard: number;
  items: AnyJobItem[];
}

export interface SettlementJobData {
  gatewayId: string;
  payload: string;
  mac: string;
}

/**
 * An outcome as gateways see it. Origin items answer settled, rejected, debited (in flight to the
 * payee's shard) or duplicate; a credit result answers the transfer's final settled or rejected.
 * Credits answer applied, rejected or duplicate (of interest to no gateway).
 */
export interface JobOutcome {
  id: string;
  type: 'origin' | 'credit' | 'credit_result';
  status: 'settled' | 'rejected' | 'debited' | 'applied' | 'duplicate';
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

/** Wraps a payload with its attestation. */
export function attestJob(key: Uint8Array, gatewayId: string, payload: JobPayload): SettlementJobData {
  const text = JSON.stringify(payload);
  return { gatewayId, payload: text, mac: hmacHex(key, `${gatewayId}\n${text}`) };
}

/** Checks a job's attestation and returns its payload, or null if it was not made by a gateway holding the key. */
export function openJob(key: Uint8Array, data: SettlementJobData): JobPayload | null {
  if (typeof data?.payload !== 'string' || typeof data?.mac !== 'string' || typeof data?.gatewayId !== 'string') return null;
  if (!hexEqual(hmacHex(key, `${data.gatewayId}\n${data.payload}`), data.mac)) return null;
  return JSON.parse(data.payload) as JobPayload;
}

/** The core's view of a job item at `shard`. */
export function toSettlementItem(item: AnyJobItem, shard: number): SettlementItem {
  if (item.type === 'credit') return { type: 'credit', id: item.id, payeeWalletId: item.payeeWalletId, amountMinor: BigInt(item.amountMinor), fromShard: item.fromShard };
  if (item.type === 'credit_result') return { type: 'credit_result', id: item.id, status: item.status, code: item.code };
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
    memo: item.memo,
  };
}
