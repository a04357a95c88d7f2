/**
 * Reconciliation over shard groups (4 shards, 2 group databases): three days of activity recorded
 * on a ledger clock set days back (the request clocks stay real, so every request is signed as
 * usual), then the bank-wide entries listing and the treasury's statements, checked against the
 * balances the banks observed at the end of each day. Real Postgres and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signedHeaders, signTransfer, type BankClient } from '@cbdc/client';
import { shardOf, treasuryWalletId, walletIdOf } from '@cbdc/shared/ids';
import { checkCamt053, findElements } from '../services/wallet-gateway/src/reconciliation/camt053-schema.js';
import { startTestSystem, type TestSystem } from './support/system.js';

const SHARDS = 4;
const YUAN = 100n;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const groupOf = (walletId: string) => shardOf(walletId, SHARDS) % 2;

/** The ledger's clock: set to a moment of the past, it runs on from there in real time. */
const clock = { baseMs: 0, realMs: 0 };
const ledgerNow = () => clock.baseMs + (Date.now() - clock.realMs);
const setLedgerClock = (ms: number) => Object.assign(clock, { baseMs: ms, realMs: Date.now() });

/** Three UTC days that ended at least a day ago: activity on each. */
const D = Math.floor((Date.now() - 3 * DAY_MS) / DAY_MS) * DAY_MS;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const [DAY_BEFORE, DAY, DAY_AFTER] = [D - DAY_MS, D, D + DAY_MS].map(dayOf);

const problemOf = (e: unknown) => (e instanceof CbdcApiError ? e.problem : { code: String(e), status: 0 });

interface Entry {
  id: string;
  type: string;
  direction: 'debit' | 'credit';
  walletId: string;
  amountMinor: string;
  applied: boolean;
  status: string;
  code: string | null;
  kind: string;
  transferId: string | null;
  settledAtMs: string;
  shard: number;
  batchSeq: string | null;
  leafIndex: number | null;
  payerWalletId: string | null;
  payeeWalletId: string | null;
  balanceAfterMinor?: string;
}
interface Statement {
  openingBalanceMinor: string;
  closingBalanceMinor: string;
  totalCreditsMinor: string;
  totalDebitsMinor: string;
  creditCount: number;
  debitCount: number;
  check: { openingPlusCreditsMinusDebitsMinor: string; balanced: boolean };
  entries: Entry[];
  nextCursor: string | null;
  walletId: string;
}

