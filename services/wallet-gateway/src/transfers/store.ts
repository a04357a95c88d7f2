/**
 * Reading recorded transfers: outcomes, history and receipts. A transfer row lives in the database
 * of its payer's shard; a credit leg in the payee's, a refund leg in the payer's (see ../ledger.ts).
 */
import type { Sql } from '@cbdc/db/connect';
import { loadBatchLeaves, storedLeafHash } from '@cbdc/db/leaves';
import { rejectionCodeSeenBy } from '@cbdc/shared/errors';
import { merklePath } from '@cbdc/shared/merkle';
import { ApiError } from '@cbdc/shared/problem';
import type { Ledger, LedgerDatabase } from '../ledger.js';
import type { WalletFactsCache } from '../wallets/facts-cache.js';
import type { TransferWire } from './schemas.js';

export interface TransferRow {
  id: string;
  row_no: bigint;
  kind: 'transfer' | 'funding';
  bank_id: string;
  payer_wallet_id: string;
  payee_wallet_id: string;
  amount_minor: bigint;
  nonce: bigint | null;
  expires_at_ms: bigint | null;
  memo: string;
  leg_status: 'settled' | 'rejected' | 'debited';
  status: 'settled' | 'rejected' | 'in_flight';
  code: string | null;
  shard: number;
  batch_seq: bigint;
  leaf_index: number;
  submitted_at_ms: bigint;
  settled_at_ms: bigint;
  request_id: string | null;
}

/** A row read with the banks of its two wallets, to decide what a bank may see of it. */
export interface BankedTransferRow extends TransferRow {
  payer_bank_id: string | null;
  payee_bank_id: string | null;
}

/** The wire form of a recorded transfer: final if settled or rejected; pending while in flight between shards. */
export function transferView(t: TransferRow): TransferWire {
  return {
    id: t.id,
    kind: t.kind,
    status: (t.status === 'in_flight' ? 'pending' : t.status) as 'settled' | 'rejected' | 'pending',
    code: t.code,
    payerWalletId: t.payer_wallet_id,
    payeeWalletId: t.payee_wallet_id,
    amountMinor: t.amount_minor.toString(),
    nonce: t.nonce === null ? null : t.nonce.toString(),
    expiresAtMs: t.expires_at_ms === null ? null : t.expires_at_ms.toString(),
    memo: t.memo,
    /** The payment request it pays (signed as canonical v2), or null. */
    requestId: t.request_id,
    shard: t.shard,
    batchSeq: t.batch_seq.toString(),
    submittedAtMs: t.submitted_at_ms.toString(),
    settledAtMs: t.settled_at_ms.toString(),
  };
}
export type TransferView = TransferWire;

/**
 * The view of a recorded transfer for one bank: a rejection code that describes another bank's
 * customer is shown generically (`rejectionCodeSeenBy`); the row keeps the precise code.
 */
export function transferViewFor(t: BankedTransferRow, viewerBankId: string): TransferView {
  const view = transferView(t);
  return { ...view, code: rejectionCodeSeenBy(view.code, viewerBankId, t.payer_bank_id, t.payee_bank_id) };
}

const COLUMNS = 'id, row_no, kind, bank_id, payer_wallet_id, payee_wallet_id, amount_minor, nonce, expires_at_ms, memo, leg_status, status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms, request_id';

export async function transfersByIds(sql: Sql, ids: string[]): Promise<Map<string, TransferRow>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<TransferRow[]>`select ${sql.unsafe(COLUMNS)} from transfers where id = any(${ids})`;
  return new Map(rows.map((r) => [r.id, r]));
}

/** Rows of `items` (ids with their payer's shard), each read from the database of that shard. */
export async function transfersByIdsAcross(ledger: Ledger, items: ReadonlyArray<{ id: string; shard: number }>): Promise<Map<string, TransferRow>> {
  const byDb = new Map<LedgerDatabase, string[]>();
  for (const { id, shard } of items) {
    const db = ledger.ofShard(shard);
    byDb.set(db, [...(byDb.get(db) ?? []), id]);
  }
  const parts = await Promise.all([...byDb].map(([db, ids]) => ledger.read(db, (sql) => transfersByIds(sql, ids))));
  return new Map(parts.flatMap((m) => [...m]));
}

