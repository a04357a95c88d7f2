/**
 * Model-based test of the settlement core with its storage (fast-check `fc.commands`): random
 * sequences of mints, retires, fundings, payments, redemptions, freezes, resubmissions of the same
 * transfer, reused nonces, payments by another bank, crashes in the middle of a batch followed
 * by a restart and redelivery, and batches decided ahead while the one before commits (with a
 * freeze or a crash in between), run against a fresh Postgres database through the same functions the
 * services use (`commitBatch`, `recordIssuance` and `driveIssuance`). A small independent model predicts every
 * outcome; after every command the database must equal the model and I1-I4 must hold, and after
 * every run the audit (I5) must pass and the banks' events must account for every final transfer
 * exactly once (checkEvents).
 *
 * The model's rules are written out here on purpose rather than imported: it is a second
 * implementation of the rulebook (docs/errors.md), so that a mistake in one is caught by the other.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '@cbdc/db/audit';
import { connectPostgres, type Sql } from '@cbdc/db/connect';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { driveIssuance, recordIssuance, registerIssuerKey, type IssuanceRequestRow } from '@cbdc/issuer/execute';
import { topologyOfPool } from '@cbdc/db/topology';
import { commitBatch, decideAhead, registerShard, type DecidedAhead, type ShardContext } from '@cbdc/settlement/store';
import { WalletCache } from '@cbdc/settlement/wallet-cache';
import { recordSeededBank, recordSeededOperators, recordSeededReserveEntry, recordSeededStatus, recordSeededWallets, type SeededWallet } from '@cbdc/db/registry-seed';
import { liftBankFreeze, recordBankFreeze } from '@cbdc/db/wallet-freezes';
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519PrivateKey, ed25519PublicKeyOfSeed, ed25519Sign, signerFromSeed, type Signer } from '@cbdc/shared/crypto';
import type { RejectionCode } from '@cbdc/shared/errors';
import { fundingIdOf, treasuryWalletId } from '@cbdc/shared/ids';
import { fundingAuthorityFor } from '@cbdc/shared/funding-authority';
import type { JobItem } from '@cbdc/shared/job';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { TIER_LIMITS, TIERS, type Tier } from '@cbdc/shared/tiers';

const BANKS = ['bank-a', 'bank-b'] as const;
/** Each bank's API key seed: its fundings carry its signature. */
const bankSeeds = new Map<string, Buffer>(BANKS.map((b) => [b, randomBytes(32)]));
const CUSTOMERS_PER_BANK = 3;
const DEPOSIT_MINOR = 3_000_000n;
const DAY_MS = 86_400_000;
const START_MS = 1_800_000_000_000;
const RUNS = Number(process.env.MODEL_RUNS ?? 25);

// ---- The model ----------------------------------------------------------------------------

interface ModelWallet {
  id: string;
  bankId: string;
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  status: 'active' | 'frozen';
  balance: bigint;
  spent: bigint;
  spentDay: number;
  seed: Buffer | null;
}

interface Model {
  nowMs: number;
  wallets: Map<string, ModelWallet>;
  customers: string[];
  freeReserve: Map<string, bigint>;
  supply: bigint;
  /** Every origin item the ledger has recorded (settled or rejected), in order. */
  recorded: Array<{ item: JobItem; status: 'settled' | 'rejected'; code: RejectionCode | null }>;
  /** `${payer}:${nonce}` of recorded transfers, except those rejected as nonce_reused. */
  usedNonces: Set<string>;
  nextNonce: bigint;
  fundingKeys: number;
}

type Prediction = { status: 'settled'; code: null } | { status: 'rejected'; code: RejectionCode };

/** The rulebook, in its order (docs/errors.md), for one origin item against the model. */
function predict(m: Model, item: JobItem): Prediction {
  const reject = (code: RejectionCode): Prediction => ({ status: 'rejected', code });
  if (item.nonce !== null && m.usedNonces.has(`${item.payerWalletId}:${item.nonce}`)) return reject('nonce_reused');
  if (item.expiresAtMs !== null && BigInt(item.expiresAtMs) <= BigInt(m.nowMs)) return reject('expired');
  const payer = m.wallets.get(item.payerWalletId);
  const payee = m.wallets.get(item.payeeWalletId)!;
  if (!payer || payer.bankId !== item.bankId) return reject('payer_not_found');
  if (payer.status === 'frozen') return reject('payer_frozen');
  if (payee.status === 'frozen') return reject('payee_frozen');
  const amount = BigInt(item.amountMinor);
  const isPayment = item.kind === 'transfer' && payee.kind === 'customer';
  if (isPayment && payer.tier) {
    const limits = TIER_LIMITS[payer.tier];
    if (limits.paymentMaxMinor !== null && amount > limits.paymentMaxMinor) return reject('exceeds_payment_limit');
    const spentToday = payer.spentDay === dayOf(m.nowMs) ? payer.spent : 0n;
    if (limits.dailyOutflowMaxMinor !== null && spentToday + amount > limits.dailyOutflowMaxMinor) return reject('exceeds_daily_limit');
  }
  if (payer.balance < amount) return reject('insufficient_funds');
  const cap = payee.tier ? TIER_LIMITS[payee.tier].balanceMaxMinor : null;
  if (cap !== null && payee.balance + amount > cap) return reject('exceeds_balance_limit');
  return { status: 'settled', code: null };
}

