/**
 * Executing a mint or retire across servers (docs/architecture.md, "Issuance across servers").
 * The issuer's records (reserve, supply, the signed issuance chain, the request) are in the
 * central database; the bank's treasury wallet is in its shard group's. No transaction spans the
 * two, so each request runs as steps, each one transaction on one server (or, for a treasury
 * leg, a group transaction inside the central transaction that records its outcome: the group
 * commits first, and a crash before the central commit is redone):
 *
 * - mint: (1) central: the chain entry, reserve and supply move, the request `executed` with its
 *   leg `sent`; (2) group: the leg (once per request) credits the treasury; central: leg
 *   `delivered`.
 * - retire: (1) central: the request `retiring`; (2) group: the leg debits the treasury, or is
 *   recorded `rejected` (insufficient_treasury_balance); central: the chain entry and the reserve
 *   returned (`executed`), or the request `refused`.
 *
 * Every step is idempotent (the leg's primary key is the request id; each central step checks
 * the request's state under its row lock), so the operator's request drives the steps inline and a
 * recovery pass (at start and every few seconds) redoes whatever a crash left unfinished.
 */
import type { IssuanceWire } from '../schemas.js';
import type { Queryable, Sql } from '@cbdc/db/connect';
import { appendEvents } from '@cbdc/db/events';
import { ensureTreasuries, lockIssuanceSteps, reconcileTreasuries, treasuryPlaceOf } from '@cbdc/db/issuance-legs';
import { lockShard } from '@cbdc/db/shard-lock';
import type { Topology } from '@cbdc/db/topology';
import { issuanceEntryHash, type IssuanceEntry } from '@cbdc/shared/chains';
import type { Signer } from '@cbdc/shared/crypto';
import type { NewEvent } from '@cbdc/shared/events';
import { planMint, planRetire } from '@cbdc/shared/issuance';
import { ApiError } from '@cbdc/shared/problem';
import type { ActionHandler } from '../approvals/actions.js';

export interface IssuanceRequestRow {
  id: string;
  kind: 'mint' | 'retire';
  bank_id: string;
  amount_minor: bigint;
  requested_by: string;
  approved_by: string | null;
  status: 'pending_approval' | 'retiring' | 'executed' | 'refused';
  /** A mint's treasury leg: `sent` until its group applied it, then `delivered`; a retire is `delivered` once executed. */
  leg_status: 'sent' | 'delivered' | null;
  code: string | null;
  chain_seq: bigint | null;
  created_at: Date;
  executed_at: Date | null;
}

/** Test hooks: called between the steps of a request (a hook that throws stands for a crash there). */
export interface IssuanceHooks {
  /** After the central step, before the treasury leg is attempted. */
  beforeTreasuryLeg?(request: IssuanceRequestRow): void | Promise<void>;
  /** After the group committed the treasury leg, before the central database records its outcome. */
  afterTreasuryLeg?(request: IssuanceRequestRow): void | Promise<void>;
}

/** What executing issuance needs: both sides' databases, the shard count, the issuer key, a clock. */
export interface IssuancePlaces {
  topology: Pick<Topology, 'central' | 'groupOf'>;
  shardCount: number;
  signer: Signer;
  now: () => number;
  /** The clock of the treasury legs' times (`applied_at_ms`, the banks' statements); `now` if absent (tests set the ledger's clock apart). */
  ledgerNow?: () => number;
  issuanceHooks?: IssuanceHooks;
}

/** The time a treasury leg records: the issuer's ledger clock, as the settlement batches record theirs. */
const legTimeMs = (places: IssuancePlaces) => (places.ledgerNow ?? places.now)();

export function issuanceView(r: IssuanceRequestRow): IssuanceWire {
  return {
    id: r.id,
    kind: r.kind,
    bankId: r.bank_id,
    amountMinor: r.amount_minor.toString(),
    requestedBy: r.requested_by,
    approvedBy: r.approved_by,
    status: r.status,
    legStatus: r.leg_status,
    code: r.code,
    chainSeq: r.chain_seq === null ? null : r.chain_seq.toString(),
    createdAt: r.created_at.toISOString(),
    executedAt: r.executed_at ? r.executed_at.toISOString() : null,
  };
}

/** Registers the issuer's public key, or refuses if the chain is bound to another key. */
export async function registerIssuerKey(sql: Sql, signer: Signer): Promise<void> {
  await sql`update issuance_head set public_key = ${signer.publicKey} where public_key is null`;
  const [head] = await sql<{ public_key: Buffer }[]>`select public_key from issuance_head`;
  if (!head.public_key.equals(signer.publicKey)) throw new Error(`the issuance chain is bound to public key ${head.public_key.toString('hex')}, not this issuer's ${signer.publicKey.toString('hex')}`);
}

