/**
 * The settlement worker's I/O, in TigerBeetle's two phases: prefetch (lock the shard head, read
 * the touched wallets the worker does not hold in memory, which legs exist and which transfers
 * are in flight), then the pure core decides, then one write phase in the same transaction
 * (transfer rows, legs, balances, the next chain link). A fixed number of round trips per batch,
 * whatever its size.
 */
import { arrayLiteral, type ArrayElement } from '@cbdc/db/array-literal';
import { appendEvents, encodeEvents, type EncodedEvents } from '@cbdc/db/events';
import type { Queryable, Sql } from '@cbdc/db/connect';
import { encodeLeaf, encodeLeg } from '@cbdc/shared/canonical';
import { encodeHoldLeaf } from '@cbdc/shared/canonical-hold';
import { batchHeaderHash, type BatchHeader } from '@cbdc/shared/chains';
import { ed25519VerifyRaw, type Signer } from '@cbdc/shared/crypto';
import type { RejectionCode } from '@cbdc/shared/errors';
import { REQUEST_ID_PATTERN, shardOf } from '@cbdc/shared/ids';
import { dayOf, settleBatch, type BatchLeaf, type CreditResultItem, type BatchResult, type BatchState, type InFlightTransfer, type OriginItem, type PaymentRequestState, type SettlementItem, type WalletState } from '@cbdc/shared/ledger';
import { leafHash, merkleRoot } from '@cbdc/shared/merkle';
import { toSettlementItem, type AnyJobItem, type JobCredit, type JobCreditResult, type JobItem, type JobOutcome } from '@cbdc/shared/job';
import type { Tier } from '@cbdc/shared/tiers';
import type { WalletCache } from './wallet-cache.js';
import { prefetchHolds, writeHoldRows, staleCaptureCredits, type HoldPrefetch } from './hold-rows.js';
import { RecordedBeforeError, isUniqueViolationOf } from './recorded-before.js';

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
  held_minor: bigint;
  public_key: Buffer | null;
}

export interface ShardContext {
  shard: number;
  shardCount: number;
  signer: Signer;
  /** This environment's id: the audience a bank's signed funding request must name. */
  audience: string;
  /** The shard's wallets held between batches; without it every batch reads its wallets. */
  wallets?: WalletCache;
  /**
   * The central database, where the banks' keys are, when the shard's ledger is on a server of its
   * own (see @cbdc/shared/topology); the shard's own database when absent.
   */
  central?: Queryable;
  /** Whether batches record the banks' events (docs/events.md); on unless turned off (the bench's baseline). */
  events?: boolean;
  /** The database of another shard (the bank of a hold's payee lives there), when it is not this shard's. */
  ledgerOfShard?: (shard: number) => Queryable;
}

export interface CommitResult {
  /** Where the time went, for the worker's log: the head lock, reading and deciding, the writes, the commit. */
  timingsMs: { lock: number; decide: number; write: number; commit: number };
  /** Whether the batch was written as decided ahead (while the previous one committed). */
  decidedAhead: boolean;
  shard: number;
  timeMs: number;
  batchSeq: string | null;
  outcomes: JobOutcome[];
  /** Messages for other shards, grouped by target shard, to send after the commit. */
  messages: Map<number, Array<JobCredit | JobCreditResult>>;
}

/** The Merkle leaf hash of a batch leaf, as stored (the audit and receipts recompute the same). */
export function hashLeaf(leaf: BatchLeaf): Buffer {
  if (leaf.type === 'hold') return leafHash(encodeHoldLeaf(leaf.leaf));
  if (leaf.type === 'transfer') {
    const i = leaf.item;
    return leafHash(encodeLeaf({ id: i.id, kind: i.kind, payerWalletId: i.payerWalletId, payeeWalletId: i.payeeWalletId, amountMinor: i.amountMinor, status: leaf.legStatus, code: leaf.code }));
  }
  return leafHash(encodeLeg({ transferId: leaf.transferId, leg: leaf.leg, walletId: leaf.walletId, amountMinor: leaf.amountMinor, status: leaf.status, code: leaf.code }));
}

function walletOfRow(w: WalletRow): WalletState {
  return {
    id: w.id,
    bankId: w.bank_id,
    kind: w.kind,
    tier: w.tier,
    status: w.status,
    balanceMinor: w.balance_minor,
    dailySpentMinor: w.daily_spent_minor,
    dailySpentDay: w.daily_spent_day,
    inFlightOutMinor: w.in_flight_out_minor,
    heldMinor: w.held_minor,
    publicKey: w.public_key,
  };
}