const dayOf = (ms: number) => Math.floor(ms / DAY_MS);

/** Records an item with its outcome in the model, moving money if it settled. */
function apply(m: Model, item: JobItem, p: Prediction): void {
  count(p);
  m.recorded.push({ item, ...p });
  if (item.nonce !== null && p.code !== 'nonce_reused') m.usedNonces.add(`${item.payerWalletId}:${item.nonce}`);
  if (p.status !== 'settled') return;
  const amount = BigInt(item.amountMinor);
  const payer = m.wallets.get(item.payerWalletId)!;
  const payee = m.wallets.get(item.payeeWalletId)!;
  const today = dayOf(m.nowMs);
  const spentBefore = payer.spentDay === today ? payer.spent : 0n;
  payer.balance -= amount;
  payer.spentDay = today;
  payer.spent = spentBefore + (item.kind === 'transfer' && payee.kind === 'customer' ? amount : 0n);
  payee.balance += amount;
}

// ---- The system under test ----------------------------------------------------------------

interface Real {
  db: TestDatabase;
  ctx: ShardContext;
  issuer: Signer;
}

/** A customer-signed transfer, as the gateway would queue it. */
function transferItem(m: Model, bankId: string, payerId: string, payeeId: string, amount: bigint, nonce: bigint): JobItem {
  const payer = m.wallets.get(payerId)!;
  const intent = { payerWalletId: payerId, payeeWalletId: payeeId, amountMinor: amount, nonce, expiresAtMs: BigInt(m.nowMs + 600_000), memo: '' };
  const bytes = encodeTransfer(intent);
  return {
    id: transferIdOf(bytes),
    kind: 'transfer',
    bankId,
    payerWalletId: payerId,
    payeeWalletId: payeeId,
    amountMinor: amount.toString(),
    nonce: nonce.toString(),
    expiresAtMs: intent.expiresAtMs.toString(),
    memo: '',
    signature: ed25519Sign(ed25519PrivateKey(payer.seed!), bytes).toString('hex'),
    submittedAtMs: m.nowMs,
    payeeShard: 0,
  };
}

async function settle(sql: Sql, r: Real, m: Model, items: JobItem[]) {
  return (await commitBatch(sql, r.ctx, items, m.nowMs)).outcomes;
}

/** The database against the model, and I1-I4; throws on the first difference. */
async function checkAgainstModel(m: Model, r: Real): Promise<void> {
  seen.commands++;
  const sql = r.db.sql;
  const rows = await sql<{ id: string; balance_minor: bigint; status: string; daily_spent_minor: bigint; daily_spent_day: number; in_flight_out_minor: bigint }[]>`
    select id, balance_minor, status, daily_spent_minor, daily_spent_day, in_flight_out_minor from wallets`;
  expect(rows.length).toBe(m.wallets.size);
  for (const w of rows) {
    const mw = m.wallets.get(w.id)!;
    // Every wallet holds what the model says: nothing debited or credited that no command did (I4).
    expect({ id: w.id, balance: w.balance_minor, status: w.status }).toEqual({ id: w.id, balance: mw.balance, status: mw.status });
    expect(w.in_flight_out_minor).toBe(0n);
    // I3: no negative balance, no tier cap exceeded.
    expect(w.balance_minor >= 0n).toBe(true);
    if (mw.tier) {
      const limits = TIER_LIMITS[mw.tier];
      if (limits.balanceMaxMinor !== null) expect(w.balance_minor <= limits.balanceMaxMinor).toBe(true);
      if (limits.dailyOutflowMaxMinor !== null) expect(w.daily_spent_minor <= limits.dailyOutflowMaxMinor).toBe(true);
    }
  }
  // I1: balances (+ nothing in flight on one shard) = supply = mints - retirements; reserves back it.
  const [money] = await sql<{ balances: bigint; supply: bigint; backing: bigint; free: bigint; deposits: bigint }[]>`
    select (select coalesce(sum(balance_minor), 0) from wallets)::bigint as balances,
           (select supply_minor from issuance_head) as supply,
           (select coalesce(sum(minted_minor - retired_minor), 0) from bank_reserves)::bigint as backing,
           (select coalesce(sum(free_minor), 0) from bank_reserves)::bigint as free,
           (select coalesce(sum(amount_minor), 0) from reserve_entries where kind = 'deposit')::bigint as deposits`;
  expect(money).toEqual({ balances: m.supply, supply: m.supply, backing: m.supply, free: money.deposits - m.supply, deposits: money.deposits });
  // I2: each recorded item stored exactly once with the outcome the model expects; nothing else stored.
  const stored = await sql<{ id: string; status: string; code: string | null; bank_id: string; payer_bank: string }[]>`
    select t.id, t.status, t.code, t.bank_id, w.bank_id as payer_bank from transfers t join wallets w on w.id = t.payer_wallet_id`;
  expect(stored.length).toBe(m.recorded.length);
  const byId = new Map(stored.map((s) => [s.id, s]));
  for (const rec of m.recorded) expect({ id: rec.item.id, status: byId.get(rec.item.id)?.status, code: byId.get(rec.item.id)?.code }).toEqual({ id: rec.item.id, status: rec.status, code: rec.code });
  // I4: no settled debit on another bank's request.
  expect(stored.filter((s) => s.status === 'settled' && s.bank_id !== s.payer_bank)).toEqual([]);
}

