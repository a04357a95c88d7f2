/**
 * Bounded work: one bank flooding a gateway gets 429 while another bank's requests succeed, and
 * a full settlement queue is answered with 503 and Retry-After before anything is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';

const WINDOW_MS = 3000;

describe('capacity limits', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const customer = newCustomerKey();
  let payer: string;
  let payee: string;

  beforeAll(async () => {
    // A 3 s window: the 30 concurrent requests below must fall in one window even on a loaded machine.
    sys = await startTestSystem({ limits: { bankRequestsPerSecondMax: 10, rateLimitWindowMs: WINDOW_MS, queueJobsWaitingMax: 2, batchLingerMs: 1 } });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n, 'dep-a');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    payer = (await bankA.openWallet({ publicKey: customer.publicKey, customerRef: 'c1', tier: 'I' })).id;
    payee = (await bankA.openWallet({ publicKey: customer.publicKey, customerRef: 'c2', tier: 'I' })).id;
    await bankA.fund(payer, 1_000_000n, 'fund-capacity-1');
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
  });
  afterAll(async () => sys?.close());

  it('limits a flooding bank alone', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        bankA.wallet(payer).then(
          () => 200,
          (e: CbdcApiError) => e,
        ),
      ),
    );
    const limited = results.filter((r): r is CbdcApiError => r instanceof CbdcApiError);
    expect(limited.length).toBeGreaterThanOrEqual(15);
    expect(limited.every((e) => e.status === 429 && e.problem.code === 'rate_limited' && Number(e.headers?.get('retry-after')) >= 1)).toBe(true);
    expect((await bankB.wallets()).wallets.map((w) => w.id)).toEqual(['t_bank-b']);
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
  });

  it('answers 503 with Retry-After when the shard queue is full, and settles what it accepted once workers return', async () => {
    await Promise.all(sys.workers.map((w) => w.close()));
    const accepted: string[] = [];
    let overloaded: CbdcApiError | null = null;
    for (let i = 0; i < 8 && !overloaded; i++) {
      const t = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 1n }, customer.privateKey);
      try {
        const res = await bankA.transfer(t.wire, true);
        expect(res.status).toBe(202);
        accepted.push(t.id);
      } catch (e) {
        overloaded = e as CbdcApiError;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(overloaded?.status).toBe(503);
    expect(overloaded?.problem.code).toBe('overloaded');
    expect(overloaded?.headers?.get('retry-after')).toBe('1');
    await sys.restartWorkers();
    // A fresh request budget for the reads below.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
    for (const id of accepted) {
      await expect.poll(async () => (await bankA.getTransfer(id).catch(() => null))?.status, { timeout: 10_000 }).toBe('settled');
    }
    expect((await bankA.wallet(payee)).balanceMinor).toBe(String(accepted.length));
  });
});