/** A shard's head: the last link of its chain and the version of its wallets. */
export interface ShardHead {
  seq: bigint;
  hash: Buffer;
  walletsVersion: bigint;
}

/** What a batch leaves once decided: the head after it and the wallets it changes. */
export interface BatchAftermath {
  before: ShardHead;
  after: ShardHead;
  changed: ReadonlyMap<string, WalletState>;
}

/** A batch decided in memory, ready to be written: its outcomes, rows and chain link. */
interface Decision {
  nowMs: number;
  /** The job items decided (the hold rows take their signatures and authorities from them). */
  jobItems: readonly AnyJobItem[];
  r: BatchResult;
  /** The head the batch was decided on, and the one it leaves. */
  basis: ShardHead;
  after: ShardHead;
  header: BatchHeader | null;
  signature: Buffer | null;
  rows: EncodedRows;
}

/** A decided batch's rows, column by column, as Postgres array literals (see @cbdc/db/array-literal). */
interface EncodedRows {
  transfers: Record<'id' | 'kind' | 'bank' | 'payer' | 'payee' | 'payeeBank' | 'amount' | 'nonce' | 'expires' | 'memo' | 'sig' | 'fundingRequest' | 'legStatus' | 'code' | 'leafIndex' | 'submitted' | 'request', string> | null;
  legs: Record<'id' | 'leg' | 'wallet' | 'bank' | 'amount' | 'status' | 'code' | 'fromShard' | 'leafIndex', string> | null;
  finalized: Record<'id' | 'status' | 'code', string> | null;
  wallets: Record<'id' | 'balance' | 'spent' | 'day' | 'inFlight' | 'held', string> | null;
  events: EncodedEvents | null;
  paidRequests: Record<'id' | 'transfer', string> | null;
}

/**
 * Encodes a decided batch's rows up front: when the batch is decided ahead, this work is done
 * while the previous batch commits, not when the statements are sent.
 */
function encodeRows(jobItems: readonly AnyJobItem[], items: readonly SettlementItem[], r: BatchResult, shard: number, withEvents: boolean): EncodedRows {
  const byId = new Map(jobItems.filter((j): j is JobItem => j.type === undefined || j.type === 'origin').map((j) => [j.id, j]));
  const transfers = r.leaves.flatMap((leaf, index) => (leaf.type === 'transfer' ? [{ leaf, index, job: byId.get(leaf.item.id)! }] : []));
  const legs = r.leaves.flatMap((leaf, index) => (leaf.type === 'leg' ? [{ leaf, index }] : []));
  const creditSources = new Map(items.flatMap((i) => (i.type === 'credit' ? [[i.id, i.fromShard] as const] : [])));
  const changed = [...r.changedWallets.values()];
  const column = <T>(rows: readonly T[], f: (row: T) => ArrayElement) => arrayLiteral(rows.map(f));
  // The bank of a wallet this batch credits, recorded on the row for the banks' reconciliation
  // (migration 00013): a credited wallet is one of this shard's, and the batch changed it.
  const bankOfCredited = (walletId: string) => {
    const wallet = r.changedWallets.get(walletId);
    if (!wallet) throw new Error(`invariant broken: wallet ${walletId} is credited but not changed by the batch`);
    return wallet.bankId;
  };
  return {
    transfers: transfers.length
      ? {
          id: column(transfers, (x) => x.leaf.item.id),
          kind: column(transfers, (x) => x.leaf.item.kind),
          bank: column(transfers, (x) => x.job.bankId),
          payer: column(transfers, (x) => x.leaf.item.payerWalletId),
          payee: column(transfers, (x) => x.leaf.item.payeeWalletId),
          payeeBank: column(transfers, (x) => (x.leaf.legStatus === 'settled' ? bankOfCredited(x.leaf.item.payeeWalletId) : null)),
          amount: column(transfers, (x) => x.leaf.item.amountMinor),
          nonce: column(transfers, (x) => x.job.nonce),
          expires: column(transfers, (x) => x.job.expiresAtMs),
          memo: column(transfers, (x) => x.job.memo),
          // A funding's authority is its bank's signed request: the signature here, the rest beside it.
          sig: column(transfers, (x) => x.job.authority?.signature ?? x.job.signature),
          fundingRequest: column(transfers, (x) => (x.job.authority ? JSON.stringify({ ...x.job.authority, signature: undefined }) : null)),
          legStatus: column(transfers, (x) => x.leaf.legStatus),
          code: column(transfers, (x) => x.leaf.code),
          leafIndex: column(transfers, (x) => x.index),
          submitted: column(transfers, (x) => x.job.submittedAtMs),
          request: column(transfers, (x) => x.leaf.item.requestId ?? null),
        }
      : null,
    legs: legs.length
      ? {
          id: column(legs, (x) => x.leaf.transferId),
          leg: column(legs, (x) => x.leaf.leg),
          wallet: column(legs, (x) => x.leaf.walletId),
          bank: column(legs, (x) => (x.leaf.status === 'applied' ? bankOfCredited(x.leaf.walletId) : null)),
          amount: column(legs, (x) => x.leaf.amountMinor),
          status: column(legs, (x) => x.leaf.status),
          code: column(legs, (x) => x.leaf.code),
          fromShard: column(legs, (x) => (x.leaf.leg === 'credit' ? creditSources.get(x.leaf.transferId)! : shard)),
          leafIndex: column(legs, (x) => x.index),
        }
      : null,
    finalized: r.finalized.length ? { id: column(r.finalized, (f) => f.id), status: column(r.finalized, (f) => f.status), code: column(r.finalized, (f) => f.code) } : null,
    wallets: changed.length
      ? {
          id: column(changed, (w) => w.id),
          balance: column(changed, (w) => w.balanceMinor),
          spent: column(changed, (w) => w.dailySpentMinor),
          day: column(changed, (w) => w.dailySpentDay),
          inFlight: column(changed, (w) => w.inFlightOutMinor),
          held: column(changed, (w) => w.heldMinor),
        }
      : null,
    events: withEvents && r.events.length ? encodeEvents(r.events) : null,
    paidRequests: r.paidRequests.length ? { id: column(r.paidRequests, (p) => p.id), transfer: column(r.paidRequests, (p) => p.transferId) } : null,
  };
}