/** An Idempotency-Key whose keyed wallet lands where `fits` says. */
function keyWhere(bankId: string, tag: string, fits: (walletId: string) => boolean): string {
  for (let i = 0; ; i++) {
    const key = `${tag}-${i}-open-key`;
    if (fits(walletIdOf(bankId, key))) return key;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('reconciliation over shard groups (4 shards, 2 group databases)', () => {
  let sys: TestSystem;
  let bankA: BankClient & { privateKeyHex: string };
  let bankB: BankClient;
  const keys = { a0: newCustomerKey(), a1: newCustomerKey(), small: newCustomerKey(), b1: newCustomerKey() };
  const w = { a0: '', a1: '', small: '', b1: '' };
  const treasuryA = treasuryWalletId('bank-a');
  /** The treasury's balance observed at the end of each day's activity. */
  const closing: Record<string, bigint> = {};
  /** The treasury's movements of DAY, as the test made them: entry id (or type for issuance) and signed amount. */
  const dayMoves: Array<{ id: string; delta: bigint }> = [];
  const transfersOfDay: string[] = [];
  let refusedRequest = '';

  const treasuryBalance = async () => BigInt((await bankA.wallet(treasuryA)).balanceMinor);
  const issue = async (kind: 'mint' | 'retire', bankId: string, amountMinor: bigint) => {
    const res = await sys.operators.alice.issue(kind, bankId, amountMinor);
    if (res.status === 202) await sys.operators.bob.approveAction((res.body as { id: string }).id);
  };
  const fund = async (walletId: string, amountMinor: bigint, key: string) => {
    const res = await bankA.fund(walletId, amountMinor, key);
    return until(`funding ${key}`, async () => {
      const t = await bankA.getTransfer(res.body.id).catch(() => undefined);
      return t && t.status !== 'pending' ? t : undefined;
    });
  };
  const pay = async (bank: BankClient, from: string, to: string, key: { privateKey: string }, amountMinor: bigint, redeem = false) => {
    const { id, wire } = signTransfer({ payerWalletId: from, payeeWalletId: to, amountMinor }, key.privateKey);
    await (redeem ? bank.redeem(wire) : bank.transfer(wire));
    return until(`transfer ${id}`, async () => {
      const t = await bank.getTransfer(id).catch(() => undefined);
      return t && t.status !== 'pending' ? t : undefined;
    });
  };

  beforeAll(async () => {
    setLedgerClock(D - DAY_MS + HOUR_MS);
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2, ledgerNow });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    const tShard = shardOf(treasuryA, SHARDS);

    // The day before: the treasuries are minted and customers funded.
    for (const bankId of ['bank-a', 'bank-b']) {
      const deposit = await sys.operators.alice.reserve(bankId, 'deposit', 2_000_000n * YUAN, `dep-${bankId}`);
      if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
      await issue('mint', bankId, 1_000_000n * YUAN);
    }
    // a0 in the treasury's group, a1 in the other; `small` (class IV) on another shard than the treasury.
    w.a0 = (
      await bankA.openWallet(
        { publicKey: keys.a0.publicKey, customerRef: 'a0', tier: 'II' },
        keyWhere('bank-a', 'a0', (id) => groupOf(id) === tShard % 2),
      )
    ).id;
    w.a1 = (
      await bankA.openWallet(
        { publicKey: keys.a1.publicKey, customerRef: 'a1', tier: 'II' },
        keyWhere('bank-a', 'a1', (id) => groupOf(id) !== tShard % 2),
      )
    ).id;
    w.small = (
      await bankA.openWallet(
        { publicKey: keys.small.publicKey, customerRef: 'small', tier: 'IV' },
        keyWhere('bank-a', 'small', (id) => shardOf(id, SHARDS) !== tShard),
      )
    ).id;
    w.b1 = (
      await bankB.openWallet(
        { publicKey: keys.b1.publicKey, customerRef: 'b1', tier: 'II' },
        keyWhere('bank-b', 'b1', (id) => groupOf(id) === 1),
      )
    ).id;
    await fund(w.a0, 1_000n * YUAN, 'fund-a0-before');
    await fund(w.a1, 1_000n * YUAN, 'fund-a1-before');
    expect((await bankB.fund(w.b1, 1_000n * YUAN, 'fund-b1-before')).status).toBeLessThan(300);
    closing[DAY_BEFORE] = await treasuryBalance();

    // The day: fundings out, redemptions in (one across shards), a mint and a retire, a funding whose
    // credit the payee's shard refuses (debited, then refunded), and payments between customers.
    setLedgerClock(D + HOUR_MS);
    for (const [walletId, amount, key] of [
      [w.a0, 200n * YUAN, 'fund-a0-day'],
      [w.a1, 300n * YUAN, 'fund-a1-day'],
    ] as const) {
      const t = await fund(walletId, amount, key);
      expect(t.status).toBe('settled');
      dayMoves.push({ id: `debit:${t.id}`, delta: -amount });
      transfersOfDay.push(t.id);
    }
    for (const [walletId, key, amount] of [
      [w.a0, keys.a0, 50n * YUAN],
      [w.a1, keys.a1, 70n * YUAN],
    ] as const) {
      const t = await pay(bankA, walletId, treasuryA, key, amount, true);
      expect(t).toMatchObject({ status: 'settled', kind: 'transfer' });
      dayMoves.push({ id: `credit:${t.id}`, delta: amount });
      transfersOfDay.push(t.id);
    }
    const refused = await fund(w.small, 20_000n * YUAN, 'fund-small-over-cap');
    expect(refused).toMatchObject({ status: 'rejected', code: 'exceeds_balance_limit' });
    dayMoves.push({ id: `debit:${refused.id}`, delta: -20_000n * YUAN }, { id: `refund:${refused.id}`, delta: 20_000n * YUAN });
    await issue('mint', 'bank-a', 5_000n * YUAN);
    await issue('retire', 'bank-a', 1_000n * YUAN);
    dayMoves.push({ id: 'mint', delta: 5_000n * YUAN }, { id: 'retire', delta: -1_000n * YUAN });
    transfersOfDay.push((await pay(bankA, w.a0, w.b1, keys.a0, 100n * YUAN)).id);
    transfersOfDay.push((await pay(bankB, w.b1, w.a1, keys.b1, 40n * YUAN)).id);
    const short = await pay(bankA, w.a0, w.b1, keys.a0, 2_000n * YUAN);
    expect(short).toMatchObject({ status: 'rejected', code: 'insufficient_funds' });
    refusedRequest = short.id;
    closing[DAY] = await treasuryBalance();

    // The day after: more of the same, so that the day's closing is not the balance now.
    setLedgerClock(D + DAY_MS + HOUR_MS);
    await fund(w.a0, 10n * YUAN, 'fund-a0-after');
    await pay(bankA, w.a1, treasuryA, keys.a1, 5n * YUAN, true);
    await issue('mint', 'bank-a', 100n * YUAN);
    closing[DAY_AFTER] = await treasuryBalance();
  }, 120_000);
  afterAll(async () => sys?.close());

  /** A GET signed by bank-a, answered as it comes (the client library parses JSON only). */
  const fetchSigned = (path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, sys.gatewayUrl), { headers: signedHeaders({ keyId: 'bank-a', privateKey: Buffer.from(bankA.privateKeyHex, 'hex') }, 'GET', path, '', headers) });
  const statement = async (bank: BankClient, date: string, query = '') => (await bank.raw<Statement>('GET', `/v1/treasury/statements/${date}${query}`)).body;
  /** Every page of a statement. */
  const statementEntries = async (date: string, limit: number) => {
    const all: Entry[] = [];
    let cursor: string | null = null;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(50);
      const page: Statement = await statement(bankA, date, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.entries.length).toBeLessThanOrEqual(limit);
      all.push(...page.entries);
      cursor = page.nextCursor;
      if (cursor === null) return { all, last: page };
    }
  };

  it("states the day's treasury: opening and closing as observed, every movement once in order, the running balance, and the check", async () => {
    const s = await statement(bankA, DAY);
    expect(s.walletId).toBe(treasuryA);
    expect(BigInt(s.openingBalanceMinor)).toBe(closing[DAY_BEFORE]);
    expect(BigInt(s.closingBalanceMinor)).toBe(closing[DAY]);
    expect(s.check).toEqual({ openingPlusCreditsMinusDebitsMinor: s.closingBalanceMinor, balanced: true });
    const credits = dayMoves.filter((m) => m.delta > 0n);
    const debits = dayMoves.filter((m) => m.delta < 0n);
    expect(BigInt(s.totalCreditsMinor)).toBe(credits.reduce((a, m) => a + m.delta, 0n));
    expect(BigInt(s.totalDebitsMinor)).toBe(-debits.reduce((a, m) => a + m.delta, 0n));
    expect([s.creditCount, s.debitCount]).toEqual([credits.length, debits.length]);

    for (const limit of [1, 3, 1000]) {
      const { all } = await statementEntries(DAY, limit);
      // Every movement the test made that day, and nothing else; issuance entries by type.
      const ids = all.map((e) => (e.type === 'mint' || e.type === 'retire' ? e.type : e.id));
      expect([...ids].sort()).toEqual(dayMoves.map((m) => m.id).sort());
      expect(all.every((e) => e.walletId === treasuryA && e.applied)).toBe(true);
      // In settlement order, each with the balance after it, ending at the closing balance.
      const times = all.map((e) => BigInt(e.settledAtMs));
      expect(times).toEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      let balance = BigInt(s.openingBalanceMinor);
      for (const e of all) {
        balance += (e.direction === 'credit' ? 1n : -1n) * BigInt(e.amountMinor);
        expect(BigInt(e.balanceAfterMinor!)).toBe(balance);
        expect(BigInt(e.settledAtMs)).toBeGreaterThanOrEqual(BigInt(D));
        expect(BigInt(e.settledAtMs)).toBeLessThan(BigInt(D + DAY_MS));
      }
      expect(balance).toBe(closing[DAY]);
    }
    // The cross-shard redemption is credited at the treasury's shard, by its credit leg.
    const { all } = await statementEntries(DAY, 1000);
    const legCredit = all.find((e) => e.type === 'credit' && e.payerWalletId === w.a1);
    expect(legCredit).toMatchObject({ kind: 'redemption', shard: shardOf(treasuryA, SHARDS), status: 'settled' });
    expect(all.find((e) => e.type === 'refund')).toMatchObject({ kind: 'funding', status: 'rejected', code: 'exceeds_balance_limit', payeeWalletId: w.small });
  });

  it('exports the statement as ISO 20022 camt.053.001.08, page by page, with the same figures', async () => {
    const json = await statement(bankA, DAY);
    const pages: string[] = [];
    let next: string | null = `/v1/treasury/statements/${DAY}?format=camt.053&limit=4`;
    while (next !== null) {
      expect(pages.length).toBeLessThan(10);
      const res = await fetchSigned(next);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
      pages.push(await res.text());
      next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    }
    expect(pages.length).toBe(Math.ceil(json.entries.length / 4));
    const entries = pages.flatMap((xml, i) => {
      const { problems, root } = checkCamt053(xml);
      expect(problems).toEqual([]);
      const [stmt] = findElements(root, 'BkToCstmrStmt/Stmt');
      expect(findElements(stmt, 'StmtPgntn/PgNb')[0].text).toBe(String(i + 1));
      expect(findElements(stmt, 'StmtPgntn/LastPgInd')[0].text).toBe(String(i === pages.length - 1));
      const balances = Object.fromEntries(findElements(stmt, 'Bal').map((b) => [findElements(b, 'Tp/CdOrPrtry/Cd')[0].text, findElements(b, 'Amt')[0].text]));
      expect(balances).toEqual({ OPBD: (Number(json.openingBalanceMinor) / 100).toFixed(2), CLBD: (Number(json.closingBalanceMinor) / 100).toFixed(2) });
      return findElements(stmt, 'Ntry').map((n) => [findElements(n, 'CdtDbtInd')[0].text, findElements(n, 'Amt')[0].text]);
    });
    expect(entries).toEqual(json.entries.map((e) => [e.direction === 'credit' ? 'CRDT' : 'DBIT', (Number(e.amountMinor) / 100).toFixed(2)]));
    // Asked for by the Accept header too; JSON stays the default.
    const accepted = await fetchSigned(`/v1/treasury/statements/${DAY}`, { accept: 'application/xml' });
    expect(accepted.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(checkCamt053(await accepted.text()).problems).toEqual([]);
  });

  it('chains the days: each closing is the next opening; the last closing is the balance now', async () => {
    const [before, day, after] = await Promise.all([DAY_BEFORE, DAY, DAY_AFTER].map((d) => statement(bankA, d)));
    expect(before.openingBalanceMinor).toBe('0');
    expect(BigInt(before.closingBalanceMinor)).toBe(closing[DAY_BEFORE]);
    expect(day.openingBalanceMinor).toBe(before.closingBalanceMinor);
    expect(after.openingBalanceMinor).toBe(day.closingBalanceMinor);
    expect(BigInt(after.closingBalanceMinor)).toBe(closing[DAY_AFTER]);
    expect(after.closingBalanceMinor).toBe((await bankA.wallet(treasuryA)).balanceMinor);
    for (const s of [before, day, after]) expect(s.check.balanced).toBe(true);
    // A day without movements states the balance it held.
    const quiet = await statement(bankA, dayOf(D - 10 * DAY_MS));
    expect(quiet).toMatchObject({ openingBalanceMinor: '0', closingBalanceMinor: '0', entries: [], creditCount: 0, debitCount: 0 });
  });

  /** Every page of the bank's listing over the three days. */
  const listAll = async (bank: BankClient, limit: number) => {
    const range = `settledFrom=${new Date(D - DAY_MS).toISOString()}&settledTo=${new Date(D + 2 * DAY_MS).toISOString()}`;
    const all: Entry[] = [];
    let cursor: string | null = null;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(100);
      const page: { entries: Entry[]; nextCursor: string | null } = (await bank.raw<{ entries: Entry[]; nextCursor: string | null }>('GET', `/v1/transfers?${range}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)).body;
      expect(page.entries.length).toBeLessThanOrEqual(limit);
      all.push(...page.entries);
      cursor = page.nextCursor;
      if (cursor === null) return all;
    }
  };

  it("lists the bank's entries over every group once, oldest first, and they add up to each wallet's balance", async () => {
    const reference = await listAll(bankA, 1000);
    for (const limit of [1, 4]) expect((await listAll(bankA, limit)).map((e) => e.id)).toEqual(reference.map((e) => e.id));
    expect(new Set(reference.map((e) => e.id)).size).toBe(reference.length);
    const keys = reference.map((e) => [BigInt(e.settledAtMs), e.shard, BigInt(e.batchSeq ?? '0'), e.leafIndex ?? 0] as const);
    for (let i = 1; i < keys.length; i++) expect(keys[i][0] >= keys[i - 1][0]).toBe(true);
    // Only bank-a's wallets are moved; every one of them is, by exactly its balance.
    const own = new Set([treasuryA, w.a0, w.a1, w.small]);
    expect(reference.every((e) => own.has(e.walletId))).toBe(true);
    for (const id of own) {
      const net = reference.filter((e) => e.walletId === id).reduce((a, e) => a + (e.applied ? (e.direction === 'credit' ? 1n : -1n) * BigInt(e.amountMinor) : 0n), 0n);
      expect(net).toBe(BigInt((await bankA.wallet(id)).balanceMinor));
    }
    // A payment to another bank is a debit here; one from another bank, across groups, a credit by its leg.
    const [toB, fromB] = transfersOfDay.slice(-2);
    expect(reference.filter((e) => e.transferId === toB).map((e) => [e.type, e.walletId])).toEqual([['debit', w.a0]]);
    expect(reference.filter((e) => e.transferId === fromB).map((e) => [e.type, e.walletId, e.kind, e.status])).toEqual([['credit', w.a1, 'transfer', 'settled']]);
    // A redemption within one bank is both: the customer's debit and the treasury's credit.
    const redemption = transfersOfDay[2];
    expect(reference.filter((e) => e.transferId === redemption).map((e) => [e.type, e.walletId, e.kind])).toEqual([
      ['debit', w.a0, 'redemption'],
      ['credit', treasuryA, 'redemption'],
    ]);
    // The bank's refused request is listed, moving nothing.
    expect(reference.filter((e) => e.transferId === refusedRequest)).toEqual([expect.objectContaining({ type: 'debit', applied: false, status: 'rejected', code: 'insufficient_funds', walletId: w.a0 })]);
  });

  it("never shows another bank's wallets: bank-b sees its own side only, and bank-a's treasury is 404 to it", async () => {
    const theirs = await listAll(bankB, 1000);
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.every((e) => e.walletId === w.b1 || e.walletId === treasuryWalletId('bank-b'))).toBe(true);
    const [toB, fromB] = transfersOfDay.slice(-2);
    expect(theirs.filter((e) => e.transferId === toB).map((e) => [e.type, e.walletId])).toEqual([['credit', w.b1]]);
    expect(theirs.filter((e) => e.transferId === fromB).map((e) => [e.type, e.walletId])).toEqual([['debit', w.b1]]);
    expect(theirs.some((e) => e.transferId === refusedRequest)).toBe(false);
    // The other bank's treasury is not found, as any wallet of another bank is; its own is stated.
    expect(await statement(bankB, DAY, `?walletId=${treasuryA}`).catch(problemOf)).toMatchObject({ status: 404, code: 'wallet_not_found', errors: [{ field: 'querystring/walletId' }] });
    expect(await statement(bankB, DAY, `?walletId=${w.a0}`).catch(problemOf)).toMatchObject({ status: 404, code: 'wallet_not_found' });
    const own = await statement(bankB, DAY, `?walletId=${treasuryWalletId('bank-b')}`);
    expect(own.walletId).toBe(treasuryWalletId('bank-b'));
    expect(own.entries.every((e) => e.walletId === treasuryWalletId('bank-b'))).toBe(true);
    // A cursor is only a position: bank-a's, replayed by bank-b, still lists bank-b's entries only.
    const range = `settledFrom=${new Date(D - DAY_MS).toISOString()}&settledTo=${new Date(D + 2 * DAY_MS).toISOString()}`;
    const first = (await bankA.raw<{ nextCursor: string }>('GET', `/v1/transfers?${range}&limit=1`)).body;
    const replayed = (await bankB.raw<{ entries: Entry[] }>('GET', `/v1/transfers?${range}&limit=1000&cursor=${first.nextCursor}`)).body;
    expect(replayed.entries.every((e) => e.walletId === w.b1 || e.walletId === treasuryWalletId('bank-b'))).toBe(true);
  });

  it('answers bad input with 400 naming the field and the rule', async () => {
    const list = (query: string) => bankA.raw('GET', `/v1/transfers?${query}`).catch(problemOf);
    const from = new Date(D).toISOString();
    const to = new Date(D + DAY_MS).toISOString();
    const cases: Array<[string, string, string]> = [
      [`settledTo=${to}`, 'querystring/settledFrom', 'required'],
      [`settledFrom=yesterday&settledTo=${to}`, 'querystring/settledFrom', 'datetime'],
      [`settledFrom=${from}&settledTo=${from}`, 'querystring/settledTo', 'after_from'],
      [`settledFrom=${from}&settledTo=${new Date(D + 32 * DAY_MS).toISOString()}`, 'querystring/settledTo', 'range_max'],
      [`settledFrom=${from}&settledTo=${to}&limit=0`, 'querystring/limit', 'page_size_min'],
      [`settledFrom=${from}&settledTo=${to}&limit=1001`, 'querystring/limit', 'page_size_max'],
      [`settledFrom=${from}&settledTo=${to}&cursor=bm90IGEgY3Vyc29y`, 'querystring/cursor', 'cursor'],
      [`settledFrom=${from}&settledTo=${to}&bankId=bank-b`, 'querystring/bankId', 'unknown_field'],
    ];
    for (const [query, field, rule] of cases) expect(await list(query)).toMatchObject({ status: 400, code: 'invalid_request', errors: expect.arrayContaining([expect.objectContaining({ field, rule })]) });
    // A cursor of another range is refused.
    const page = (await bankA.raw<{ nextCursor: string }>('GET', `/v1/transfers?settledFrom=${new Date(D - DAY_MS).toISOString()}&settledTo=${to}&limit=1`)).body;
    expect(await list(`settledFrom=${from}&settledTo=${to}&cursor=${page.nextCursor}`)).toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'querystring/cursor' })] });

    const stated = (path: string) => bankA.raw('GET', `/v1/treasury/statements/${path}`).catch(problemOf);
    const today = dayOf(Date.now());
    for (const [path, field, rule] of [
      [today, 'params/date', 'ended_day'],
      [dayOf(Date.now() + 5 * DAY_MS), 'params/date', 'ended_day'],
      ['2025-02-30', 'params/date', 'date'],
      ['20250101', 'params/date', 'date'],
      ['1969-12-31', 'params/date', 'date'],
      [`${DAY}?limit=0`, 'querystring/limit', 'page_size_min'],
      [`${DAY}?format=xml`, 'querystring/format', 'format'],
      [`${DAY}?cursor=czEuMjAyNS0wMS0wMS4x`, 'querystring/cursor', 'cursor'],
    ] as const) {
      expect(await stated(path)).toMatchObject({ status: 400, code: 'invalid_request', errors: expect.arrayContaining([expect.objectContaining({ field, rule })]) });
    }
    // A statement cursor of another day is refused.
    const other = await statement(bankA, DAY_BEFORE, '?limit=1');
    expect(await stated(`${DAY}?cursor=${other.nextCursor}`)).toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'querystring/cursor' })] });
  });

  it('refuses unsigned requests before reading anything', async () => {
    for (const path of [`/v1/transfers?settledFrom=${new Date(D).toISOString()}&settledTo=${new Date(D + DAY_MS).toISOString()}`, `/v1/treasury/statements/${DAY}`]) {
      const res = await fetch(new URL(path, sys.gatewayUrl));
      expect(res.status).toBe(401);
    }
  });
});