/**
 * Refuses a request that the bank's free reserve or treasury balance cannot cover right now. The
 * treasury is read from its group (outside `tx`: an early refusal; the group's debit decides).
 */
export async function checkCoverable(tx: Sql, places: IssuancePlaces, request: Pick<IssuanceRequestRow, 'kind' | 'bank_id' | 'amount_minor'>): Promise<void> {
  const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${request.bank_id}`;
  if (request.kind === 'mint' && reserve.free_minor < request.amount_minor) throw new ApiError('insufficient_reserve', `bank ${request.bank_id} has ${reserve.free_minor} fen of free reserve, ${request.amount_minor} needed`);
  if (request.kind === 'retire') {
    const place = treasuryPlaceOf(request.bank_id, places.shardCount);
    const [treasury] = await places.topology.groupOf(place.shard).sql<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${place.walletId}`;
    const held = treasury?.balance_minor ?? 0n;
    if (held < request.amount_minor) throw new ApiError('insufficient_treasury_balance', `treasury of ${request.bank_id} holds ${held} fen, ${request.amount_minor} needed`);
  }
}

interface Head {
  seq: bigint;
  hash: Buffer;
  supply_minor: bigint;
}

/** Appends the signed chain entry of `request` after `head` and moves the head; returns the entry's seq and hash. */
async function appendEntry(tx: Queryable, signer: Signer, head: Head, request: IssuanceRequestRow, supplyAfterMinor: bigint, nowMs: number): Promise<{ seq: bigint; hash: Buffer }> {
  const entry: IssuanceEntry = { seq: head.seq + 1n, prevHash: head.hash, kind: request.kind, bankId: request.bank_id, amountMinor: request.amount_minor, supplyAfterMinor, timeMs: BigInt(nowMs) };
  const hash = issuanceEntryHash(entry);
  const signature = signer.sign(hash);
  await tx`
    insert into issuance_chain (seq, prev_hash, kind, bank_id, amount_minor, supply_after_minor, time_ms, hash, signature, request_id)
    values (${entry.seq.toString()}, ${entry.prevHash}, ${entry.kind}, ${entry.bankId}, ${entry.amountMinor.toString()}, ${supplyAfterMinor.toString()}, ${nowMs}, ${hash}, ${signature}, ${request.id})`;
  await tx`update issuance_head set seq = ${entry.seq.toString()}, hash = ${hash}, supply_minor = ${supplyAfterMinor.toString()}`;
  return { seq: entry.seq, hash };
}

/**
 * The central step of a request, inside `tx` (the caller inserted or approved it in the same
 * transaction, so a refusal rolls the whole request back). A mint is executed here (entry,
 * reserve, supply; leg `sent`); a retire is recorded `retiring`: its chain entry follows the debit.
 */