/**
 * The row of transfer `id`, wherever its payer's shard is: the gateway does not know the payer, so
 * it asks every group at once (one primary-key read each). Found in a group that answers, it is the
 * answer; not found while a group does not answer, 503 (it may be there).
 */
export async function findTransfer(ledger: Ledger, id: string): Promise<TransferRow | null> {
  const reads = await Promise.allSettled(ledger.databases.map((db) => ledger.read(db, async (sql) => (await transfersByIds(sql, [id])).get(id))));
  for (const read of reads) if (read.status === 'fulfilled' && read.value) return read.value;
  const failed = reads.find((read) => read.status === 'rejected');
  if (failed) throw failed.reason;
  return null;
}

/** `rows` with the banks of their two wallets (null for a wallet that does not exist), to decide what a bank may see. */
export async function withBanks(walletFacts: WalletFactsCache, rows: readonly TransferRow[]): Promise<BankedTransferRow[]> {
  const facts = await walletFacts.get([...new Set(rows.flatMap((r) => [r.payer_wallet_id, r.payee_wallet_id]))]);
  return rows.map((r) => ({ ...r, payer_bank_id: facts.get(r.payer_wallet_id)?.bankId ?? null, payee_bank_id: facts.get(r.payee_wallet_id)?.bankId ?? null }));
}

/** A transfer that the bank may see: its payer or its payee is one of the bank's wallets. */
export async function visibleTransfer(ledger: Ledger, walletFacts: WalletFactsCache, bankId: string, id: string): Promise<BankedTransferRow | null> {
  const row = await findTransfer(ledger, id);
  if (!row) return null;
  const [banked] = await withBanks(walletFacts, [row]);
  return banked.payer_bank_id === bankId || banked.payee_bank_id === bankId ? banked : null;
}

/**
 * Up to `limit` + 1 rows of one database naming `walletId` as payer or payee, newest first by
 * insertion order (`row_no`, which is this database's own), below `beforeRowNo` if given.
 */
export async function historyRows(sql: Sql, walletId: string, limit: number, beforeRowNo: bigint | null): Promise<TransferRow[]> {
  const before = beforeRowNo === null ? sql`` : sql`and row_no < ${beforeRowNo.toString()}`;
  return sql<TransferRow[]>`
    select * from (
      (select ${sql.unsafe(COLUMNS)} from transfers where payer_wallet_id = ${walletId} ${before} order by row_no desc limit ${limit + 1})
      union all
      (select ${sql.unsafe(COLUMNS)} from transfers where payee_wallet_id = ${walletId} ${before} order by row_no desc limit ${limit + 1})
    ) h
    order by h.row_no desc limit ${limit + 1}`;
}

/** The proof of one leaf: its batch header, the shard's signature and the Merkle path. */
export async function proofOf(sql: Sql, shard: number, batchSeq: bigint, leafIndex: number) {
  const [batch] = await sql<{ prev_hash: Buffer; merkle_root: Buffer; transfer_count: number; time_ms: bigint; hash: Buffer; signature: Buffer }[]>`
    select prev_hash, merkle_root, transfer_count, time_ms, hash, signature from settlement_batches where shard = ${shard} and seq = ${batchSeq.toString()}`;
  const leaves = (await loadBatchLeaves(sql, shard, batchSeq - 1n, batchSeq)).get(batchSeq) ?? [];
  const [key] = await sql<{ public_key: Buffer }[]>`select public_key from shards where shard = ${shard}`;
  return {
    leafIndex,
    path: merklePath(leaves.map(storedLeafHash), leafIndex).map((h) => h.toString('hex')),
    batch: {
      shard,
      seq: batchSeq.toString(),
      prevHash: batch.prev_hash.toString('hex'),
      merkleRoot: batch.merkle_root.toString('hex'),
      count: batch.transfer_count,
      timeMs: batch.time_ms.toString(),
      hash: batch.hash.toString('hex'),
      signature: batch.signature.toString('hex'),
    },
    shardPublicKey: key.public_key.toString('hex'),
  };
}

