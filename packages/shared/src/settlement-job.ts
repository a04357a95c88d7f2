/**
 * The queue contract between gateways and settlement workers. One job carries one
 * micro-batch of items for one shard. The gateway attests each job with an HMAC over the exact
 * payload string, so a worker accepts work only from gateways, not from anyone who can write
 * to Redis. Exactly-once comes from Postgres (unique ids and nonces), never from the queue.
 */
import { hexEqual, hmacHex } from './crypto.js';
import type { ItemKind } from './canonical.js';
import type { SettlementItem } from './ledger/settle.js';
import type { RejectionCode } from './errors.js';

/** The queue of a shard. Its keys share the hash tag "{<prefix>-s<shard>}" so that, on Redis Cluster, a shard's queue lives in one slot. */
export function shardQueue(prefix: string, shard: number): { name: string; prefix: string } {
  return { name: 'settle', prefix: `{${prefix}-s${shard}}` };
}

/** An item as it travels in a job: bigints as decimal strings. */
export interface JobItem {
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
}

export interface JobPayload {
  shard: number;
  items: JobItem[];
}

export interface SettlementJobData {
  gatewayId: string;
  payload: string;
  mac: string;
}

export interface JobOutcome {
  id: string;
  status: 'settled' | 'rejected' | 'duplicate';
  code?: RejectionCode;
}

export interface JobResult {
  shard: number;
  batchSeq: string | null;
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

/** The core's view of a job item. */
export function toSettlementItem(item: JobItem): SettlementItem {
  return {
    id: item.id,
    kind: item.kind,
    payerWalletId: item.payerWalletId,
    payeeWalletId: item.payeeWalletId,
    amountMinor: BigInt(item.amountMinor),
    nonce: item.nonce === null ? null : BigInt(item.nonce),
    expiresAtMs: item.expiresAtMs === null ? null : BigInt(item.expiresAtMs),
  };
}
