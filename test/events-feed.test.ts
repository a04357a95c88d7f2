/**
 * The bank-wide event feed (GET /v1/events, docs/events.md) over 4 shards in 2 shard-group
 * databases: every event of the bank exactly once across pages, in order per shard, none of
 * another bank's; a central-bank freeze and a mint are events too; bad cursors are 400 naming
 * querystring/after; a cursor before the retention horizon is 410 and `after` omitted starts at the
 * oldest retained event. Real Postgres and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signedRequest, signTransfer, type BankClient } from '@cbdc/client';
import { pruneEvents } from '@cbdc/db/events';
import { startTestSystem, type TestSystem } from './support/system.js';

const SHARDS = 4;
const YUAN = 100n;

interface FeedPage {
  events: Array<{ id: string; type: string; createdAt: string; data: Record<string, string | number | boolean | null> }>;
  nextCursor: string;
  hasMore: boolean;
}

type Bank = BankClient & { privateKeyHex: string };

async function feed(bank: Bank, query: string): Promise<FeedPage> {
  return (await signedRequest<FeedPage>(bank.baseUrl, { keyId: bank.bankId, privateKey: Buffer.from(bank.privateKeyHex, 'hex') }, 'GET', `/v1/events${query}`)).body;
}

/** Every page from `after` (or the start) until a page comes back short; the events in order. */
async function readAll(bank: Bank, limit: number, after?: string): Promise<{ events: FeedPage['events']; cursor: string }> {
  const events: FeedPage['events'] = [];
  let cursor = after;
  for (let i = 0; i < 1000; i++) {
    const page = await feed(bank, `?limit=${limit}${cursor ? `&after=${cursor}` : ''}`);
    events.push(...page.events);
    cursor = page.nextCursor;
    if (!page.hasMore) break;
  }
  return { events, cursor: cursor! };
}

/** The ids the database holds for a bank: every group's events. */
async function storedIds(sys: TestSystem, bankId: string): Promise<string[]> {
  const parts = await Promise.all(sys.groupDbs.map((g) => g.sql<{ shard: number; seq: bigint }[]>`select shard, seq from events where bank_id = ${bankId}`));
  return parts.flat().map((r) => `evt_${r.shard}_${r.seq}`);
}

const problemOf = (e: unknown) => (e instanceof CbdcApiError ? { ...e.problem, status: e.status } : { status: 0, code: String(e) });

async function placeBank(sys: TestSystem, bankId: string, treasuryMinor: bigint): Promise<void> {
  const deposit = await sys.operators.alice.reserve(bankId, 'deposit', treasuryMinor, `dep-${bankId}`);
  if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
  const mint = await sys.operators.alice.issue('mint', bankId, treasuryMinor);
  if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
}

