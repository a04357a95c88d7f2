/** Reading recorded transfers: outcomes, history and receipts. */
import type { Sql } from '@cbdc/db/connect';
import { encodeLeaf } from '@cbdc/shared/canonical';
import { leafHash, merklePath } from '@cbdc/shared/merkle';

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
  status: 'settled' | 'rejected';
  code: string | null;
  shard: number;
  batch_seq: bigint;
  leaf_index: number;
  submitted_at_ms: bigint;
  settled_at_ms: bigint;
}

/** The wire form of a recorded transfer: its outcome is final. */
export function transferView(t: TransferRow) {
  return {
    id: t.id,
    kind: t.kind,
    status: t.status,
    code: t.code,
    payerWalletId: t.payer_wallet_id,
    payeeWalletId: t.payee_wallet_id,
    amountMinor: t.amount_minor.toString(),
    nonce: t.nonce === null ? null : t.nonce.toString(),
    expiresAtMs: t.expires_at_ms === null ? null : t.expires_at_ms.toString(),
    memo: t.memo,
    shard: t.shard,
    batchSeq: t.batch_seq.toString(),
    settledAtMs: t.settled_at_ms.toString(),
  };
}
export type TransferView = ReturnType<typeof transferView>;

const COLUMNS = 'id, row_no, kind, bank_id, payer_wallet_id, payee_wallet_id, amount_minor, nonce, expires_at_ms, memo, status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms';

export async function transfersByIds(sql: Sql, ids: string[]): Promise<Map<string, TransferRow>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<TransferRow[]>`select ${sql.unsafe(COLUMNS)} from transfers where id = any(${ids})`;
  return new Map(rows.map((r) => [r.id, r]));
}

/** A transfer that the bank may see: its payer or its payee is one of the bank's wallets. */
export async function visibleTransfer(sql: Sql, bankId: string, id: string): Promise<TransferRow | null> {
  const [row] = await sql<TransferRow[]>`
    select ${sql.unsafe(COLUMNS.split(', ').map((c) => `t.${c}`).join(', '))}
    from transfers t
    left join wallets p on p.id = t.payer_wallet_id
    left join wallets q on q.id = t.payee_wallet_id
    where t.id = ${id} and (p.bank_id = ${bankId} or q.bank_id = ${bankId})`;
  return row ?? null;
}

/** One page of a wallet's history, newest first, keyed by insertion order. */
export async function historyPage(sql: Sql, walletId: string, limit: number, beforeRowNo: bigint | null) {
  const before = beforeRowNo === null ? sql`` : sql`and row_no < ${beforeRowNo.toString()}`;
  const rows = await sql<TransferRow[]>`
    select ${sql.unsafe(COLUMNS)} from (
      (select ${sql.unsafe(COLUMNS)} from transfers where payer_wallet_id = ${walletId} ${before} order by row_no desc limit ${limit + 1})
      union all
      (select ${sql.unsafe(COLUMNS)} from transfers where payee_wallet_id = ${walletId} ${before} order by row_no desc limit ${limit + 1})
    ) h order by row_no desc limit ${limit + 1}`;
  const page = rows.slice(0, limit);
  return { rows: page.map(transferView), nextRowNo: rows.length > limit ? page[page.length - 1].row_no : null };
}

/**
 * A receipt: the transfer's leaf content, its batch header with the shard's signature, and its
 * Merkle path. With the shard's public key, a bank verifies it offline (see @cbdc/client).
 */
export async function receiptOf(sql: Sql, t: TransferRow) {
  const [batch] = await sql<{ prev_hash: Buffer; merkle_root: Buffer; transfer_count: number; time_ms: bigint; hash: Buffer; signature: Buffer }[]>`
    select prev_hash, merkle_root, transfer_count, time_ms, hash, signature from settlement_batches where shard = ${t.shard} and seq = ${t.batch_seq.toString()}`;
  const members = await sql<TransferRow[]>`
    select ${sql.unsafe(COLUMNS)} from transfers where shard = ${t.shard} and batch_seq = ${t.batch_seq.toString()} order by leaf_index`;
  const leaves = members.map((m) =>
    leafHash(encodeLeaf({ id: m.id, kind: m.kind, payerWalletId: m.payer_wallet_id, payeeWalletId: m.payee_wallet_id, amountMinor: m.amount_minor, status: m.status, code: m.code })),
  );
  const [shard] = await sql<{ public_key: Buffer }[]>`select public_key from shards where shard = ${t.shard}`;
  return {
    transfer: { id: t.id, kind: t.kind, payerWalletId: t.payer_wallet_id, payeeWalletId: t.payee_wallet_id, amountMinor: t.amount_minor.toString(), status: t.status, code: t.code },
    leafIndex: t.leaf_index,
    path: merklePath(leaves, t.leaf_index).map((h) => h.toString('hex')),
    batch: {
      shard: t.shard,
      seq: t.batch_seq.toString(),
      prevHash: batch.prev_hash.toString('hex'),
      merkleRoot: batch.merkle_root.toString('hex'),
      count: batch.transfer_count,
      timeMs: batch.time_ms.toString(),
      hash: batch.hash.toString('hex'),
      signature: batch.signature.toString('hex'),
    },
    shardPublicKey: shard.public_key.toString('hex'),
  };
}
