/**
 * The settlement worker's I/O, in TigerBeetle's two phases: prefetch (lock the shard head and
 * the touched wallets, read which ids and nonces exist), then the pure core decides, then one
 * write phase in the same transaction (transfer rows, wallet balances, the next chain link).
 * Four round trips of prefetch and four of writes per batch, whatever its size.
 */
import type { Sql } from '@cbdc/db/connect';
import { encodeLeaf } from '@cbdc/shared/canonical';
import { batchHeaderHash, type BatchHeader } from '@cbdc/shared/chains';
import type { Signer } from '@cbdc/shared/crypto';
import { settleBatch, type Outcome, type SettlementItem, type WalletState } from '@cbdc/shared/ledger';
import { leafHash, merkleRoot } from '@cbdc/shared/merkle';
import type { JobItem, JobOutcome, JobResult } from '@cbdc/shared/job';
import { toSettlementItem } from '@cbdc/shared/job';
import type { Tier } from '@cbdc/shared/tiers';

/** Registers the shard's public key, or refuses if the shard is already bound to another key. */
export async function registerShard(sql: Sql, shard: number, signer: Signer): Promise<void> {
  await sql`insert into shards (shard, public_key) values (${shard}, ${signer.publicKey}) on conflict (shard) do nothing`;
  const [row] = await sql<{ public_key: Buffer }[]>`select public_key from shards where shard = ${shard}`;
  if (!row.public_key.equals(signer.publicKey)) {
    throw new Error(`shard ${shard} is bound to public key ${row.public_key.toString('hex')}, not this worker's ${signer.publicKey.toString('hex')}; refusing to sign its chain`);
  }
}

interface WalletRow {
  id: string;
  bank_id: string;
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  status: WalletState['status'];
  balance_minor: bigint;
  daily_spent_minor: bigint;
  daily_spent_day: number;
}

