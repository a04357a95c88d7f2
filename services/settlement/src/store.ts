/**
 * The settlement worker's I/O, in TigerBeetle's two phases: prefetch (lock the shard head, read
 * the touched wallets the worker does not hold in memory, which legs exist and which transfers
 * are in flight), then the pure core decides, then one write phase in the same transaction
 * (transfer rows, legs, balances, the next chain link). A fixed number of round trips per batch,
 * whatever its size.
 */
import type { Sql } from '@cbdc/db/connect';
import { encodeLeaf, encodeLeg } from '@cbdc/shared/canonical';
import { batchHeaderHash, type BatchHeader } from '@cbdc/shared/chains';
import type { Signer } from '@cbdc/shared/crypto';
import type { RejectionCode } from '@cbdc/shared/errors';
import { shardOf } from '@cbdc/shared/ids';
import { dayOf, settleBatch, type BatchLeaf, type InFlightTransfer, type OriginItem, type SettlementItem, type WalletState } from '@cbdc/shared/ledger';
import { leafHash, merkleRoot } from '@cbdc/shared/merkle';
import { toSettlementItem, type AnyJobItem, type JobCredit, type JobCreditResult, type JobItem, type JobOutcome } from '@cbdc/shared/job';
import type { Tier } from '@cbdc/shared/tiers';
import type { WalletCache } from './wallet-cache.js';

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
  in_flight_out_minor: bigint;
}

export interface ShardContext {
  shard: number;
  shardCount: number;
  signer: Signer;
  /** The shard's wallets held between batches; without it every batch reads its wallets. */
  wallets?: WalletCache;
}

export interface CommitResult {
  /** Where the time went, for the worker's log. */
  timingsMs: { prefetch: number; decide: number; write: number; commit: number };
  shard: number;
  timeMs: number;
  batchSeq: string | null;
  outcomes: JobOutcome[];
  /** Messages for other shards, grouped by target shard, to send after the commit. */
  messages: Map<number, Array<JobCredit | JobCreditResult>>;
}

/** The Merkle leaf hash of a batch leaf, as stored (the audit and receipts recompute the same). */
export function hashLeaf(leaf: BatchLeaf): Buffer {
  if (leaf.type === 'transfer') {
    const i = leaf.item;
    return leafHash(encodeLeaf({ id: i.id, kind: i.kind, payerWalletId: i.payerWalletId, payeeWalletId: i.payeeWalletId, amountMinor: i.amountMinor, status: leaf.legStatus, code: leaf.code }));
  }
  return leafHash(encodeLeg({ transferId: leaf.transferId, leg: leaf.leg, walletId: leaf.walletId, amountMinor: leaf.amountMinor, status: leaf.status, code: leaf.code }));
}

/**
 * Thrown inside a batch's transaction when an insert hits the id or nonce uniqueness that the
 * batch was decided without looking up: the transaction rolls back and the batch is decided again
 * with the lookups.
 */
class RecordedBeforeError extends Error {}

function isUniqueViolationOf(error: unknown, constraints: readonly string[]): boolean {
  const e = error as { code?: string; constraint_name?: string };
  return e?.code === '23505' && constraints.includes(e.constraint_name ?? '');
}

function walletOfRow(w: WalletRow): WalletState {
  return { id: w.id, bankId: w.bank_id, kind: w.kind, tier: w.tier, status: w.status, balanceMinor: w.balance_minor, dailySpentMinor: w.daily_spent_minor, dailySpentDay: w.daily_spent_day, inFlightOutMinor: w.in_flight_out_minor };
}

/**
 * Settles one batch and commits it with the next link of the shard's chain.
 *
 * The batch is first decided as if none of its transfer ids and nonces were recorded before: in
 * normal operation none are, and the two lookups would cost Postgres as much as the inserts. The
 * unique indexes on the transfer id and on (payer, nonce) still guard every row: if an insert hits
 * one (a redelivered job, a bank's resubmission, a reused nonce), the transaction rolls back and
 * the batch is decided again with the lookups, so a duplicate is answered as such and a reused
 * nonce rejected, exactly as if they had been looked up first.
 */