/**
 * A batch decided before its transaction, on the state the batch committing before it leaves.
 * It is written only if, under the head lock, the head is still exactly `basis`; otherwise the
 * batch is decided again there, as usual.
 */
export interface DecidedAhead {
  jobItems: readonly AnyJobItem[];
  decision: Decision;
  /** The wallets read from Postgres for it (the rest came from memory). */
  read: WalletState[];
}

export interface CommitOptions {
  /** This batch, decided while the previous one committed (see `decideAhead`). */
  ahead?: DecidedAhead | null;
  /** Called inside the transaction once the batch is decided and its writes are sent. */
  onDecided?: (aftermath: BatchAftermath) => void;
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
export async function commitBatch(sql: Sql, ctx: ShardContext, jobItems: AnyJobItem[], nowMs: number, o: CommitOptions = {}): Promise<CommitResult> {
  try {
    try {
      return await attemptBatch(sql, ctx, jobItems, nowMs, { lookUpRecorded: false, ahead: o.ahead ?? null, onDecided: o.onDecided });
    } catch (error) {
      if (!(error instanceof RecordedBeforeError)) throw error;
      return await attemptBatch(sql, ctx, jobItems, nowMs, { lookUpRecorded: true, ahead: null });
    }
  } catch (error) {
    // Whether or not it committed, what this process holds may now differ from the database.
    ctx.wallets?.reset();
    throw error;
  }
}

function sameHead(a: ShardHead, b: ShardHead): boolean {
  return a.seq === b.seq && a.walletsVersion === b.walletsVersion && a.hash.equals(b.hash);
}

/** The wallets an item list names that this shard holds. */
function walletIdsOf(items: readonly SettlementItem[], inFlight: ReadonlyMap<string, InFlightTransfer>): Set<string> {
  const ids = new Set<string>();
  for (const i of items) {
    if (i.type === 'origin') {
      ids.add(i.payerWalletId);
      if (!i.payeeRemote) ids.add(i.payeeWalletId);
    } else if (i.type === 'credit') ids.add(i.payeeWalletId);
  }
  for (const f of inFlight.values()) ids.add(f.payerWalletId);
  return ids;
}

/** The payment requests an item list asks this shard to check: those of transfers whose payee is here, and of credits. */
function requestIdsOf(items: readonly SettlementItem[]): string[] {
  const ids = new Set<string>();
  for (const i of items) {
    const id = i.type === 'origin' ? (i.payeeRemote ? null : i.requestId) : i.type === 'credit' ? i.requestId : null;
    // Only well-formed ids are looked up (a forged one could hold what Postgres refuses); any other names no request.
    if (typeof id === 'string' && REQUEST_ID_PATTERN.test(id)) ids.add(id);
  }
  return [...ids];
}

/** The payment requests of this shard among `ids`, as settlement checks them. */
async function readRequests(sql: Queryable, shard: number, ids: string[]): Promise<Map<string, PaymentRequestState>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; bank_id: string; payee_wallet_id: string; amount_minor: bigint | null; expires_at_ms: bigint; status: PaymentRequestState['status'] }[]>`
    select id, bank_id, payee_wallet_id, amount_minor, expires_at_ms, status from payment_requests where id = any(${ids}) and shard = ${shard}`;
  return new Map(rows.map((r) => [r.id, { id: r.id, bankId: r.bank_id, payeeWalletId: r.payee_wallet_id, amountMinor: r.amount_minor, expiresAtMs: r.expires_at_ms, status: r.status }]));
}