export async function recordIssuance(tx: Sql, signer: Signer, request: IssuanceRequestRow, nowMs: number): Promise<IssuanceRequestRow> {
  const [head] = await tx<Head[]>`select seq, hash, supply_minor from issuance_head for update`;
  await lockIssuanceSteps(tx);
  if (request.kind === 'retire') {
    const [row] = await tx<IssuanceRequestRow[]>`update issuance_requests set status = 'retiring' where id = ${request.id} returning *`;
    return row;
  }
  const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${request.bank_id} for update`;
  if (!reserve) throw new ApiError('bank_not_found', `no bank ${request.bank_id}`, { errors: [{ field: 'body/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
  const next = planMint({ bankFreeReserveMinor: reserve.free_minor, treasuryBalanceMinor: 0n, supplyMinor: head.supply_minor }, request.amount_minor);
  if (next === 'insufficient_reserve' || next === 'insufficient_treasury_balance') throw new ApiError('insufficient_reserve', `bank ${request.bank_id} has ${reserve.free_minor} fen of free reserve, ${request.amount_minor} needed`);
  const entry = await appendEntry(tx, signer, head, request, next.supplyMinor, nowMs);
  await tx`update bank_reserves set free_minor = ${next.bankFreeReserveMinor.toString()}, minted_minor = minted_minor + ${request.amount_minor.toString()} where bank_id = ${request.bank_id}`;
  const [done] = await tx<IssuanceRequestRow[]>`
    update issuance_requests set status = 'executed', leg_status = 'sent', chain_seq = ${entry.seq.toString()}, executed_at = now() where id = ${request.id} returning *`;
  return done;
}

/**
 * Runs `work` as the group's transaction of a treasury leg: on the treasury's group database, or
 * inside the central transaction itself when the group is the central database (one database:
 * the leg and its outcome then commit together).
 */
async function inGroup<T>(places: IssuancePlaces, centralTx: Queryable, shard: number, work: (g: Queryable) => Promise<T>): Promise<T> {
  const group = places.topology.groupOf(shard).sql;
  if (group === places.topology.central) return work(centralTx);
  return group.begin((g) => work(g as unknown as Queryable)) as Promise<T>;
}

/** Locks the issuance head (the first lock of every issuance step), takes the step lock, and the request row; null if it is gone. */
async function lockStep(tx: Queryable, id: string): Promise<{ head: Head; request: IssuanceRequestRow | undefined }> {
  const [head] = await tx<Head[]>`select seq, hash, supply_minor from issuance_head for update`;
  await lockIssuanceSteps(tx);
  const [request] = await tx<IssuanceRequestRow[]>`select * from issuance_requests where id = ${id} for update`;
  return { head, request };
}

/** The bank's event of a mint into, or a retire from, its treasury: written with the treasury leg, in its group. */
function treasuryEvent(type: 'treasury.minted' | 'treasury.retired', request: IssuanceRequestRow, treasuryWalletId: string): NewEvent {
  return { bankId: request.bank_id, type, subjectId: request.id, walletId: treasuryWalletId, amountMinor: request.amount_minor, code: null, data: null };
}

/** Step 2 of a mint: the treasury's group applies the leg once and credits the treasury; central marks it delivered. */
async function deliverMint(places: IssuancePlaces, request: IssuanceRequestRow): Promise<void> {
  await places.issuanceHooks?.beforeTreasuryLeg?.(request);
  const place = treasuryPlaceOf(request.bank_id, places.shardCount);
  await ensureTreasuries(places.topology, places.shardCount, [request.bank_id]);
  await places.topology.central.begin(async (tx) => {
    const { request: current } = await lockStep(tx, request.id);
    if (current?.leg_status !== 'sent') return;
    const [entry] = await tx<{ seq: bigint; hash: Buffer }[]>`select seq, hash from issuance_chain where request_id = ${request.id}`;
    if (!entry) throw new Error(`invariant broken: executed mint ${request.id} has no issuance entry`);
    await inGroup(places, tx, place.shard, async (g) => {
      await lockShard(g as never, place.shard);
      const applied = await g`
        insert into issuance_legs (request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, chain_seq, entry_hash, applied_at_ms)
        values (${request.id}, 'mint', ${request.bank_id}, ${place.walletId}, ${place.shard}, ${request.amount_minor.toString()}, 'applied', ${entry.seq.toString()}, ${entry.hash}, ${legTimeMs(places)})
        on conflict (request_id) do nothing returning 1`;
      if (applied.length === 0) return; // applied by an earlier attempt
      const credited = await g`update wallets set balance_minor = balance_minor + ${request.amount_minor.toString()}, updated_at = now() where id = ${place.walletId} returning 1`;
      if (credited.length !== 1) throw new Error(`invariant broken: treasury ${place.walletId} is missing in the group of shard ${place.shard}`);
      await appendEvents(g, place.shard, legTimeMs(places), [treasuryEvent('treasury.minted', request, place.walletId)]);
    });
    await places.issuanceHooks?.afterTreasuryLeg?.(request);
    await tx`update issuance_requests set leg_status = 'delivered' where id = ${request.id}`;
  });
}

/** Step 2 of a retire: the group debits the treasury (or refuses); central appends the entry and returns reserve (or refuses). */
async function settleRetire(places: IssuancePlaces, request: IssuanceRequestRow): Promise<void> {
  await places.issuanceHooks?.beforeTreasuryLeg?.(request);
  const place = treasuryPlaceOf(request.bank_id, places.shardCount);
  await ensureTreasuries(places.topology, places.shardCount, [request.bank_id]);
  await places.topology.central.begin(async (tx) => {
    const { head, request: current } = await lockStep(tx, request.id);
    if (current?.status !== 'retiring') return;
    const leg = await inGroup(places, tx, place.shard, async (g) => {
      await lockShard(g as never, place.shard);
      const [treasury] = await g<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${place.walletId} for update`;
      const [recorded] = await g<{ status: 'applied' | 'rejected'; code: string | null }[]>`select status, code from issuance_legs where request_id = ${request.id}`;
      if (recorded) return recorded;
      const covered = treasury !== undefined && treasury.balance_minor >= request.amount_minor;
      if (covered) {
        await g`update wallets set balance_minor = balance_minor - ${request.amount_minor.toString()}, updated_at = now() where id = ${place.walletId}`;
        await appendEvents(g, place.shard, legTimeMs(places), [treasuryEvent('treasury.retired', request, place.walletId)]);
      }
      const outcome = covered ? { status: 'applied' as const, code: null } : { status: 'rejected' as const, code: 'insufficient_treasury_balance' };
      await g`
        insert into issuance_legs (request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, code, applied_at_ms)
        values (${request.id}, 'retire', ${request.bank_id}, ${place.walletId}, ${place.shard}, ${request.amount_minor.toString()}, ${outcome.status}, ${outcome.code}, ${legTimeMs(places)})`;
      return outcome;
    });
    await places.issuanceHooks?.afterTreasuryLeg?.(request);
    if (leg.status === 'rejected') {
      await tx`update issuance_requests set status = 'refused', code = ${leg.code}, executed_at = now() where id = ${request.id}`;
      return;
    }
    const [reserve] = await tx<{ free_minor: bigint }[]>`select free_minor from bank_reserves where bank_id = ${request.bank_id} for update`;
    // The group's debit proved the treasury held the amount.
    const next = planRetire({ bankFreeReserveMinor: reserve.free_minor, treasuryBalanceMinor: request.amount_minor, supplyMinor: head.supply_minor }, request.amount_minor);
    if (typeof next === 'string') throw new Error(`invariant broken: a debited retire of ${request.amount_minor} planned as ${next}`);
    const entry = await appendEntry(tx, places.signer, head, current, next.supplyMinor, places.now());
    await tx`update bank_reserves set free_minor = ${next.bankFreeReserveMinor.toString()}, retired_minor = retired_minor + ${request.amount_minor.toString()} where bank_id = ${request.bank_id}`;
    await tx`update issuance_requests set status = 'executed', leg_status = 'delivered', chain_seq = ${entry.seq.toString()}, executed_at = now() where id = ${request.id}`;
  });
}