describe('the event feed across 2 shard groups', () => {
  let sys: TestSystem;
  let bankA: Bank;
  let bankB: Bank;
  const wallets: string[] = [];
  let walletB = '';

  beforeAll(async () => {
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2 });
    bankA = await sys.addBank('feed-a');
    bankB = await sys.addBank('feed-b');
    await placeBank(sys, 'feed-a', 100_000n * YUAN);
    await placeBank(sys, 'feed-b', 10_000n * YUAN);
    const keys = Array.from({ length: 6 }, () => newCustomerKey());
    for (const [i, k] of keys.entries()) {
      const w = await bankA.openWallet({ publicKey: k.publicKey, customerRef: `a-${i}`, tier: 'II' });
      wallets.push(w.id);
      await bankA.fund(w.id, 1_000n * YUAN, `fund-a-${i}`);
    }
    const kb = newCustomerKey();
    walletB = (await bankB.openWallet({ publicKey: kb.publicKey, customerRef: 'b-0', tier: 'II' })).id;
    // Payments within bank A, across shards and groups, and to bank B.
    for (let round = 0; round < 3; round++) {
      for (const [i, k] of keys.entries()) {
        const payee = round === 2 && i % 2 === 0 ? walletB : wallets[(i + 1 + round) % wallets.length];
        const t = signTransfer({ payerWalletId: wallets[i], payeeWalletId: payee, amountMinor: BigInt(100 + round) }, k.privateKey);
        await bankA.transfer(t.wire);
      }
    }
    await sys.operators.alice.walletControl(wallets[0], 'freeze', { reason: 'court order', reference: 'case-1' });
    // Cross-shard credits land a moment after their debits: wait until every transfer is final.
    for (let i = 0; i < 100; i++) {
      const open = await Promise.all(sys.groupDbs.map((g) => g.sql<{ n: number }[]>`select count(*)::int as n from transfers where status = 'in_flight'`));
      if (open.every(([r]) => r.n === 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);
  afterAll(async () => sys?.close());

  it('gives every event of the bank once, across pages and groups, in commit order per shard', async () => {
    const { events } = await readAll(bankA, 3);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual((await storedIds(sys, 'feed-a')).sort());
    // Both groups' shards are in it.
    expect(new Set(events.map((e) => Number(e.id.split('_')[1]) % 2))).toEqual(new Set([0, 1]));
    for (let shard = 0; shard < SHARDS; shard++) {
      const seqs = events.filter((e) => e.id.startsWith(`evt_${shard}_`)).map((e) => Number(e.id.split('_')[2]));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    }
    const types = new Set(events.map((e) => e.type));
    for (const t of ['treasury.minted', 'transfer.settled', 'payment.received', 'wallet.frozen']) expect(types).toContain(t);
    const frozen = events.find((e) => e.type === 'wallet.frozen')!;
    expect(frozen.data).toEqual({ walletId: wallets[0], authority: 'central', reason: 'court order', reference: 'case-1' });
    // A transfer event names the counterparty (from its transfer row), a payment from another shard as null.
    for (const e of events.filter((x) => x.type === 'transfer.settled')) expect([...wallets, walletB]).toContain(e.data.payeeWalletId);
    for (const e of events.filter((x) => x.type === 'payment.received')) expect(e.data).toHaveProperty('payerWalletId');
    expect(events.some((e) => e.type === 'payment.received' && wallets.includes(String(e.data.payerWalletId)))).toBe(true);
    const minted = events.find((e) => e.type === 'treasury.minted')!;
    expect(minted.data).toMatchObject({ walletId: 't_feed-a', amountMinor: String(100_000n * YUAN) });
  });

  it('shows another bank none of it: bank B reads only its own events', async () => {
    const { events } = await readAll(bankB, 50);
    expect(events.map((e) => e.id).sort()).toEqual((await storedIds(sys, 'feed-b')).sort());
    const received = events.filter((e) => e.type === 'payment.received');
    expect(received.length).toBe(3);
    for (const e of received) expect(e.data.walletId).toBe(walletB);
    // Bank A's wallets appear only as the payer of B's incoming payments, never as an event of theirs.
    expect(events.filter((e) => e.type !== 'payment.received' && wallets.includes(String(e.data.walletId)))).toEqual([]);
  });

  it('resumes from any cursor with what follows it, and is caught up at the end', async () => {
    const all = (await readAll(bankA, 200)).events.map((e) => e.id);
    const first = await feed(bankA, '?limit=5');
    const rest = await readAll(bankA, 4, first.nextCursor);
    expect([...first.events.map((e) => e.id), ...rest.events.map((e) => e.id)].sort()).toEqual([...all].sort());
    const end = await feed(bankA, `?after=${rest.cursor}`);
    expect(end).toMatchObject({ events: [], hasMore: false, nextCursor: rest.cursor });
  });

  it('filters by type, passing the others over', async () => {
    const { events } = await feed(bankA, '?types=wallet.frozen,treasury.minted&limit=50');
    expect(events.map((e) => e.type).sort()).toEqual(['treasury.minted', 'wallet.frozen']);
  });

  it.each([
    ['not a cursor', '?after=%24%24', 'cursor'],
    ["another deployment's cursor (other shard count)", `?after=${Buffer.from([1, 2, 0, 0]).toString('base64url')}`, 'cursor'],
    ['a cursor past the newest event', `?after=${Buffer.from([1, 4, 200, 1, 0, 0, 0]).toString('base64url')}`, 'cursor'],
  ])('answers 400 naming querystring/after for %s', async (_, query, rule) => {
    const error = await feed(bankA, query).catch(problemOf);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', errors: [{ field: 'querystring/after', rule }] });
  });

  it('answers 400 for an unknown type', async () => {
    const error = await feed(bankA, '?types=transfer.settled,nope').catch(problemOf);
    expect(error).toMatchObject({ status: 400, errors: [{ field: 'querystring/types', rule: 'event_type' }] });
  });

  it("tells the payer's bank only what it may know of another bank's customer: payee_unavailable", async () => {
    const { cursor } = await readAll(bankA, 200);
    await bankB.setWalletStatus(walletB, 'freeze', 'customer request');
    const payer = newCustomerKey();
    const w = await bankA.openWallet({ publicKey: payer.publicKey, customerRef: 'a-privacy', tier: 'II' });
    await bankA.fund(w.id, 10n * YUAN, 'fund-a-privacy');
    const t = signTransfer({ payerWalletId: w.id, payeeWalletId: walletB, amountMinor: 5n }, payer.privateKey);
    expect((await bankA.transfer(t.wire)).body).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });
    await bankB.setWalletStatus(walletB, 'unfreeze', 'customer request');
    const { events } = await readAll(bankA, 200, cursor);
    const rejected = events.find((e) => e.type === 'transfer.rejected' && e.data.transferId === t.id);
    expect(rejected?.data).toMatchObject({ walletId: w.id, code: 'payee_unavailable', payeeWalletId: walletB });
  });

  it('answers 410 for a cursor before the retention horizon; without `after` it starts at the oldest retained event', async () => {
    const start = await feed(bankA, '?limit=1');
    const oldCursor = start.nextCursor;
    const before = (await readAll(bankA, 200)).events.length;
    // Prune every event recorded so far (a cutoff in the future stands for 30 days passing).
    for (const g of sys.topology.webhooks.groups.filter((g, i, all) => all.findIndex((o) => o.sql === g.sql) === i)) await pruneEvents(g.sql, Date.now() + 1000, 10_000);
    const error = await feed(bankA, `?after=${oldCursor}`).catch(problemOf);
    expect(error).toMatchObject({ status: 410, code: 'cursor_expired', errors: [{ field: 'querystring/after', rule: 'retained_cursor' }] });
    expect(before).toBeGreaterThan(1);
    // New events after the pruning are read from the oldest retained one.
    await sys.operators.alice.walletControl(wallets[0], 'unfreeze', { reason: 'lifted', reference: 'case-1' });
    const { events } = await readAll(bankA, 50);
    expect(events.map((e) => e.type)).toEqual(['wallet.unfrozen']);
  });
});