async function readWallets(sql: Queryable, shard: number, ids: string[]): Promise<WalletState[]> {
  if (ids.length === 0) return [];
  const rows = await sql<WalletRow[]>`
    select id, bank_id, kind, tier, status, balance_minor, daily_spent_minor, daily_spent_day, in_flight_out_minor, held_minor, public_key
    from wallets where id = any(${ids.sort()}) and shard = ${shard}`;
  return rows.map(walletOfRow);
}

/**
 * The keys of the banks whose fundings the items carry, read for each batch that has any (their
 * key in force; fundings are few beside payments, so they are not held between batches).
 */
async function readBankKeys(sql: Queryable, items: readonly SettlementItem[]): Promise<Map<string, Uint8Array>> {
  // Fundings, captures and voids carry their bank's signed request.
  const ids = [...new Set(items.flatMap((i) => ((i.type === 'origin' && i.kind === 'funding') || i.type === 'hold_capture' || i.type === 'hold_void' ? [i.bankId] : [])))];
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; public_key: Buffer }[]>`select id, public_key from banks where id = any(${ids})`;
  return new Map(rows.map((r) => [r.id, r.public_key]));
}

/** Decides a batch in memory on a known head and wallets, and signs its chain link. */
function decide(ctx: ShardContext, jobItems: readonly AnyJobItem[], items: SettlementItem[], nowMs: number, basis: ShardHead, state: Omit<BatchState, 'nowMs' | 'verify'>): Decision {
  const r = settleBatch(items, { nowMs, verify: ed25519VerifyRaw, ...state });
  const rows = encodeRows(jobItems, items, r, ctx.shard, ctx.events !== false);
  // A batch that records anything or moves any balance is a new version of the shard's wallets.
  const walletsVersion = r.leaves.length > 0 || r.changedWallets.size > 0 ? basis.walletsVersion + 1n : basis.walletsVersion;
  if (r.leaves.length === 0) return { nowMs, jobItems, r, basis, after: { ...basis, walletsVersion }, header: null, signature: null, rows };
  const header: BatchHeader = { shard: ctx.shard, seq: basis.seq + 1n, prevHash: basis.hash, merkleRoot: merkleRoot(r.leaves.map(hashLeaf)), count: r.leaves.length, timeMs: BigInt(nowMs) };
  const hash = batchHeaderHash(header);
  return { nowMs, jobItems, r, basis, after: { seq: header.seq, hash, walletsVersion }, header, signature: ctx.signer.sign(hash), rows };
}

/**
 * Decides a batch of origin items (payments, fundings) ahead of its transaction, while the batch
 * before it commits, on the state that batch leaves: its changed wallets, then the wallets held in
 * memory, then Postgres for the rest (the committing batch holds the head lock, and every other
 * writer of this shard's wallets takes it first, so no row read here can change before that batch
 * commits; after that, a writer moves the head, which the check under the lock catches). Null if
 * the batch holds credits or results between shards: those read rows the batch before may write.
 */
export async function decideAhead(sql: Sql, ctx: ShardContext, jobItems: readonly AnyJobItem[], nowMs: number, previous: BatchAftermath): Promise<DecidedAhead | null> {
  const items: SettlementItem[] = jobItems.map((j) => toSettlementItem(j, ctx.shard, ctx.audience));
  if (!items.every((i) => i.type === 'origin')) return null;
  // A payment request of this shard may be paid by the batch committing now, which the head check
  // under the lock would not notice: a batch that pays one here is decided under the lock.
  if (requestIdsOf(items).length > 0) return null;
  const held = ctx.wallets?.isAt(previous.before.walletsVersion) || ctx.wallets?.isAt(previous.after.walletsVersion) ? ctx.wallets : undefined;
  const wallets = new Map<string, WalletState>();
  const missing: string[] = [];
  for (const id of walletIdsOf(items, new Map())) {
    const w = previous.changed.get(id) ?? held?.get(id);
    if (w) wallets.set(id, w);
    else missing.push(id);
  }
  const [read, bankKeys] = await Promise.all([readWallets(sql, ctx.shard, missing), readBankKeys(ctx.central ?? sql, items)]);
  for (const w of read) wallets.set(w.id, w);
  const decision = decide(ctx, jobItems, items, nowMs, previous.after, { wallets, recordedIds: new Set(), usedNonces: new Set(), recordedCredits: new Map(), inFlight: new Map(), bankKeys });
  return { jobItems, decision, read };
}