/**
 * A receipt for `viewerBankId`: the transfer's leaf as its payer's shard committed it, with proof,
 * and, for a transfer between shards, the proofs of its credit leg at the payee's shard and of a
 * refund. With the shards' public keys, a bank verifies it offline (see @cbdc/client). The leaves
 * commit to the precise rejection code, so a bank that may see only the generic code (a payee-side
 * refusal by another bank's customer, or the reverse) is refused the receipt (`receipt_withheld`).
 */
export async function receiptFor(ledger: Ledger, t: BankedTransferRow, viewerBankId: string) {
  if (transferViewFor(t, viewerBankId).code !== t.code) {
    throw new ApiError('receipt_withheld', "this transfer was refused for a reason that concerns another bank's customer; a receipt would prove which, so only that bank and the central bank get it", {
      errors: [{ field: 'params/transferId', rule: 'own_customer_details', message: "the receipt would reveal another bank's customer details" }],
    });
  }
  return receiptOf(ledger, t);
}

type LegRow = { leg: 'credit' | 'refund'; wallet_id: string; amount_minor: bigint; status: 'applied' | 'rejected'; code: string | null; shard: number; batch_seq: bigint; leaf_index: number };

/**
 * The receipt of a recorded transfer, whoever may see it (see `receiptFor`). Each proof comes from
 * the database of the shard that committed its leaf: the transfer's and a refund's from the payer's
 * shard, a credit's from the payee's.
 */
export async function receiptOf(ledger: Ledger, t: TransferRow) {
  const legDbs = [...new Set([ledger.ofShard(t.shard), ledger.ofWallet(t.payee_wallet_id)])];
  const legs = (await Promise.all(legDbs.map((db) => ledger.read(db, (sql) => sql<LegRow[]>`select leg, wallet_id, amount_minor, status, code, shard, batch_seq, leaf_index from transfer_legs where transfer_id = ${t.id}`))))
    .flat()
    .filter((l, i, all) => all.findIndex((m) => m.leg === l.leg) === i)
    .sort((a, b) => (a.leg < b.leg ? -1 : a.leg > b.leg ? 1 : 0));
  const proofAt = (shard: number, batchSeq: bigint, leafIndex: number) => ledger.read(ledger.ofShard(shard), (sql) => proofOf(sql, shard, batchSeq, leafIndex));
  return {
    transfer: { id: t.id, kind: t.kind, payerWalletId: t.payer_wallet_id, payeeWalletId: t.payee_wallet_id, amountMinor: t.amount_minor.toString(), status: t.leg_status, code: t.leg_status === 'rejected' ? t.code : null },
    ...(await proofAt(t.shard, t.batch_seq, t.leaf_index)),
    legs: await Promise.all(
      legs.map(async (l) => ({
        leg: { transferId: t.id, leg: l.leg, walletId: l.wallet_id, amountMinor: l.amount_minor.toString(), status: l.status, code: l.code },
        ...(await proofAt(l.shard, l.batch_seq, l.leaf_index)),
      })),
    ),
  };
}

/** The shards' registered public keys (their chain keys, which also sign replies to gateways). */
export async function shardPublicKeys(sql: Sql): Promise<Map<number, Buffer>> {
  const rows = await sql<{ shard: number; public_key: Buffer }[]>`select shard, public_key from shards`;
  return new Map(rows.map((r) => [r.shard, r.public_key]));
}

/**
 * The public keys of every shard, each from the database of its group (a shard's row lives there).
 * A group that does not answer is left out: its shards' keys are read again when one of their
 * replies arrives (see SettlementClient).
 */
export async function shardPublicKeysAcross(databases: ReadonlyArray<{ sql: Sql; shards: readonly number[] }>): Promise<Map<number, Buffer>> {
  const parts = await Promise.allSettled(databases.map(async (db) => [...(await shardPublicKeys(db.sql))].filter(([shard]) => db.shards.includes(shard))));
  return new Map(parts.flatMap((p) => (p.status === 'fulfilled' ? p.value : [])));
}
