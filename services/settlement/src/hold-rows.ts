/**
 * The settlement worker's I/O for holds (see @cbdc/shared/ledger-holds), beside store.ts's for
 * transfers: what a batch's hold items need read before the core decides (the holds they name,
 * the payees' banks, the captures in flight a credit result answers, and, when looking up, the ids
 * and nonces recorded before), and the rows a decided batch writes (holds placed or refused,
 * closed, and captures finished). Holds are few beside payments: plain statements, each sent only
 * when the batch has something for it.
 */
import type { Queryable } from '@cbdc/db/connect';
import { shardOf } from '@cbdc/shared/ids';
import type { JobHold, JobHoldAction, AnyJobItem } from '@cbdc/shared/job';
import type { BatchResult, SettlementItem } from '@cbdc/shared/ledger';
import type { CaptureInFlight, HoldBatchState, HoldItem, HoldRecord, HoldStatus } from '@cbdc/shared/ledger-holds';
import { RecordedBeforeError, isUniqueViolationOf } from './recorded-before.js';

/** What hold prefetching needs of the shard. */
export interface HoldShardContext {
  shard: number;
  shardCount: number;
  /** The database of another shard (its wallets' banks), when it is not this shard's. */
  ledgerOfShard?: (shard: number) => Queryable;
}

/** What the hold items of a batch add to its prefetch. */
export interface HoldPrefetch {
  holds: HoldBatchState;
  /** Wallets of this shard the hold items touch (payers, payees here of captures). */
  walletIds: string[];
  /** Hold ids and `${payer}:${nonce}` recorded before (only when looking up). */
  recordedIds: string[];
  usedNonces: string[];
}

interface HoldRow {
  id: string;
  bank_id: string;
  payer_wallet_id: string;
  payee_wallet_id: string;
  payee_bank_id: string | null;
  amount_minor: bigint;
  hold_expires_at_ms: bigint;
  status: HoldStatus;
  closed_by: string | null;
}

/**
 * Reads what the batch's hold items need. `unansweredResults`: the credit results of the batch that
 * answer no transfer of this shard in flight (they may answer a capture). `noncesOfOrigins`: the
 * payer nonces of the batch's transfers, checked against the holds' when looking up (a payer's
 * nonces are shared by its transfers and holds).
 */
export async function prefetchHolds(
  tx: Queryable,
  ctx: HoldShardContext,
  items: readonly SettlementItem[],
  o: { unansweredResults: ReadonlyMap<string, number>; lookUpRecorded: boolean; noncesOfOrigins: ReadonlyArray<{ payer: string; nonce: bigint }> },
): Promise<HoldPrefetch> {
  const { shard, shardCount } = ctx;
  const newHolds = items.filter((i): i is HoldItem => i.type === 'hold');
  const named = [...new Set(items.flatMap((i) => (i.type === 'hold_capture' || i.type === 'hold_void' ? [i.holdId] : i.type === 'hold_expire' ? [i.id] : [])))];
  const resultIds = [...o.unansweredResults.keys()];
  const [recordRows, flightRows, payeeBanks, recorded] = await Promise.all([
    named.length
      ? tx<HoldRow[]>`select id, bank_id, payer_wallet_id, payee_wallet_id, payee_bank_id, amount_minor, hold_expires_at_ms, status, closed_by from holds where id = any(${named}) and shard = ${shard}`
      : Promise.resolve([] as HoldRow[]),
    resultIds.length
      ? tx<{ id: string; payer_wallet_id: string; payee_wallet_id: string; captured_minor: bigint }[]>`
          select id, payer_wallet_id, payee_wallet_id, captured_minor from holds where id = any(${resultIds}) and shard = ${shard} and capture_status = 'in_flight'`
      : Promise.resolve([]),
    readPayeeBanks(tx, ctx, newHolds),
    o.lookUpRecorded ? lookUpRecordedHolds(tx, newHolds, o.noncesOfOrigins) : Promise.resolve({ ids: [], nonces: [] }),
  ]);
  const isRemote = (walletId: string) => shardOf(walletId, shardCount) !== shard;
  const records = new Map<string, HoldRecord>(
    recordRows.map((h) => [
      h.id,
      {
        id: h.id,
        bankId: h.bank_id,
        payerWalletId: h.payer_wallet_id,
        payeeWalletId: h.payee_wallet_id,
        payeeBankId: h.payee_bank_id,
        amountMinor: h.amount_minor,
        holdExpiresAtMs: h.hold_expires_at_ms,
        status: h.status,
        closedBy: h.closed_by,
        payeeRemote: isRemote(h.payee_wallet_id),
      },
    ]),
  );
  // A result counts only from the payee's own shard: another shard's key cannot close a capture.
  const capturesInFlight = new Map<string, CaptureInFlight>(
    flightRows.filter((h) => shardOf(h.payee_wallet_id, shardCount) === o.unansweredResults.get(h.id)).map((h) => [h.id, { payerWalletId: h.payer_wallet_id, payeeWalletId: h.payee_wallet_id, amountMinor: h.captured_minor }]),
  );
  const walletIds = [...newHolds.map((h) => h.payerWalletId), ...[...records.values()].flatMap((h) => (h.payeeRemote ? [h.payerWalletId] : [h.payerWalletId, h.payeeWalletId])), ...[...capturesInFlight.values()].map((c) => c.payerWalletId)];
  const remotePayees = new Set(newHolds.map((h) => h.payeeWalletId).filter(isRemote));
  return { holds: { records, payeeBanks, remotePayees, capturesInFlight }, walletIds, recordedIds: recorded.ids, usedNonces: recorded.nonces };
}