async function attemptBatch(sql: Sql, ctx: ShardContext, jobItems: AnyJobItem[], nowMs: number, o: { lookUpRecorded: boolean; ahead: DecidedAhead | null; onDecided?: (aftermath: BatchAftermath) => void }): Promise<CommitResult> {
  const { shard } = ctx;
  const items: SettlementItem[] = jobItems.map((j) => toSettlementItem(j, shard, ctx.audience));

  const t0 = performance.now();
  const timingsMs = { lock: 0, decide: 0, write: 0, commit: 0 };
  let decidedAhead = false;
  const result = await sql.begin(async (tx) => {
    // Prefetch. The head lock serialises every writer of this shard's chain, so two workers
    // handed the same job (a stalled lock, a redelivery) settle it once between them, and every
    // other writer of this shard's wallet rows (see @cbdc/db/shard-lock), so the wallets are read
    // without row locks and written back with absolute values.
    // Every later statement looks rows up by key, a few thousand at a time; left to itself the
    // planner hash-joins them against a scan of the whole table, a cost that grows with the number
    // of wallets. Turned off for this transaction only, in the same round trip as the head lock.
    const [row] = await tx<{ head_seq: bigint; head_hash: Buffer; wallets_version: bigint }[]>`
      select head_seq, head_hash, wallets_version, set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
      from shards where shard = ${shard} for update`;
    if (!row) throw new Error(`shard ${shard} is not registered`);
    const head: ShardHead = { seq: row.head_seq, hash: row.head_hash, walletsVersion: row.wallets_version };
    const ticket = ctx.wallets?.validate(head.walletsVersion);
    const t1 = performance.now();
    timingsMs.lock = t1 - t0;
    let d: Decision;
    let read: WalletState[];
    if (o.ahead && o.ahead.jobItems === jobItems && sameHead(o.ahead.decision.basis, head)) {
      // Decided while the previous batch committed, on exactly the head found here.
      ({ decision: d, read } = o.ahead);
      decidedAhead = true;
    } else {
      ({ d, read } = await prefetchAndDecide(tx, ctx, jobItems, items, nowMs, head, o.lookUpRecorded));
    }
    const t2 = performance.now();
    timingsMs.decide = t2 - t1;
    const written = writeDecision(tx, ctx, d, o.lookUpRecorded);
    o.onDecided?.({ before: d.basis, after: d.after, changed: d.r.changedWallets });
    await written;
    timingsMs.write = performance.now() - t2;
    return { d, ticket, read };
  });
  timingsMs.commit = performance.now() - t0 - timingsMs.lock - timingsMs.decide - timingsMs.write;

  const { d, ticket, read } = result;
  const r = d.r;
  if (ticket) ctx.wallets!.committed(ticket, d.after.walletsVersion, read, r.changedWallets.values());
  const messages = new Map<number, Array<JobCredit | JobCreditResult>>();
  const send = (to: number, m: JobCredit | JobCreditResult) => {
    const list = messages.get(to) ?? [];
    list.push(m);
    messages.set(to, list);
  };
  for (const c of r.creditsToSend) {
    const credit: JobCredit = { type: 'credit', id: c.id, payeeWalletId: c.payeeWalletId, amountMinor: c.amountMinor.toString(), fromShard: shard };
    send(shardOf(c.payeeWalletId, ctx.shardCount), c.requestId ? { ...credit, requestId: c.requestId } : credit);
  }
  for (const res of r.resultsToSend) send(res.toShard, { type: 'credit_result', id: res.id, status: res.status, code: res.code, fromShard: shard });
  return {
    timingsMs,
    decidedAhead,
    shard,
    timeMs: d.nowMs,
    batchSeq: d.header === null ? null : d.header.seq.toString(),
    outcomes: r.outcomes.map((out, i) => ({ id: items[i].id, type: items[i].type, status: out.status, ...(out.status === 'rejected' ? { code: out.code } : {}) })),
    messages,
  };
}

