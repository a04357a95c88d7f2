/**
 * Finding 11: the payer's bank learns one generic payee-side code when the payee is another
 * bank's customer, in every view (synchronous answer, batch item, async read by id, history,
 * receipt, the gateway's up-front checks, results of credits between shards); the payee's bank
 * and the central bank (the stored rows) keep the precise code. A payee of the payer's own bank
 * still gets the precise code, and the payee's bank sees a foreign payer's refusal generically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, verifyReceipt, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';

const YUAN = 100n;
const IV_BALANCE_MAX = 10_000n * YUAN;
const PAYEE_DETAILS = /payee_frozen|payee_closed|exceeds_balance_limit|wallet_closed/;

describe("privacy of payee details towards the payer's bank", () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const key = newCustomerKey();
  /** Everything bank A was told, to check that no payee detail is in it. */
  const seenByA: unknown[] = [];
  const payers: string[] = [];
  const payees: Record<'full' | 'frozen' | 'closed' | 'open', string[]> = { full: [], frozen: [], closed: [], open: [] };
  let ownFull: string;
  let shardKeys: Record<number, string>;

  const wire = (payer: string, payee: string, amount: bigint) => signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: amount }, key.privateKey).wire;
  const told = <T>(value: T): T => (seenByA.push(value), value);
  const problemOf = async (p: Promise<unknown>) => {
    const error = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CbdcApiError);
    return told((error as CbdcApiError).problem);
  };
  const recorded = async (client: BankClient, id: string) => {
    for (let i = 0; i < 100; i++) {
      const t = await client.getTransfer(id).catch(() => null);
      if (t && t.status !== 'pending') return t;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`transfer ${id} was not recorded`);
  };

  beforeAll(async () => {
    sys = await startTestSystem({ shards: 2, dualControlThresholdMinor: 10n ** 15n });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    for (const bank of ['bank-a', 'bank-b']) {
      await sys.operators.alice.reserve(bank, 'deposit', 100_000_000n, `dep-${bank}`);
      await sys.operators.alice.issue('mint', bank, 100_000_000n);
    }
    const open = async (bank: BankClient, tier: 'II' | 'IV', shard: number) => {
      for (;;) {
        const w = await bank.openWallet({ publicKey: key.publicKey, customerRef: `c-${Math.random()}`, tier });
        if (w.shard === shard) return w.id;
      }
    };
    for (const shard of [0, 1]) {
      payers[shard] = await open(bankA, 'II', shard);
      await bankA.fund(payers[shard], 1_000_000n, `fund-payer-${shard}`);
      payees.full[shard] = await open(bankB, 'IV', shard);
      await bankB.fund(payees.full[shard], IV_BALANCE_MAX - 50n, `fund-full-${shard}`);
      payees.frozen[shard] = await open(bankB, 'IV', shard);
      await bankB.setWalletStatus(payees.frozen[shard], 'freeze', 'bank review');
      payees.closed[shard] = await open(bankB, 'IV', shard);
      await bankB.setWalletStatus(payees.closed[shard], 'close');
      payees.open[shard] = await open(bankB, 'IV', shard);
    }
    ownFull = await open(bankA, 'IV', 0);
    await bankA.fund(ownFull, IV_BALANCE_MAX - 50n, 'fund-own-full');
    shardKeys = Object.fromEntries((await bankA.shards()).map((s) => [s.shard, s.publicKey]));
  });
  afterAll(async () => sys?.close());

  describe.each([
    ['on the same shard', 0],
    ['on another shard (a credit and its result between shards)', 1],
  ])('a foreign payee %s', (_, payeeShard) => {
    it.each([
      ['over its balance cap', 'full', 'exceeds_balance_limit'],
      ['frozen', 'frozen', 'payee_frozen'],
      ['closed (left to settlement by the gateway: a 422 would tell "closed" apart)', 'closed', 'payee_closed'],
    ] as const)("%s: the payer's bank sees payee_unavailable in every view; the payee's bank and the stored row see the detail", async (_, which, detail) => {
      const payee = payees[which][payeeShard];
      const payer = payers[0];

      const sync = told((await bankA.transfer(wire(payer, payee, 100n))).body);
      expect(sync).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });

      const batch = told((await bankA.transferBatch([wire(payer, payee, 101n), wire(payer, payee, 102n)])).body);
      expect(batch.results.map((r) => [r.status, 'code' in r ? r.code : null])).toEqual([
        ['rejected', 'payee_unavailable'],
        ['rejected', 'payee_unavailable'],
      ]);

      const queued = told((await bankA.transfer(wire(payer, payee, 103n), true)).body);
      expect(queued.status).toBe('pending');
      const asyncRead = told(await recorded(bankA, queued.id));
      expect(asyncRead).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });
      expect(told(await bankA.getTransfer(sync.id))).toMatchObject({ code: 'payee_unavailable' });

      // A resubmission is answered from the stored row, also generically.
      expect(told((await bankA.transfer(wire(payer, payee, 100n))).body)).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });

      const history = told(await bankA.history(payer, 200));
      const mine = history.transfers.filter((t) => t.payeeWalletId === payee);
      expect(mine.length).toBeGreaterThanOrEqual(4);
      for (const t of mine) expect(t).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });

      const withheld = await problemOf(bankA.receipt(sync.id));
      expect(withheld).toMatchObject({ code: 'receipt_withheld', status: 403 });

      for (const id of [sync.id, queued.id, ...batch.results.map((r) => r.id!)]) {
        expect(await bankB.getTransfer(id)).toMatchObject({ status: 'rejected', code: detail });
        const [row] = await sys.db.sql<{ code: string }[]>`select code from transfers where id = ${id}`;
        expect(row.code).toBe(detail);
      }
      const payeeHistory = await bankB.history(payee, 200);
      expect(payeeHistory.transfers.filter((t) => t.payerWalletId === payer).every((t) => t.code === detail)).toBe(true);
      const receipt = await bankB.receipt(sync.id);
      expect(verifyReceipt(receipt, shardKeys)).toBeNull();
      expect([receipt.transfer.code, ...receipt.legs.map((l) => l.leg.code)]).toContain(detail);
    });
  });

  it("never told the payer's bank any payee detail", () => {
    expect(seenByA.length).toBeGreaterThan(20);
    expect(JSON.stringify(seenByA)).not.toMatch(PAYEE_DETAILS);
  });

  it("gives a payee of the payer's own bank the precise code, and its receipt", async () => {
    const res = await bankA.transfer(wire(payers[0], ownFull, 100n));
    expect(res.body).toMatchObject({ status: 'rejected', code: 'exceeds_balance_limit' });
    expect(verifyReceipt(await bankA.receipt(res.body.id), shardKeys)).toBeNull();
  });

  it("shows a foreign payer's refusal to the payee's bank as payer_unavailable, and the precise code to the payer's bank", async () => {
    const res = await bankA.transfer(wire(payers[1], payees.open[1], 2_000_000n));
    expect(res.body).toMatchObject({ status: 'rejected', code: 'insufficient_funds' });
    expect(await bankB.getTransfer(res.body.id)).toMatchObject({ code: 'payer_unavailable' });
    const history = await bankB.history(payees.open[1], 200);
    expect(history.transfers.find((t) => t.id === res.body.id)).toMatchObject({ code: 'payer_unavailable' });
    const refused = await bankB.receipt(res.body.id).then(
      () => null,
      (e: CbdcApiError) => e.problem,
    );
    expect(refused).toMatchObject({ code: 'receipt_withheld' });
  });
});