/** The bank of each payee wallet the new holds name, read where the wallet lives (absent if it does not exist). */
async function readPayeeBanks(tx: Queryable, ctx: HoldShardContext, holds: readonly HoldItem[]): Promise<Map<string, string>> {
  const byDatabase = new Map<Queryable, string[]>();
  for (const h of holds) {
    if (typeof h.payeeWalletId !== 'string') continue;
    const payeeShard = shardOf(h.payeeWalletId, ctx.shardCount);
    const db = payeeShard === ctx.shard ? tx : (ctx.ledgerOfShard?.(payeeShard) ?? tx);
    byDatabase.set(db, [...(byDatabase.get(db) ?? []), h.payeeWalletId]);
  }
  const parts = await Promise.all([...byDatabase].map(([db, ids]) => db<{ id: string; bank_id: string; shard: number }[]>`select id, bank_id, shard from wallets where id = any(${ids})`));
  return new Map(
    parts
      .flat()
      .filter((w) => w.shard === shardOf(w.id, ctx.shardCount))
      .map((w) => [w.id, w.bank_id]),
  );
}

/** Hold ids recorded before, and the payer nonces spent by a hold or a transfer. */
async function lookUpRecordedHolds(tx: Queryable, holds: readonly HoldItem[], noncesOfOrigins: ReadonlyArray<{ payer: string; nonce: bigint }>): Promise<{ ids: string[]; nonces: string[] }> {
  const valid = holds.filter((h) => typeof h.nonce === 'bigint' && h.nonce >= 0n);
  const pairs = [...noncesOfOrigins, ...valid.map((h) => ({ payer: h.payerWalletId, nonce: h.nonce }))];
  const payers = pairs.map((p) => p.payer);
  const nonces = pairs.map((p) => p.nonce.toString());
  const holdPayers = valid.map((h) => h.payerWalletId);
  const holdNonces = valid.map((h) => h.nonce.toString());
  const [ids, inHolds, inTransfers] = await Promise.all([
    holds.length ? tx<{ id: string }[]>`select id from holds where id = any(${holds.map((h) => h.id)})` : Promise.resolve([]),
    pairs.length
      ? tx<{ payer_wallet_id: string; nonce: bigint }[]>`
          select h.payer_wallet_id, h.nonce from holds h join unnest(${payers}::text[], ${nonces}::bigint[]) as u(payer, nonce)
            on h.payer_wallet_id = u.payer and h.nonce = u.nonce where h.code is distinct from 'nonce_reused'`
      : Promise.resolve([]),
    valid.length
      ? tx<{ payer_wallet_id: string; nonce: bigint }[]>`
          select t.payer_wallet_id, t.nonce from transfers t join unnest(${holdPayers}::text[], ${holdNonces}::bigint[]) as u(payer, nonce)
            on t.payer_wallet_id = u.payer and t.nonce = u.nonce where t.nonce is not null and t.code is distinct from 'nonce_reused'`
      : Promise.resolve([]),
  ]);
  return { ids: ids.map((r) => r.id), nonces: [...inHolds, ...inTransfers].map((n) => `${n.payer_wallet_id}:${n.nonce}`) };
}