/** Under the head lock: reads what the batch needs that is not held in memory, then decides it. */
async function prefetchAndDecide(tx: Queryable, ctx: ShardContext, jobItems: readonly AnyJobItem[], items: SettlementItem[], nowMs: number, head: ShardHead, lookUpRecorded: boolean): Promise<{ d: Decision; read: WalletState[] }> {
  const { shard } = ctx;
  const origins = items.filter((i): i is OriginItem => i.type === 'origin');
  const creditIds = items.filter((i) => i.type === 'credit').map((i) => i.id);
  const results = items.filter((i): i is CreditResultItem => i.type === 'credit_result');
  const resultIds = results.map((i) => i.id);
  // A result counts only from the payee's own shard: another shard's key cannot close a transfer.
  const resultFrom = new Map(results.map((i) => [i.id, i.fromShard]));
  const flightRows = resultIds.length
    ? await tx<{ id: string; kind: string; payer_wallet_id: string; payee_wallet_id: string; amount_minor: bigint; settled_at_ms: bigint }[]>`
        select id, kind, payer_wallet_id, payee_wallet_id, amount_minor, settled_at_ms from transfers where id = any(${resultIds}) and shard = ${shard} and status = 'in_flight'`
    : [];
  const inFlight = new Map<string, InFlightTransfer>(
    flightRows
      .filter((t) => shardOf(t.payee_wallet_id, ctx.shardCount) === resultFrom.get(t.id))
      .map((t) => [
        t.id,
        { payerWalletId: t.payer_wallet_id, payeeWalletId: t.payee_wallet_id, amountMinor: t.amount_minor, countedAsPayment: t.kind === 'transfer' && !t.payee_wallet_id.startsWith('t_'), debitDay: dayOf(Number(t.settled_at_ms)) },
      ]),
  );
  const holds = await prefetchHoldsOf(tx, ctx, items, origins, results, inFlight, lookUpRecorded);
  const wallets = new Map<string, WalletState>();
  const missing: string[] = [];
  for (const id of new Set([...walletIdsOf(items, inFlight), ...(holds?.walletIds ?? [])])) {
    const held = ctx.wallets?.get(id);
    if (held) wallets.set(id, held);
    else missing.push(id);
  }
  const [read, bankKeys, requests] = await Promise.all([readWallets(tx, shard, missing), readBankKeys(ctx.central ?? tx, items), readRequests(tx, shard, requestIdsOf(items))]);
  for (const w of read) wallets.set(w.id, w);
  const existing = lookUpRecorded && origins.length ? await tx<{ id: string }[]>`select id from transfers where id = any(${origins.map((i) => i.id)})` : [];
  const withNonce = lookUpRecorded ? origins.filter((i) => i.nonce !== null) : [];
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
  const d = decide(ctx, jobItems, items, nowMs, head, {
    wallets,
    recordedIds: new Set([...existing.map((e) => e.id), ...(holds?.recordedIds ?? [])]),
    usedNonces: new Set([...nonceRows.map((n) => `${n.payer_wallet_id}:${n.nonce}`), ...(holds?.usedNonces ?? [])]),
    recordedCredits: new Map(creditRows.map((c) => [c.transfer_id, { status: c.status, code: c.code, fromShard: c.from_shard }])),
    inFlight,
    bankKeys,
    holds: holds?.holds,
    requests,
  });
  return { d, read };
}

/**
 * What the batch's hold items need, or null when it has none (most batches): no statement is sent
 * unless the batch holds hold items or credit results that answer no transfer in flight here.
 */
async function prefetchHoldsOf(
  tx: Queryable,
  ctx: ShardContext,
  items: readonly SettlementItem[],
  origins: readonly OriginItem[],
  results: readonly CreditResultItem[],
  inFlight: ReadonlyMap<string, InFlightTransfer>,
  lookUpRecorded: boolean,
): Promise<HoldPrefetch | null> {
  const unansweredResults = new Map(results.filter((i) => !inFlight.has(i.id)).map((i) => [i.id, i.fromShard]));
  // When looking up, the transfers' nonces are looked up among the holds' too (a payer's nonces are shared).
  const noncesOfOrigins = lookUpRecorded ? origins.flatMap((i) => (typeof i.nonce === 'bigint' && i.nonce >= 0n ? [{ payer: i.payerWalletId, nonce: i.nonce }] : [])) : [];
  if (unansweredResults.size === 0 && noncesOfOrigins.length === 0 && !items.some((i) => i.type.startsWith('hold'))) return null;
  return prefetchHolds(tx, ctx, items, { unansweredResults, lookUpRecorded, noncesOfOrigins });
}