/**
 * The banks' events after a run (docs/events.md): every final transfer has exactly one outcome
 * event for the bank that submitted it (settled or rejected as recorded), every settled transfer
 * exactly one payment.received for the payee's bank, nothing else about transfers; and each bank's
 * seqs on the shard are 1..n, whatever crashes and redeliveries the run went through.
 */
async function checkEvents(m: Model, r: Real): Promise<void> {
  const events = await r.db.sql<{ bank_id: string; seq: bigint; type: string; subject_id: string; wallet_id: string | null; amount_minor: bigint | null; code: string | null }[]>`
    select bank_id, seq, type, subject_id, wallet_id, amount_minor, code from events where shard = 0 order by bank_id, seq`;
  for (const bank of new Set(events.map((e) => e.bank_id))) {
    const seqs = events.filter((e) => e.bank_id === bank).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => BigInt(i + 1)));
  }
  const outcomes = events.filter((e) => e.type === 'transfer.settled' || e.type === 'transfer.rejected');
  const received = events.filter((e) => e.type === 'payment.received');
  const expectedOutcomes = m.recorded.map((x) => ({ bank: x.item.bankId, type: `transfer.${x.status}`, id: x.item.id, amount: BigInt(x.item.amountMinor), code: x.code }));
  const key = (o: { bank: string; id: string }) => `${o.bank}/${o.id}`;
  expect(outcomes.map((e) => ({ bank: e.bank_id, type: e.type, id: e.subject_id, amount: e.amount_minor, code: e.code })).sort((a, b) => key(a).localeCompare(key(b)))).toEqual(expectedOutcomes.sort((a, b) => key(a).localeCompare(key(b))));
  const settled = m.recorded.filter((x) => x.status === 'settled');
  const payee = (id: string) => m.wallets.get(id)!;
  expect(received.map((e) => `${e.bank_id}/${e.subject_id}/${e.wallet_id}/${e.amount_minor}`).sort()).toEqual(
    settled.map((x) => `${payee(x.item.payeeWalletId).bankId}/${x.item.id}/${x.item.payeeWalletId}/${BigInt(x.item.amountMinor)}`).sort(),
  );
}

// ---- Commands -------------------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, Real>;

/** What the runs exercised, so that the test cannot pass by generating nothing of interest. */
const seen = { commands: 0, settled: 0, rejected: new Set<string>(), duplicates: 0, crashes: 0, crashedBeforeCommit: 0, crashedAfterCommit: 0, foreign: 0, aheadWritten: 0, aheadRedecided: 0 };
const count = (p: Prediction) => (p.status === 'settled' ? seen.settled++ : seen.rejected.add(p.code));