/** Whether a batch's items or results touch holds at all (most batches do not). */
export function batchHasHolds(r: BatchResult): boolean {
  return r.holds.placed.length > 0 || r.holds.closed.length > 0 || r.holds.captureFinal.length > 0;
}

/**
 * The statements that write a decided batch's hold rows, in order (a hold placed and closed in one
 * batch is inserted before it is updated: one connection runs them in the order sent). A new hold
 * whose nonce a transfer spent before is not inserted, and the batch is decided again with the
 * lookups (RecordedBeforeError), as a transfer whose nonce or id is recorded; one whose id or nonce
 * a hold spent hits the holds' unique indexes, with the same effect.
 */
export function writeHoldRows(tx: Queryable, jobItems: readonly AnyJobItem[], r: BatchResult, o: { shard: number; batchSeq: string | null; nowMs: number; lookUpRecorded: boolean }): Array<Promise<unknown>> {
  const writes: Array<Promise<unknown>> = [];
  const { placed, closed, captureFinal } = r.holds;
  if (placed.length) {
    if (o.batchSeq === null) throw new Error('invariant broken: holds placed in a batch without leaves');
    const jobs = new Map(jobItems.filter((j): j is JobHold => j.type === 'hold').map((j) => [j.id, j]));
    const rows = placed.map((p) => ({ p, job: jobs.get(p.item.id)! }));
    const inserted = tx`
      insert into holds (id, bank_id, payer_wallet_id, payee_wallet_id, payee_bank_id, amount_minor, nonce, expires_at_ms, hold_expires_at_ms, memo, signature,
                         status, code, shard, batch_seq, leaf_index, submitted_at_ms, placed_at_ms)
      select u.id, u.bank, u.payer, u.payee, u.payee_bank, u.amount, u.nonce, u.expires, u.hold_expires, u.memo, decode(u.sig, 'hex'),
             u.status, u.code, ${o.shard}, ${o.batchSeq}::bigint, u.leaf_index, u.submitted, ${o.nowMs}
      from unnest(
        ${rows.map((x) => x.p.item.id)}::text[], ${rows.map((x) => x.p.item.bankId)}::text[], ${rows.map((x) => x.p.item.payerWalletId)}::text[], ${rows.map((x) => x.p.item.payeeWalletId)}::text[],
        ${rows.map((x) => x.p.payeeBankId)}::text[], ${rows.map((x) => x.p.item.amountMinor.toString())}::bigint[], ${rows.map((x) => x.p.item.nonce.toString())}::bigint[],
        ${rows.map((x) => x.p.item.expiresAtMs.toString())}::bigint[], ${rows.map((x) => x.p.item.holdExpiresAtMs.toString())}::bigint[], ${rows.map((x) => x.p.item.memo)}::text[],
        ${rows.map((x) => x.job.signature)}::text[], ${rows.map((x) => x.p.status)}::text[], ${rows.map((x) => x.p.code)}::text[], ${rows.map((x) => x.p.leafIndex)}::int[], ${rows.map((x) => x.job.submittedAtMs)}::bigint[]
      ) as u(id, bank, payer, payee, payee_bank, amount, nonce, expires, hold_expires, memo, sig, status, code, leaf_index, submitted)
      where u.code is not distinct from 'nonce_reused'
         or not exists (select 1 from transfers t where t.payer_wallet_id = u.payer and t.nonce = u.nonce and t.code is distinct from 'nonce_reused')`.execute();
    writes.push(
      inserted.then(
        (done) => {
          if (done.count === rows.length) return;
          if (o.lookUpRecorded) throw new Error('invariant broken: a hold nonce spent by a transfer was not found when looked up');
          throw new RecordedBeforeError('a hold nonce of the batch is spent by a transfer');
        },
        (error: unknown) => {
          if (!o.lookUpRecorded && isUniqueViolationOf(error, ['holds_pkey', 'holds_payer_nonce'])) throw new RecordedBeforeError('a hold id or nonce of the batch is recorded already');
          throw error;
        },
      ),
    );
  }
  if (closed.length) {
    if (o.batchSeq === null) throw new Error('invariant broken: holds closed in a batch without leaves');
    const actions = new Map(jobItems.filter((j): j is JobHoldAction => j.type === 'hold_capture' || j.type === 'hold_void').map((j) => [j.id, j]));
    const by = closed.map((c) => (c.closedBy === null ? null : actions.get(c.closedBy)!));
    writes.push(
      tx`
        update holds h set status = u.status, captured_minor = u.captured, capture_leg_status = u.leg_status, capture_status = u.capture_status, capture_code = u.capture_code,
               closed_by = u.closed_by, closing_bank_id = u.bank, closing_request = u.request::jsonb, closing_signature = decode(u.sig, 'hex'),
               closed_batch_seq = ${o.batchSeq}::bigint, closed_leaf_index = u.leaf_index, closed_at_ms = ${o.nowMs}
        from unnest(
          ${closed.map((c) => c.holdId)}::text[], ${closed.map((c) => c.status)}::text[], ${closed.map((c) => (c.status === 'captured' ? c.capturedMinor.toString() : null))}::bigint[],
          ${closed.map((c) => (c.capture === 'none' ? null : c.capture))}::text[], ${closed.map((c) => c.captureStatus)}::text[], ${closed.map((c) => c.captureCode)}::text[],
          ${closed.map((c) => c.closedBy)}::text[], ${by.map((j) => j?.bankId ?? null)}::text[], ${by.map((j) => (j ? JSON.stringify({ ...j.authority, signature: undefined }) : null))}::text[],
          ${by.map((j) => j?.authority.signature ?? null)}::text[], ${closed.map((c) => c.leafIndex)}::int[]
        ) as u(id, status, captured, leg_status, capture_status, capture_code, closed_by, bank, request, sig, leaf_index)
        where h.id = u.id and h.status = 'open'`
        .execute()
        .then((done) => {
          if (done.count !== closed.length) throw new Error('invariant broken: a hold was closed twice');
        }),
    );
  }
  if (captureFinal.length) {
    writes.push(
      tx`
        update holds h set capture_status = u.status, capture_code = u.code
        from unnest(${captureFinal.map((f) => f.holdId)}::text[], ${captureFinal.map((f) => f.status)}::text[], ${captureFinal.map((f) => f.code)}::text[]) as u(id, status, code)
        where h.id = u.id and h.capture_status = 'in_flight'`
        .execute()
        .then((done) => {
          if (done.count !== captureFinal.length) throw new Error('invariant broken: a capture in flight was finalized twice');
        }),
    );
  }
  return writes;
}

/** Credits of this shard's captures in flight since before `olderThanMs`, to send again (their answer may have been lost). */
export async function staleCaptureCredits(tx: Queryable, shard: number, olderThanMs: number, limit: number): Promise<Array<{ id: string; payeeWalletId: string; amountMinor: bigint }>> {
  const rows = await tx<{ id: string; payee_wallet_id: string; captured_minor: bigint }[]>`
    select id, payee_wallet_id, captured_minor from holds
    where shard = ${shard} and capture_status = 'in_flight' and closed_at_ms < ${olderThanMs} order by closed_at_ms limit ${limit}`;
  return rows.map((h) => ({ id: h.id, payeeWalletId: h.payee_wallet_id, amountMinor: h.captured_minor }));
}

/** Open holds of this shard whose expiry is due at `nowMs`, oldest first: the expiry sweep's items. */
export async function dueHolds(tx: Queryable, shard: number, nowMs: number, limit: number): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    select id from holds where shard = ${shard} and status = 'open' and hold_expires_at_ms <= ${nowMs} order by hold_expires_at_ms limit ${limit}`;
  return rows.map((h) => h.id);
}