/**
 * Sends a decided batch's writes, pipelined, and resolves once all are done. Any failure fails
 * the batch; once one fails, Postgres fails the rest ("transaction aborted"), so the cause is the
 * recorded-before signal if there is one, else the first failure.
 */
async function writeDecision(tx: Queryable, ctx: ShardContext, d: Decision, lookUpRecorded: boolean): Promise<void> {
  const { shard } = ctx;
  const { r, nowMs, rows } = d;
  const writes: Array<Promise<unknown>> = [];
  if (d.header) {
    const batchSeq = d.header.seq.toString();
    if (rows.transfers) {
      const t = rows.transfers;
      const inserted = tx`
        insert into transfers (id, kind, bank_id, payer_wallet_id, payee_wallet_id, payee_bank_id, amount_minor, nonce, expires_at_ms, memo, signature, funding_request,
                               leg_status, status, code, shard, batch_seq, leaf_index, submitted_at_ms, settled_at_ms, request_id)
        select t.id, t.kind, t.bank_id, t.payer, t.payee, t.payee_bank, t.amount, t.nonce, t.expires, t.memo, decode(t.sig, 'hex'), t.funding_request::jsonb,
               t.leg_status, case t.leg_status when 'debited' then 'in_flight' else t.leg_status end, t.code,
               ${shard}, ${batchSeq}::bigint, t.leaf_index, t.submitted, ${nowMs}, t.request_id
        from unnest(
          ${t.id}::text[], ${t.kind}::text[], ${t.bank}::text[], ${t.payer}::text[], ${t.payee}::text[], ${t.payeeBank}::text[], ${t.amount}::bigint[], ${t.nonce}::bigint[],
          ${t.expires}::bigint[], ${t.memo}::text[], ${t.sig}::text[], ${t.fundingRequest}::text[], ${t.legStatus}::text[], ${t.code}::text[], ${t.leafIndex}::int[], ${t.submitted}::bigint[],
          ${t.request}::text[]
        ) as t(id, kind, bank_id, payer, payee, payee_bank, amount, nonce, expires, memo, sig, funding_request, leg_status, code, leaf_index, submitted, request_id)
        -- A payer's nonces are shared with its holds: a nonce a hold spent leaves its transfer out,
        -- and the count below sends the batch to be decided again with the lookups.
        where t.nonce is null or t.code is not distinct from 'nonce_reused'
           or not exists (select 1 from holds h where h.payer_wallet_id = t.payer and h.nonce = t.nonce and h.code is distinct from 'nonce_reused')`.execute();
      const expected = r.leaves.filter((l) => l.type === 'transfer').length;
      writes.push(
        inserted.then(
          (done) => {
            if (done.count === expected) return;
            if (lookUpRecorded) throw new Error('invariant broken: a transfer nonce spent by a hold was not found when looked up');
            throw new RecordedBeforeError('a transfer nonce of the batch is spent by a hold');
          },
          (error: unknown) => {
            if (!lookUpRecorded && isUniqueViolationOf(error, ['transfers_pkey', 'transfers_payer_nonce'])) throw new RecordedBeforeError('a transfer id or nonce of the batch is recorded already');
            throw error;
          },
        ),
      );
    }
    if (rows.legs) {
      const l = rows.legs;
      writes.push(
        tx`
        insert into transfer_legs (transfer_id, leg, wallet_id, bank_id, amount_minor, status, code, from_shard, shard, batch_seq, leaf_index, settled_at_ms)
        select l.id, l.leg, l.wallet, l.bank, l.amount, l.status, l.code, l.from_shard, ${shard}, ${batchSeq}::bigint, l.leaf_index, ${nowMs}
        from unnest(${l.id}::text[], ${l.leg}::text[], ${l.wallet}::text[], ${l.bank}::text[], ${l.amount}::bigint[], ${l.status}::text[], ${l.code}::text[], ${l.fromShard}::int[], ${l.leafIndex}::int[])
          as l(id, leg, wallet, bank, amount, status, code, from_shard, leaf_index)`.execute(),
      );
    }
    writes.push(
      tx`
      insert into settlement_batches (shard, seq, prev_hash, merkle_root, transfer_count, time_ms, hash, signature)
      values (${shard}, ${batchSeq}, ${d.header.prevHash}, ${d.header.merkleRoot}, ${d.header.count}, ${nowMs}, ${d.after.hash}, ${d.signature})`.execute(),
    );
    writes.push(
      tx`
        update shards set head_seq = ${batchSeq}, head_hash = ${d.after.hash}, wallets_version = ${d.after.walletsVersion.toString()}
        where shard = ${shard} and head_seq = ${d.basis.seq.toString()}`
        .execute()
        .then((moved) => {
          if (moved.count !== 1) throw new Error(`invariant broken: shard ${shard} head moved during the batch`);
        }),
    );
  } else if (r.changedWallets.size) {
    writes.push(tx`update shards set wallets_version = ${d.after.walletsVersion.toString()} where shard = ${shard}`.execute());
  }
  if (rows.finalized) {
    const f = rows.finalized;
    writes.push(
      tx`
        update transfers t set status = u.status, code = u.code
        from unnest(${f.id}::text[], ${f.status}::text[], ${f.code}::text[]) as u(id, status, code)
        where t.id = u.id and t.status = 'in_flight'`
        .execute()
        .then((done) => {
          if (done.count !== r.finalized.length) throw new Error('invariant broken: an in-flight transfer was finalized twice');
        }),
    );
  }
  if (rows.wallets) {
    const w = rows.wallets;
    writes.push(
      tx`
      update wallets w set balance_minor = u.balance, daily_spent_minor = u.spent, daily_spent_day = u.day, in_flight_out_minor = u.in_flight, held_minor = u.held, updated_at = now()
      from unnest(${w.id}::text[], ${w.balance}::bigint[], ${w.spent}::bigint[], ${w.day}::int[], ${w.inFlight}::bigint[], ${w.held}::bigint[]) as u(id, balance, spent, day, in_flight, held)
      where w.id = u.id`.execute(),
    );
  }
  if (r.holds.placed.length || r.holds.closed.length || r.holds.captureFinal.length) {
    writes.push(...writeHoldRows(tx, d.jobItems, r, { shard, batchSeq: d.header === null ? null : d.header.seq.toString(), nowMs, lookUpRecorded }));
  }
  // The banks' events, under the head lock like every writer of this shard's events (per bank and shard order).
  if (rows.events) writes.push(appendEvents(tx, shard, nowMs, rows.events));
  if (rows.paidRequests) {
    // Decided on the requests read under the head lock, which every cancellation takes too: each is
    // still open here, and is paid once.
    const p = rows.paidRequests;
    writes.push(
      tx`
        update payment_requests r set status = 'paid', paid_by_transfer_id = u.transfer, paid_at_ms = ${nowMs}
        from unnest(${p.id}::text[], ${p.transfer}::text[]) as u(id, transfer)
        where r.id = u.id and r.shard = ${shard} and r.status = 'open'`
        .execute()
        .then((done) => {
          if (done.count !== r.paidRequests.length) throw new Error('invariant broken: a payment request paid by this batch was not open');
        }),
    );
  }
  const failures = (await Promise.allSettled(writes)).flatMap((w) => (w.status === 'rejected' ? [w.reason as unknown] : []));
  if (failures.length) throw failures.find((e) => e instanceof RecordedBeforeError) ?? failures[0];
}