class IssueCmd implements Cmd {
  constructor(
    readonly kind: 'mint' | 'retire',
    readonly bank: number,
    readonly amount: bigint,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const bankId = BANKS[this.bank];
    const treasury = m.wallets.get(treasuryWalletId(bankId))!;
    const ok = this.kind === 'mint' ? m.freeReserve.get(bankId)! >= this.amount : treasury.balance >= this.amount;
    // The issuer's steps: the central one (a mint executes, a retire is recorded), then the treasury leg.
    const places = { topology: topologyOfPool(r.db.sql, 1), shardCount: 1, signer: r.issuer, now: () => m.nowMs };
    const outcome = await r.db.sql
      .begin(async (tx) => {
        const [request] = await tx<IssuanceRequestRow[]>`
          insert into issuance_requests (id, kind, bank_id, amount_minor, requested_by, status)
          values (${randomUUID()}, ${this.kind}, ${bankId}, ${this.amount.toString()}, 'op-1', 'pending_approval') returning *`;
        return recordIssuance(tx as never, r.issuer, request, m.nowMs);
      })
      .then(
        async (request) => {
          const done = await driveIssuance(places, request.id);
          return done.status === 'executed' ? 'executed' : done.code;
        },
        (error: { code?: string }) => error.code,
      );
    expect(outcome).toBe(ok ? 'executed' : this.kind === 'mint' ? 'insufficient_reserve' : 'insufficient_treasury_balance');
    if (ok) {
      const sign = this.kind === 'mint' ? 1n : -1n;
      m.freeReserve.set(bankId, m.freeReserve.get(bankId)! - sign * this.amount);
      treasury.balance += sign * this.amount;
      m.supply += sign * this.amount;
    }
    await checkAgainstModel(m, r);
  }
  toString = () => `${this.kind}(${BANKS[this.bank]}, ${this.amount})`;
}

class FundCmd implements Cmd {
  constructor(
    readonly customer: number,
    readonly amount: bigint,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const wallet = m.wallets.get(m.customers[this.customer])!;
    const key = `fund-${m.fundingKeys++}`;
    // The bank's own authority, as its signed POST /v1/fundings would carry it.
    const authority = fundingAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey: key, walletId: wallet.id, amountMinor: this.amount.toString(), timestampMs: m.nowMs }, (message) =>
      ed25519Sign(ed25519PrivateKey(bankSeeds.get(wallet.bankId)!), message),
    );
    const item: JobItem = {
      id: fundingIdOf(wallet.bankId, key),
      kind: 'funding',
      bankId: wallet.bankId,
      payerWalletId: treasuryWalletId(wallet.bankId),
      payeeWalletId: wallet.id,
      amountMinor: this.amount.toString(),
      nonce: null,
      expiresAtMs: null,
      memo: '',
      signature: null,
      submittedAtMs: m.nowMs,
      payeeShard: 0,
      authority,
    };
    const p = predict(m, item);
    expect(await settle(r.db.sql, r, m, [item])).toMatchObject([p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code }]);
    apply(m, item, p);
    await checkAgainstModel(m, r);
  }
  toString = () => `fund(customer ${this.customer}, ${this.amount})`;
}

/** A payment, a redemption (payee = own treasury), or, with `foreignBank`, the same signed by the payer but submitted by the other bank. */
class PayCmd implements Cmd {
  constructor(
    readonly from: number,
    readonly to: number | 'treasury',
    readonly amount: bigint,
    readonly foreignBank: boolean,
  ) {}
  check = (m: Readonly<Model>) => this.to !== this.from;
  async run(m: Model, r: Real) {
    const payer = m.wallets.get(m.customers[this.from])!;
    const payeeId = this.to === 'treasury' ? treasuryWalletId(payer.bankId) : m.customers[this.to];
    const bankId = this.foreignBank ? BANKS.find((b) => b !== payer.bankId)! : payer.bankId;
    const item = transferItem(m, bankId, payer.id, payeeId, this.amount, m.nextNonce++);
    const p = predict(m, item);
    if (this.foreignBank) {
      expect(p).toEqual({ status: 'rejected', code: 'payer_not_found' });
      seen.foreign++;
    }
    expect(await settle(r.db.sql, r, m, [item])).toMatchObject([p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code }]);
    apply(m, item, p);
    await checkAgainstModel(m, r);
  }
  toString = () => `pay(${this.from} -> ${this.to}, ${this.amount}${this.foreignBank ? ', by the other bank' : ''})`;
}

/** The same recorded item delivered again (a bank's retry, a queue redelivery): a duplicate, nothing moves. */
class RetryCmd implements Cmd {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.recorded.length > 0;
  async run(m: Model, r: Real) {
    const { item } = m.recorded[this.pick % m.recorded.length];
    expect(await settle(r.db.sql, r, m, [item])).toMatchObject([{ status: 'duplicate' }]);
    seen.duplicates++;
    await checkAgainstModel(m, r);
  }
  toString = () => `retry(#${this.pick})`;
}