export async function commitBatch(sql: Sql, ctx: ShardContext, jobItems: AnyJobItem[], nowMs: number): Promise<CommitResult> {
  try {
    try {
      return await attemptBatch(sql, ctx, jobItems, nowMs, { lookUpRecorded: false });
    } catch (error) {
      if (!(error instanceof RecordedBeforeError)) throw error;
      return await attemptBatch(sql, ctx, jobItems, nowMs, { lookUpRecorded: true });
    }
  } catch (error) {
    // Whether or not it committed, what this process holds may now differ from the database.
    ctx.wallets?.reset();
    throw error;
  }
}

async function attemptBatch(sql: Sql, ctx: ShardContext, jobItems: AnyJobItem[], nowMs: number, o: { lookUpRecorded: boolean }): Promise<CommitResult> {
  const { shard } = ctx;
  const items: SettlementItem[] = jobItems.map((j) => toSettlementItem(j, shard));
  const origins = items.filter((i): i is OriginItem => i.type === 'origin');
  const creditIds = items.filter((i) => i.type === 'credit').map((i) => i.id);
  const resultIds = items.filter((i) => i.type === 'credit_result').map((i) => i.id);

  const t0 = performance.now();
  const timingsMs = { prefetch: 0, decide: 0, write: 0, commit: 0 };
  const result = await sql.begin(async (tx) => {
    // Prefetch. The head lock serialises every writer of this shard's chain, so two workers
    // handed the same job (a stalled lock, a redelivery) settle it once between them, and every
    // other writer of this shard's wallet rows (see @cbdc/db/shard-lock), so the wallets are read
    // without row locks and written back with absolute values.
    // Every later statement looks rows up by key, a few thousand at a time; left to itself the
    // planner hash-joins them against a scan of the whole table, a cost that grows with the number
    // of wallets. Turned off for this transaction only, in the same round trip as the head lock.
    const [head] = await tx<{ head_seq: bigint; head_hash: Buffer; wallets_version: bigint }[]>`
      select head_seq, head_hash, wallets_version, set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
      from shards where shard = ${shard} for update`;
    if (!head) throw new Error(`shard ${shard} is not registered`);
    const ticket = ctx.wallets?.validate(head.wallets_version);
    const flightRows = resultIds.length
      ? await tx<{ id: string; kind: string; payer_wallet_id: string; payee_wallet_id: string; amount_minor: bigint; settled_at_ms: bigint }[]>`
          select id, kind, payer_wallet_id, payee_wallet_id, amount_minor, settled_at_ms from transfers where id = any(${resultIds}) and shard = ${shard} and status = 'in_flight'`
      : [];
    const inFlight = new Map<string, InFlightTransfer>(
      flightRows.map((t) => [t.id, { payerWalletId: t.payer_wallet_id, amountMinor: t.amount_minor, countedAsPayment: t.kind === 'transfer' && !t.payee_wallet_id.startsWith('t_'), debitDay: dayOf(Number(t.settled_at_ms)) }]),
    );
    const walletIds = new Set<string>();
    for (const i of items) {
      if (i.type === 'origin') {
        walletIds.add(i.payerWalletId);
        if (!i.payeeRemote) walletIds.add(i.payeeWalletId);
      } else if (i.type === 'credit') walletIds.add(i.payeeWalletId);
    }
    for (const f of inFlight.values()) walletIds.add(f.payerWalletId);
    const wallets = new Map<string, WalletState>();
    const missing: string[] = [];
    for (const id of walletIds) {
      const held = ctx.wallets?.get(id);
      if (held) wallets.set(id, held);
      else missing.push(id);
    }
    const read = missing.length
      ? (
          await tx<WalletRow[]>`
            select id, bank_id, kind, tier, status, balance_minor, daily_spent_minor, daily_spent_day, in_flight_out_minor
            from wallets where id = any(${missing.sort()}) and shard = ${shard}`
        ).map(walletOfRow)
      : [];
    for (const w of read) wallets.set(w.id, w);
    const existing = o.lookUpRecorded && origins.length ? await tx<{ id: string }[]>`select id from transfers where id = any(${origins.map((i) => i.id)})` : [];
    const withNonce = o.lookUpRecorded ? origins.filter((i) => i.nonce !== null) : [];
    const nonceRows = withNonce.length
      ? await tx<{ payer_wallet_id: string; nonce: bigint }[]>`
          select t.payer_wallet_id, t.nonce from transfers t
          join unnest(${withNonce.map((i) => i.payerWalletId)}::text[], ${withNonce.map((i) => i.nonce!.toString())}::bigint[]) as u(payer, nonce)
            on t.payer_wallet_id = u.payer and t.nonce = u.nonce
          -- The predicate of the partial unique index, so that the lookup uses it.
          where t.nonce is not null and t.code is distinct from 'nonce_reused'`
      : [];
    const creditRows = creditIds.length
      ? await tx<{ transfer_id: string; status: 'applied' | 'rejected'; code: RejectionCode | null; from_shard: number }[]>`
          select transfer_id, status, code, from_shard from transfer_legs where leg = 'credit' and transfer_id = any(${creditIds})`
      : [];

    // Decide.
    const t1 = performance.now();
    timingsMs.prefetch = t1 - t0;
    const r = settleBatch(items, {
      nowMs,
      wallets,
      recordedIds: new Set(existing.map((e) => e.id)),
      usedNonces: new Set(nonceRows.map((n) => `${n.payer_wallet_id}:${n.nonce}`)),
      recordedCredits: new Map(creditRows.map((c) => [c.transfer_id, { status: c.status, code: c.code, fromShard: c.from_shard }])),
      inFlight,
    });

    // Write.
    const t2 = performance.now();
    timingsMs.decide = t2 - t1;
    let batchSeq: bigint | null = null;
    // A batch that records anything or moves any balance is a new version of the shard's wallets.
    const writesWallets = r.leaves.length > 0 || r.changedWallets.size > 0;
    const newVersion = writesWallets ? head.wallets_version + 1n : head.wallets_version;
    // The writes go out pipelined, without waiting for one another: Postgres inserts the rows
    // while this process hashes the leaves and builds the rest. Any failure fails the batch.
    const writes: Array<Promise<unknown>> = [];
    if (r.leaves.length) {
      batchSeq = head.head_seq + 1n;
      const byId = new Map(jobItems.filter((j): j is JobItem => j.type === undefined || j.type === 'origin').map((j) => [j.id, j]));
      const transfers = r.leaves.map((leaf, index) => ({ leaf, index })).filter((x): x is { leaf: Extract<BatchLeaf, { type: 'transfer' }>; index: number } => x.leaf.type === 'transfer');
      const legs = r.leaves.map((leaf, index) => ({ leaf, index })).filter((x): x is { leaf: Extract<BatchLeaf, { type: 'leg' }>; index: number } => x.leaf.type === 'leg');
      const creditSources = new Map(items.filter((i) => i.type === 'credit').map((i) => [i.id, i.fromShard]));

      if (transfers.length) {
        const rec = transfers.map(({ leaf, index }) => ({ leaf, index, job: byId.get(leaf.item.id)! }));
        const inserted = tx`
          insert into transfers (id, kind, bank_id, payer_wallet_id, payee_wallet_id, amount_minor, nonce, expires_at_ms, memo, signature,
                                 leg_status, status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms)
          select t.id, t.kind, t.bank_id, t.payer, t.payee, t.amount, t.nonce, t.expires, t.memo, decode(t.sig, 'hex'),
                 t.leg_status, case t.leg_status when 'debited' then 'in_flight' else t.leg_status end, t.code,
                 ${shard}, ${batchSeq.toString()}::bigint, t.leaf_index, t.submitted, ${nowMs}
          from unnest(
            ${rec.map((x) => x.leaf.item.id)}::text[], ${rec.map((x) => x.leaf.item.kind)}::text[], ${rec.map((x) => x.job.bankId)}::text[],
            ${rec.map((x) => x.leaf.item.payerWalletId)}::text[], ${rec.map((x) => x.leaf.item.payeeWalletId)}::text[],
            ${rec.map((x) => x.leaf.item.amountMinor.toString())}::bigint[], ${rec.map((x) => x.job.nonce)}::bigint[],
            ${rec.map((x) => x.job.expiresAtMs)}::bigint[], ${rec.map((x) => x.job.memo)}::text[], ${rec.map((x) => x.job.signature)}::text[],
            ${rec.map((x) => x.leaf.legStatus)}::text[], ${rec.map((x) => x.leaf.code)}::text[],
            ${rec.map((x) => x.index)}::int[], ${rec.map((x) => x.job.submittedAtMs)}::bigint[]
          ) as t(id, kind, bank_id, payer, payee, amount, nonce, expires, memo, sig, leg_status, code, leaf_index, submitted)`.execute();
        writes.push(
          inserted.catch((error: unknown) => {
            if (!o.lookUpRecorded && isUniqueViolationOf(error, ['transfers_pkey', 'transfers_payer_nonce'])) throw new RecordedBeforeError('a transfer id or nonce of the batch is recorded already');
            throw error;
          }),
        );
      }
      if (legs.length) {
        writes.push(tx`
          insert into transfer_legs (transfer_id, leg, wallet_id, amount_minor, status, code, from_shard, shard, batch_seq, leaf_index, settled_at_ms)
          select l.id, l.leg, l.wallet, l.amount, l.status, l.code, l.from_shard, ${shard}, ${batchSeq.toString()}::bigint, l.leaf_index, ${nowMs}
          from unnest(
            ${legs.map((x) => x.leaf.transferId)}::text[], ${legs.map((x) => x.leaf.leg)}::text[], ${legs.map((x) => x.leaf.walletId)}::text[],
            ${legs.map((x) => x.leaf.amountMinor.toString())}::bigint[], ${legs.map((x) => x.leaf.status)}::text[], ${legs.map((x) => x.leaf.code)}::text[],
            ${legs.map((x) => (x.leaf.leg === 'credit' ? creditSources.get(x.leaf.transferId)! : shard))}::int[], ${legs.map((x) => x.index)}::int[]
          ) as l(id, leg, wallet, amount, status, code, from_shard, leaf_index)`.execute());
      }
      const header: BatchHeader = { shard, seq: batchSeq, prevHash: head.head_hash, merkleRoot: merkleRoot(r.leaves.map(hashLeaf)), count: r.leaves.length, timeMs: BigInt(nowMs) };
      const hash = batchHeaderHash(header);
      const signature = ctx.signer.sign(hash);
      writes.push(tx`
        insert into settlement_batches (shard, seq, prev_hash, merkle_root, transfer_count, time_ms, hash, signature)
        values (${shard}, ${batchSeq.toString()}, ${header.prevHash}, ${header.merkleRoot}, ${header.count}, ${nowMs}, ${hash}, ${signature})`.execute());
      writes.push(
        tx`
          update shards set head_seq = ${batchSeq.toString()}, head_hash = ${hash}, wallets_version = ${newVersion.toString()}
          where shard = ${shard} and head_seq = ${head.head_seq.toString()}`
          .execute()
          .then((moved) => {
            if (moved.count !== 1) throw new Error(`invariant broken: shard ${shard} head moved during the batch`);
          }),
      );
    } else if (r.changedWallets.size) {
      writes.push(tx`update shards set wallets_version = ${newVersion.toString()} where shard = ${shard}`.execute());
    }
    if (r.finalized.length) {
      writes.push(
        tx`
          update transfers t set status = u.status, code = u.code
          from unnest(${r.finalized.map((f) => f.id)}::text[], ${r.finalized.map((f) => f.status)}::text[], ${r.finalized.map((f) => f.code)}::text[]) as u(id, status, code)
          where t.id = u.id and t.status = 'in_flight'`
          .execute()
          .then((done) => {
            if (done.count !== r.finalized.length) throw new Error('invariant broken: an in-flight transfer was finalized twice');
          }),
      );
    }
    const changed = [...r.changedWallets.values()];
    if (changed.length) {
      writes.push(tx`
        update wallets w set balance_minor = u.balance, daily_spent_minor = u.spent, daily_spent_day = u.day, in_flight_out_minor = u.in_flight, updated_at = now()
        from unnest(${changed.map((w) => w.id)}::text[], ${changed.map((w) => w.balanceMinor.toString())}::bigint[],
                    ${changed.map((w) => w.dailySpentMinor.toString())}::bigint[], ${changed.map((w) => w.dailySpentDay)}::int[],
                    ${changed.map((w) => w.inFlightOutMinor.toString())}::bigint[])
             as u(id, balance, spent, day, in_flight)
        where w.id = u.id`.execute());
    }
    // Every write is waited for; once one fails, Postgres fails the rest ("transaction aborted"),
    // so the cause is the recorded-before signal if there is one, else the first failure.
    const failures = (await Promise.allSettled(writes)).flatMap((w) => (w.status === 'rejected' ? [w.reason as unknown] : []));
    if (failures.length) throw failures.find((e) => e instanceof RecordedBeforeError) ?? failures[0];
    timingsMs.write = performance.now() - t2;
    return { r, batchSeq, ticket, read, version: newVersion };
  });
  timingsMs.commit = performance.now() - t0 - timingsMs.prefetch - timingsMs.decide - timingsMs.write;

  const { r, batchSeq } = result;
  if (result.ticket) ctx.wallets!.committed(result.ticket, result.version, result.read, r.changedWallets.values());
  const messages = new Map<number, Array<JobCredit | JobCreditResult>>();
  const send = (to: number, m: JobCredit | JobCreditResult) => {
    const list = messages.get(to) ?? [];
    list.push(m);
    messages.set(to, list);
  };
  for (const c of r.creditsToSend) send(shardOf(c.payeeWalletId, ctx.shardCount), { type: 'credit', id: c.id, payeeWalletId: c.payeeWalletId, amountMinor: c.amountMinor.toString(), fromShard: shard });
  for (const res of r.resultsToSend) send(res.toShard, { type: 'credit_result', id: res.id, status: res.status, code: res.code });
  return {
    timingsMs,
    shard,
    timeMs: nowMs,
    batchSeq: batchSeq === null ? null : batchSeq.toString(),
    outcomes: r.outcomes.map((o, i) => ({ id: items[i].id, type: items[i].type, status: o.status, ...(o.status === 'rejected' ? { code: o.code } : {}) })),
    messages,
  };
}

/** Credits of this shard's in-flight transfers older than `olderThanMs`, to send again (their answer may have been lost). */
export async function staleCredits(sql: Sql, ctx: ShardContext, olderThanMs: number, limit: number): Promise<Map<number, JobCredit[]>> {
  const rows = await sql<{ id: string; payee_wallet_id: string; amount_minor: bigint }[]>`
    select id, payee_wallet_id, amount_minor from transfers
    where shard = ${ctx.shard} and status = 'in_flight' and settled_at_ms < ${olderThanMs} order by settled_at_ms limit ${limit}`;
  const out = new Map<number, JobCredit[]>();
  for (const t of rows) {
    const to = shardOf(t.payee_wallet_id, ctx.shardCount);
    const list = out.get(to) ?? [];
    list.push({ type: 'credit', id: t.id, payeeWalletId: t.payee_wallet_id, amountMinor: t.amount_minor.toString(), fromShard: ctx.shard });
    out.set(to, list);
  }
  return out;
}