/** Settles one batch and commits it with the next link of the shard's chain. */
export async function commitBatch(sql: Sql, shard: number, signer: Signer, jobItems: JobItem[], nowMs: number): Promise<JobResult> {
  const items: SettlementItem[] = jobItems.map(toSettlementItem);
  return sql.begin(async (tx) => {
    // Prefetch. The head lock serialises every writer of this shard's chain, so two workers
    // handed the same job (a stalled lock, a redelivery) settle it once between them.
    const [head] = await tx<{ head_seq: bigint; head_hash: Buffer }[]>`select head_seq, head_hash from shards where shard = ${shard} for update`;
    if (!head) throw new Error(`shard ${shard} is not registered`);
    const walletIds = [...new Set(items.flatMap((i) => [i.payerWalletId, i.payeeWalletId]))].sort();
    const walletRows = await tx<WalletRow[]>`
      select id, bank_id, kind, tier, status, balance_minor, daily_spent_minor, daily_spent_day
      from wallets where id = any(${walletIds}) order by id for update`;
    const ids = items.map((i) => i.id);
    const existing = await tx<{ id: string }[]>`select id from transfers where id = any(${ids})`;
    const withNonce = items.filter((i) => i.nonce !== null);
    const nonceRows = withNonce.length
      ? await tx<{ payer_wallet_id: string; nonce: bigint }[]>`
          select payer_wallet_id, nonce from transfers
          where nonce is not null and (payer_wallet_id, nonce) in (
            select * from unnest(${withNonce.map((i) => i.payerWalletId)}::text[], ${withNonce.map((i) => i.nonce!.toString())}::bigint[]))`
      : [];

    // Decide.
    const wallets = new Map<string, WalletState>(
      walletRows.map((r) => [r.id, { id: r.id, bankId: r.bank_id, kind: r.kind, tier: r.tier, status: r.status, balanceMinor: r.balance_minor, dailySpentMinor: r.daily_spent_minor, dailySpentDay: r.daily_spent_day }]),
    );
    const result = settleBatch(items, {
      nowMs,
      wallets,
      recordedIds: new Set(existing.map((r) => r.id)),
      usedNonces: new Set(nonceRows.map((r) => `${r.payer_wallet_id}:${r.nonce}`)),
    });
    const outcomes = result.outcomes.map((o: Outcome, i): JobOutcome => ({ id: items[i].id, status: o.status, ...(o.status === 'rejected' ? { code: o.code } : {}) }));
    if (result.recorded.length === 0) return { shard, batchSeq: null, outcomes };

    // Write.
    const leaves = result.recorded.map(({ item, outcome }) =>
      leafHash(encodeLeaf({ ...item, status: outcome.status, code: outcome.status === 'rejected' ? outcome.code : null })),
    );
    const header: BatchHeader = { shard, seq: head.head_seq + 1n, prevHash: head.head_hash, merkleRoot: merkleRoot(leaves), count: leaves.length, timeMs: BigInt(nowMs) };
    const hash = batchHeaderHash(header);
    const signature = signer.sign(hash);
    const byId = new Map(jobItems.map((j) => [j.id, j]));
    const rec = result.recorded.map(({ item, outcome }) => ({ job: byId.get(item.id)!, item, outcome }));

    await tx`
      insert into transfers (id, kind, bank_id, payer_wallet_id, payee_wallet_id, amount_minor, nonce, expires_at_ms, memo, signature,
                             status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms)
      select t.id, t.kind, t.bank_id, t.payer, t.payee, t.amount, t.nonce, t.expires, t.memo, decode(t.sig, 'hex'),
             t.status, t.code, ${shard}, ${header.seq.toString()}::bigint, t.leaf_index, t.submitted, ${nowMs}
      from unnest(
        ${rec.map((r) => r.item.id)}::text[], ${rec.map((r) => r.item.kind)}::text[], ${rec.map((r) => r.job.bankId)}::text[],
        ${rec.map((r) => r.item.payerWalletId)}::text[], ${rec.map((r) => r.item.payeeWalletId)}::text[],
        ${rec.map((r) => r.item.amountMinor.toString())}::bigint[], ${rec.map((r) => r.job.nonce)}::bigint[],
        ${rec.map((r) => r.job.expiresAtMs)}::bigint[], ${rec.map((r) => r.job.memo)}::text[], ${rec.map((r) => r.job.signature)}::text[],
        ${rec.map((r) => r.outcome.status)}::text[], ${rec.map((r) => (r.outcome.status === 'rejected' ? r.outcome.code : null))}::text[],
        ${rec.map((_, i) => i)}::int[], ${rec.map((r) => r.job.submittedAtMs)}::bigint[]
      ) as t(id, kind, bank_id, payer, payee, amount, nonce, expires, memo, sig, status, code, leaf_index, submitted)`;

    const changed = [...result.changedWallets.values()];
    if (changed.length) {
      await tx`
        update wallets w set balance_minor = u.balance, daily_spent_minor = u.spent, daily_spent_day = u.day, updated_at = now()
        from unnest(${changed.map((w) => w.id)}::text[], ${changed.map((w) => w.balanceMinor.toString())}::bigint[],
                    ${changed.map((w) => w.dailySpentMinor.toString())}::bigint[], ${changed.map((w) => w.dailySpentDay)}::int[])
             as u(id, balance, spent, day)
        where w.id = u.id`;
    }

    await tx`
      insert into settlement_batches (shard, seq, prev_hash, merkle_root, transfer_count, time_ms, hash, signature)
      values (${shard}, ${header.seq.toString()}, ${header.prevHash}, ${header.merkleRoot}, ${header.count}, ${nowMs}, ${hash}, ${signature})`;
    const moved = await tx`update shards set head_seq = ${header.seq.toString()}, head_hash = ${hash} where shard = ${shard} and head_seq = ${head.head_seq.toString()}`;
    if (moved.count !== 1) throw new Error(`invariant broken: shard ${shard} head moved during the batch`);

    return { shard, batchSeq: header.seq.toString(), outcomes };
  });
}