/** A new transfer (other amount) reusing a nonce the payer already spent. */
class ReuseNonceCmd implements Cmd {
  constructor(
    readonly pick: number,
    readonly amount: bigint,
  ) {}
  check = (m: Readonly<Model>) => m.recorded.some((x) => x.item.kind === 'transfer' && x.code !== 'nonce_reused' && x.code !== 'payer_not_found');
  async run(m: Model, r: Real) {
    const spent = m.recorded.filter((x) => x.item.kind === 'transfer' && x.code !== 'nonce_reused' && x.code !== 'payer_not_found');
    const { item: before } = spent[this.pick % spent.length];
    const item = transferItem(m, before.bankId, before.payerWalletId, before.payeeWalletId, BigInt(before.amountMinor) + this.amount, BigInt(before.nonce!));
    if (m.recorded.some((x) => x.item.id === item.id)) {
      // The same reuse made before (same pick, amount and clock): the same signed transfer, a duplicate.
      expect(await settle(r.db.sql, r, m, [item])).toMatchObject([{ status: 'duplicate' }]);
      seen.duplicates++;
      return checkAgainstModel(m, r);
    }
    expect(predict(m, item)).toEqual({ status: 'rejected', code: 'nonce_reused' });
    expect(await settle(r.db.sql, r, m, [item])).toMatchObject([{ status: 'rejected', code: 'nonce_reused' }]);
    apply(m, item, { status: 'rejected', code: 'nonce_reused' });
    await checkAgainstModel(m, r);
  }
  toString = () => `reuseNonce(#${this.pick}, +${this.amount})`;
}

/** The bank freezes (or lifts its freeze of) a wallet as the gateway does: recorded, under the shard lock. */
/** The bank's own freeze of a wallet set or lifted, with its registry event, in one transaction. */
async function recordToggledFreeze(r: Real, w: { id: string; bankId: string; status: 'active' | 'frozen' }, nowMs: number): Promise<void> {
  const change = w.status === 'frozen' ? recordBankFreeze : liftBankFreeze;
  const row = await r.db.sql.begin(async (tx) => {
    const changed = await change(tx as never, w.id, { actor: w.bankId, reason: 'model test', reference: null, nowMs });
    if (typeof changed === 'object') await recordSeededStatus(tx as never, r.issuer, w.bankId, w.id, 0, w.status, nowMs);
    return changed;
  });
  expect(typeof row).toBe('object');
}

class FreezeCmd implements Cmd {
  constructor(readonly customer: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const w = m.wallets.get(m.customers[this.customer])!;
    w.status = w.status === 'active' ? 'frozen' : 'active';
    await recordToggledFreeze(r, w, m.nowMs);
    await checkAgainstModel(m, r);
  }
  toString = () => `toggleFreeze(${this.customer})`;
}

class TickCmd implements Cmd {
  constructor(readonly hours: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.nowMs += this.hours * 3_600_000;
    await checkAgainstModel(m, r);
  }
  toString = () => `tick(${this.hours} h)`;
}

/**
 * The worker dies during a batch of several payments: its connection is destroyed after `afterMs`,
 * before, during or after the commit (or, with a negative `afterMs`, right after it). A restarted worker gets the same job again (BullMQ
 * redelivers it); each item ends up applied once, answered with its outcome or as a duplicate.
 */
class CrashCmd implements Cmd {
  constructor(
    readonly pays: Array<{ from: number; to: number; amount: bigint }>,
    readonly afterMs: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const items: JobItem[] = [];
    const predictions: Prediction[] = [];
    const shadow = structuredClone(m);
    for (const p of this.pays) {
      if (p.from === p.to) continue;
      const payer = shadow.wallets.get(shadow.customers[p.from])!;
      const item = transferItem(shadow, payer.bankId, payer.id, shadow.customers[p.to], p.amount, m.nextNonce++);
      const prediction = predict(shadow, item);
      apply(shadow, item, prediction);
      items.push(item);
      predictions.push(prediction);
    }
    if (items.length === 0) return;
    const doomed = connectPostgres(r.db.url, { max: 1, applicationName: 'cbdc-model-crash' });
    await doomed`select 1`; // connected: the crash lands in the batch, not in the driver's start-up
    const attempt = commitBatch(doomed, r.ctx, items, m.nowMs).then(
      () => 'committed',
      () => 'failed',
    );
    // afterMs < 0: the worker dies just after its commit, before it could acknowledge the job (on a
    // loaded machine a commit can take longer than every timed crash, which then all land before it).
    if (this.afterMs < 0) await attempt;
    else await new Promise((resolve) => setTimeout(resolve, this.afterMs));
    await doomed.end({ timeout: 0 });
    await attempt;

    const outcomes = await settle(r.db.sql, r, m, items);
    seen.crashes++;
    if (outcomes.every((o) => o.status === 'duplicate')) seen.crashedAfterCommit++;
    else seen.crashedBeforeCommit++;
    outcomes.forEach((o, i) => {
      const p = predictions[i];
      if (o.status !== 'duplicate') expect(o).toMatchObject(p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code });
    });
    items.forEach((item, i) => apply(m, item, predictions[i]));
    await checkAgainstModel(m, r);
  }
  toString = () => `crash(${this.pays.map((p) => `${p.from}->${p.to}:${p.amount}`).join(', ')} after ${this.afterMs} ms)`;
}