/** Credits of this shard's in-flight transfers older than `olderThanMs`, to send again (their answer may have been lost). */
export async function staleCredits(sql: Sql, ctx: ShardContext, olderThanMs: number, limit: number): Promise<Map<number, JobCredit[]>> {
  const transfers = await sql<{ id: string; payee_wallet_id: string; amount_minor: bigint; request_id: string | null }[]>`
    select id, payee_wallet_id, amount_minor, request_id from transfers
    where shard = ${ctx.shard} and status = 'in_flight' and settled_at_ms < ${olderThanMs} order by settled_at_ms limit ${limit}`;
  // Captured holds whose money is in flight travel as credits under the hold's id, like transfers.
  const captures = transfers.length < limit ? await staleCaptureCredits(sql, ctx.shard, olderThanMs, limit - transfers.length) : [];
  const rows = [...transfers, ...captures.map((c) => ({ id: c.id, payee_wallet_id: c.payeeWalletId, amount_minor: c.amountMinor, request_id: null }))];
  const out = new Map<number, JobCredit[]>();
  for (const t of rows) {
    const to = shardOf(t.payee_wallet_id, ctx.shardCount);
    const list = out.get(to) ?? [];
    // The request the transfer pays travels with every copy of its credit (the one signed, as recorded).
    list.push({ type: 'credit', id: t.id, payeeWalletId: t.payee_wallet_id, amountMinor: t.amount_minor.toString(), fromShard: ctx.shard, ...(t.request_id ? { requestId: t.request_id } : {}) });
    out.set(to, list);
  }
  return out;
}