/** Drives a request through whatever steps it has left; returns it as it then stands. */
export async function driveIssuance(places: IssuancePlaces, id: string): Promise<IssuanceRequestRow> {
  const [request] = await places.topology.central<IssuanceRequestRow[]>`select * from issuance_requests where id = ${id}`;
  if (!request) throw new Error(`no issuance request ${id}`);
  if (request.kind === 'mint' && request.leg_status === 'sent') await deliverMint(places, request);
  if (request.kind === 'retire' && request.status === 'retiring') await settleRetire(places, request);
  const [now] = await places.topology.central<IssuanceRequestRow[]>`select * from issuance_requests where id = ${id}`;
  return now;
}

/**
 * The recovery pass: drives up to `requestsMax` unfinished requests (oldest first), then creates
 * missing treasuries. Returns how many it drove; one that fails is left for the next pass, and so
 * are the others of its group this pass (a group that is down fails each of them after the
 * connection timeout, and the pass should stay short).
 */
export async function recoverIssuances(places: IssuancePlaces, requestsMax: number, onError: (id: string, error: unknown) => void = () => {}): Promise<number> {
  const rows = await places.topology.central<{ id: string; bank_id: string }[]>`
    select id, bank_id from issuance_requests where status = 'retiring' or leg_status = 'sent' order by created_at, id limit ${requestsMax}`;
  const failedGroups = new Set<number>();
  for (const r of rows) {
    const group = places.topology.groupOf(treasuryPlaceOf(r.bank_id, places.shardCount).shard).id;
    if (failedGroups.has(group)) continue;
    await driveIssuance(places, r.id).catch((error: unknown) => {
      failedGroups.add(group);
      onError(r.id, error);
    });
  }
  await reconcileTreasuries(places.topology, places.shardCount);
  return rows.length;
}

/** Mints and retires as operator actions: checked at request, recorded (and, for a mint, its chain entry appended) once authorised. */
export const issuanceAction: ActionHandler = {
  async check(tx, ctx, action) {
    const request = { kind: action.kind as IssuanceRequestRow['kind'], bank_id: action.bank_id!, amount_minor: action.amount_minor! };
    const [bank] = await tx`select id from banks where id = ${request.bank_id}`;
    if (!bank) throw new ApiError('bank_not_found', `no bank ${request.bank_id}`, { errors: [{ field: 'body/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
    // Refuse now what could not execute now; execution checks again, as balances move meanwhile.
    await checkCoverable(tx, ctx, request);
  },
  async execute(tx, ctx, action) {
    const [request] = await tx<IssuanceRequestRow[]>`
      insert into issuance_requests (id, kind, bank_id, amount_minor, requested_by, approved_by, status)
      values (${action.id}, ${action.kind}, ${action.bank_id}, ${action.amount_minor!.toString()}, ${action.requested_by}, ${action.approved_by}, 'pending_approval') returning *`;
    return issuanceView(await recordIssuance(tx, ctx.signer, request, ctx.now()));
  },
};