/**
 * Two batches as the worker runs them under load: the second decided while the first commits, on
 * the state the first leaves (`decideAhead`). Between the two commits something may change what
 * the second rests on: nothing; a freeze or unfreeze of a wallet through lockShard; or the first
 * batch's connection dies (it commits or not) and its job is delivered again after the second.
 * The second must come out exactly as if it had been decided after all of that.
 */
class AheadCmd implements Cmd {
  constructor(
    readonly first: Array<{ from: number; to: number; amount: bigint }>,
    readonly second: Array<{ from: number; to: number; amount: bigint }>,
    readonly between: 'nothing' | 'freeze' | 'crash',
    readonly target: number,
    readonly afterMs: number,
    /** The first batch also carries an item recorded before: its optimistic attempt fails on the unique index and it is decided again. */
    readonly replay: number | null,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const build = (pays: typeof this.first) =>
      pays
        .filter((p) => p.from !== p.to)
        .map((p) => {
          const payer = m.wallets.get(m.customers[p.from])!;
          return transferItem(m, payer.bankId, payer.id, m.customers[p.to], p.amount, m.nextNonce++);
        });
    const fresh = build(this.first);
    const secondItems = build(this.second);
    if (fresh.length === 0 || secondItems.length === 0) return;
    const replayed = this.replay !== null && m.recorded.length > 0 ? m.recorded[this.replay % m.recorded.length].item : null;
    const firstItems = replayed ? [...fresh, replayed] : fresh;
    const firstPredictions = (() => {
      const shadow = structuredClone(m);
      return fresh.map((item) => {
        const p = predict(shadow, item);
        apply(shadow, item, p);
        return p;
      });
    })();
    const firstExpected = [...firstPredictions.map((p) => (p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code })), ...(replayed ? [{ status: 'duplicate' }] : [])];

    const conn = this.between === 'crash' ? connectPostgres(r.db.url, { max: 1, applicationName: 'cbdc-model-crash' }) : r.db.sql;
    await conn`select 1`;
    let ahead: Promise<DecidedAhead | null> = Promise.resolve(null);
    const attempt = commitBatch(conn, r.ctx, firstItems, m.nowMs, { onDecided: (aftermath) => (ahead = decideAhead(r.db.sql, r.ctx, secondItems, m.nowMs, aftermath)) }).then(
      (result) => result.outcomes,
      () => null,
    );
    if (this.between === 'crash') {
      await new Promise((resolve) => setTimeout(resolve, this.afterMs));
      await conn.end({ timeout: 0 });
    }
    const firstOutcomes = await attempt;
    if (this.between === 'crash') {
      // The client gave up, but its backend may still be committing: wait until it is gone, so that
      // the first batch has either committed or rolled back before looking.
      await expect
        .poll(async () => (await r.db.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'cbdc-model-crash' and datname = current_database()`)[0].n, { timeout: 10_000, interval: 5 })
        .toBe(0);
    }
    const [{ n }] = await r.db.sql<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${fresh.map((i) => i.id)})`;
    const firstCommitted = n === fresh.length;
    expect([0, fresh.length]).toContain(n);
    if (this.between !== 'crash') expect(firstOutcomes).toMatchObject(firstExpected);
    if (firstCommitted) fresh.forEach((item, i) => apply(m, item, firstPredictions[i]));
    if (replayed) seen.duplicates++;

    if (this.between === 'freeze') {
      const w = m.wallets.get(m.customers[this.target])!;
      w.status = w.status === 'active' ? 'frozen' : 'active';
      await recordToggledFreeze(r, w, m.nowMs);
    }

    const decided = await ahead.catch(() => null);
    const second = await commitBatch(r.db.sql, r.ctx, secondItems, m.nowMs, { ahead: decided });
    const expected = secondItems.map((item) => {
      const p = predict(m, item);
      apply(m, item, p);
      return p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code };
    });
    expect(second.outcomes).toMatchObject(expected);
    if (decided) {
      if (second.decidedAhead) seen.aheadWritten++;
      else seen.aheadRedecided++;
    }
    // Written as decided ahead exactly when the first batch committed as it was first decided (not
    // decided again after hitting a recorded item) and nothing else moved the head since.
    if (decided && firstCommitted && this.between !== 'freeze' && !replayed) expect(second.decidedAhead).toBe(true);
    if (!firstCommitted || this.between === 'freeze' || replayed) expect(second.decidedAhead).toBe(false);

    if (this.between === 'crash') {
      // The first batch's job, delivered again: duplicates if it had committed, else decided now.
      const again = await settle(r.db.sql, r, m, firstItems);
      if (firstCommitted) expect(again).toMatchObject(firstItems.map(() => ({ status: 'duplicate' })));
      else {
        expect(again).toMatchObject([
          ...fresh.map((item) => {
            const p = predict(m, item);
            apply(m, item, p);
            return p.status === 'settled' ? { status: 'settled' } : { status: 'rejected', code: p.code };
          }),
          ...(replayed ? [{ status: 'duplicate' }] : []),
        ]);
      }
    }
    await checkAgainstModel(m, r);
  }
  toString = () =>
    `ahead(${this.first.map((p) => `${p.from}->${p.to}:${p.amount}`).join(', ')}${this.replay === null ? '' : `, retry(#${this.replay})`} | ${this.between === 'freeze' ? `toggleFreeze(${this.target})` : this.between === 'crash' ? `crash after ${this.afterMs} ms` : 'nothing'} | ${this.second.map((p) => `${p.from}->${p.to}:${p.amount}`).join(', ')})`;
}

// ---- Arbitraries ----------------------------------------------------------------------------

const customer = fc.nat(BANKS.length * CUSTOMERS_PER_BANK - 1);
// Small amounts, amounts near the tier caps, and amounts past them.
const amount = fc.oneof(fc.bigInt({ min: 1n, max: 5_000n }), fc.bigInt({ min: 1n, max: 600_000n }), fc.bigInt({ min: 1n, max: 2_500_000n }));
const commands = [
  fc.tuple(fc.constantFrom('mint' as const, 'retire' as const), fc.nat(BANKS.length - 1), amount).map(([k, b, a]) => new IssueCmd(k, b, a)),
  fc.tuple(customer, amount).map(([c, a]) => new FundCmd(c, a)),
  fc.tuple(customer, customer, amount).map(([f, t, a]) => new PayCmd(f, t, a, false)),
  fc.tuple(customer, customer, amount).map(([f, t, a]) => new PayCmd(f, t, a, false)),
  fc.tuple(customer, amount).map(([f, a]) => new PayCmd(f, 'treasury', a, false)),
  fc.tuple(customer, customer, amount).map(([f, t, a]) => new PayCmd(f, t, a, true)),
  fc.nat().map((k) => new RetryCmd(k)),
  fc.tuple(fc.nat(), fc.bigInt({ min: 1n, max: 100n })).map(([k, a]) => new ReuseNonceCmd(k, a)),
  customer.map((c) => new FreezeCmd(c)),
  fc.integer({ min: 1, max: 30 }).map((h) => new TickCmd(h)),
  fc.tuple(fc.array(fc.record({ from: customer, to: customer, amount }), { minLength: 1, maxLength: 4 }), fc.integer({ min: -3, max: 12 })).map(([p, ms]) => new CrashCmd(p, Math.max(ms, -1))),
  fc
    .tuple(
      fc.array(fc.record({ from: customer, to: customer, amount }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.record({ from: customer, to: customer, amount }), { minLength: 1, maxLength: 4 }),
      fc.constantFrom('nothing' as const, 'freeze' as const, 'crash' as const),
      customer,
      fc.integer({ min: 0, max: 12 }),
      fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 }),
    )
    .map(([a, b, between, target, ms, replay]) => new AheadCmd(a, b, between, target, ms, replay)),
];

// ---- The property ---------------------------------------------------------------------------

describe('settlement core with its storage, against a model', () => {
  const seeds = Array.from({ length: BANKS.length * CUSTOMERS_PER_BANK }, () => randomBytes(32));
  const issuerSeed = randomBytes(32);
  const shardSeed = randomBytes(32);
  let databases: TestDatabase[] = [];

  beforeAll(() => {
    databases = [];
  });
  afterAll(async () => {
    await Promise.all(databases.map((d) => d.drop().catch(() => {})));
  });

  /** A fresh ledger: two banks with their deposits, customers of the given tiers, nothing minted. */
  async function setup(tiers: Tier[]): Promise<{ model: Model; real: Real }> {
    const db = await createTestDatabase();
    databases.push(db);
    const sql = db.sql;
    const issuer = signerFromSeed(issuerSeed);
    // The worker's wallets held in memory, as the service runs: freezes, mints and crashes must
    // leave it no staler than the database.
    const ctx: ShardContext = { shard: 0, shardCount: 1, signer: signerFromSeed(shardSeed), audience: DEFAULT_AUDIENCE, wallets: new WalletCache(1000) };
    await registerShard(sql, 0, ctx.signer);
    await registerIssuerKey(sql, issuer);
    const operatorKey = ed25519PublicKeyOfSeed(randomBytes(32));
    await sql`insert into operators (id, name, public_key) values ('op-1', 'Operator', ${operatorKey})`;
    await recordSeededOperators(sql, issuer, [{ id: 'op-1', name: 'Operator', publicKey: operatorKey }], START_MS);
    const model: Model = { nowMs: START_MS, wallets: new Map(), customers: [], freeReserve: new Map(), supply: 0n, recorded: [], usedNonces: new Set(), nextNonce: 1n, fundingKeys: 0 };
    for (const [b, bankId] of BANKS.entries()) {
      const treasury = treasuryWalletId(bankId);
      const bankKey = ed25519PublicKeyOfSeed(bankSeeds.get(bankId)!);
      await sql`insert into banks (id, name, public_key, treasury_wallet_id, created_by) values (${bankId}, ${bankId}, ${bankKey}, ${treasury}, 'op-1')`;
      await sql`insert into bank_reserves (bank_id, free_minor) values (${bankId}, ${DEPOSIT_MINOR.toString()})`;
      const [entry] = await sql<{ id: string }[]>`insert into reserve_entries (bank_id, kind, amount_minor, reference, operator_id) values (${bankId}, 'deposit', ${DEPOSIT_MINOR.toString()}, 'initial', 'op-1') returning id`;
      await sql`insert into wallets (id, bank_id, shard, kind) values (${treasury}, ${bankId}, 0, 'treasury')`;
      // Seeded rows are recorded in the registry chains, as the services record theirs, for the audit.
      await recordSeededBank(sql, issuer, { id: bankId, name: bankId, publicKey: bankKey, treasuryWalletId: treasury, treasuryShard: 0, operatorId: 'op-1' }, START_MS);
      await recordSeededReserveEntry(sql, issuer, { id: entry.id, bankId, kind: 'deposit', amountMinor: DEPOSIT_MINOR, reference: 'initial', operatorId: 'op-1' }, START_MS);
      const opened: SeededWallet[] = [];
      model.freeReserve.set(bankId, DEPOSIT_MINOR);
      model.wallets.set(treasury, { id: treasury, bankId, kind: 'treasury', tier: null, status: 'active', balance: 0n, spent: 0n, spentDay: 0, seed: null });
      for (let c = 0; c < CUSTOMERS_PER_BANK; c++) {
        const i = b * CUSTOMERS_PER_BANK + c;
        const id = `w_${i.toString(16).padStart(24, '0')}`;
        await sql`insert into wallets (id, bank_id, shard, kind, tier, public_key) values (${id}, ${bankId}, 0, 'customer', ${tiers[i]}, ${ed25519PublicKeyOfSeed(seeds[i])})`;
        opened.push({ id, tier: tiers[i], publicKey: ed25519PublicKeyOfSeed(seeds[i]), customerRef: null, shard: 0 });
        model.wallets.set(id, { id, bankId, kind: 'customer', tier: tiers[i], status: 'active', balance: 0n, spent: 0n, spentDay: 0, seed: seeds[i] });
        model.customers.push(id);
      }
      await recordSeededWallets(sql, issuer, bankId, opened, START_MS);
    }
    // Money in the system from the start: a mint for each bank and a funding of each customer.
    const real = { db, ctx, issuer };
    for (let b = 0; b < BANKS.length; b++) await new IssueCmd('mint', b, DEPOSIT_MINOR / 2n).run(model, real);
    for (let c = 0; c < model.customers.length; c++) await new FundCmd(c, 50_000n).run(model, real);
    return { model, real };
  }

  it('keeps the database equal to the model and I1-I5 after every command', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...TIERS), { minLength: seeds.length, maxLength: seeds.length }), fc.commands(commands, { maxCommands: 40, size: 'large' }), async (tiers, cmds) => {
        const { model, real } = await setup(tiers);
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          if (process.env.MODEL_DEBUG) console.info(String(cmds));
          // I5: every chain entry, Merkle root and signature verifies from the stored rows alone.
          const report = await audit(real.db.sql, { trustedIssuerPublicKey: real.issuer.publicKey, trustedShardPublicKeys: new Map([[0, real.ctx.signer.publicKey]]) });
          expect(report.findings).toEqual([]);
          await checkEvents(model, real);
        } finally {
          databases = databases.filter((d) => d !== real.db);
          await real.db.drop();
        }
      }),
      { numRuns: RUNS },
    );
    console.info(`model runs: ${JSON.stringify({ ...seen, rejected: [...seen.rejected].sort() })}`);
    expect(seen.settled).toBeGreaterThan(0);
    expect(seen.duplicates).toBeGreaterThan(0);
    expect(seen.foreign).toBeGreaterThan(0);
    expect(seen.crashedBeforeCommit).toBeGreaterThan(0);
    expect(seen.crashedAfterCommit).toBeGreaterThan(0);
    expect(seen.aheadWritten).toBeGreaterThan(0);
    expect(seen.aheadRedecided).toBeGreaterThan(0);
    expect(seen.rejected).toContain('insufficient_funds');
    expect(seen.rejected).toContain('nonce_reused');
    // Each run creates and migrates a database of its own (about 2 s of the run on a loaded
    // two-core machine, where 25 runs took longer than the default 60 s).
  }, 300_000);
});
