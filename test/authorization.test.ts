/**
 * Broken object-level authorization: bank A's credentials with bank B's wallet ids in the path,
 * the query and the body, on every route. Each is refused and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

describe("a bank never reads or moves another bank's wallets", () => {
  let sys: TestSystem;
  let bankA: BankClient & { privateKeyHex: string };
  let bankB: BankClient & { privateKeyHex: string };
  const aCustomer = newCustomerKey();
  const bCustomer = newCustomerKey();
  const bCustomer2 = newCustomerKey();
  let aWallet: string;
  let bWallet: string;
  let bWallet2: string;
  let bTransferId: string;

  const refusal = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => null,
      (err) => err,
    );
    expect(e, 'the request should have been refused').toBeInstanceOf(CbdcApiError);
    return (e as CbdcApiError).problem;
  };
  const snapshot = async () =>
    (await sys.db.sql`select id, status, balance_minor from wallets order by id`).map((r) => `${r.id}:${r.status}:${r.balance_minor}`).join('|') + `#${(await sys.db.sql`select count(*)::int as n from transfers`)[0].n}`;

  beforeAll(async () => {
    sys = await startTestSystem();
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    for (const id of ['bank-a', 'bank-b']) {
      await sys.operators.alice.reserve(id, 'deposit', 10_000_000n, `dep-${id}`);
      await sys.operators.alice.issue('mint', id, 10_000_000n);
    }
    aWallet = (await bankA.openWallet({ publicKey: aCustomer.publicKey, customerRef: 'a-1', tier: 'II' })).id;
    bWallet = (await bankB.openWallet({ publicKey: bCustomer.publicKey, customerRef: 'b-1', tier: 'II' })).id;
    bWallet2 = (await bankB.openWallet({ publicKey: bCustomer2.publicKey, customerRef: 'b-2', tier: 'II' })).id;
    await bankA.fund(aWallet, 100_000n, 'fund-a-000001');
    await bankB.fund(bWallet, 100_000n, 'fund-b-000001');
    const t = signTransfer({ payerWalletId: bWallet, payeeWalletId: bWallet2, amountMinor: 100n }, bCustomer.privateKey);
    bTransferId = t.id;
    expect((await bankB.transfer(t.wire)).body.status).toBe('settled');
  });
  afterAll(async () => sys?.close());

  it('path: reading, freezing, unfreezing, closing and listing history of a foreign wallet are 404', async () => {
    const before = await snapshot();
    expect((await refusal(bankA.wallet(bWallet))).code).toBe('wallet_not_found');
    for (const action of ['freeze', 'unfreeze'] as const) expect((await refusal(bankA.setWalletStatus(bWallet, action, 'fraud suspected'))).code).toBe('wallet_not_found');
    expect((await refusal(bankA.setWalletStatus(bWallet, 'close'))).code).toBe('wallet_not_found');
    expect((await refusal(bankA.history(bWallet))).code).toBe('wallet_not_found');
    expect((await refusal(bankA.getTransfer(bTransferId))).code).toBe('transfer_not_found');
    expect((await refusal(bankA.receipt(bTransferId))).code).toBe('transfer_not_found');
    expect(await snapshot()).toBe(before);
  });

  it("query: a cursor naming a foreign wallet still lists only the caller's wallets", async () => {
    // A cursor forged to point at bank B's treasury: the page continues through bank A's wallets only.
    const cursor = Buffer.from('t_bank-b').toString('base64url');
    const page = await bankA.wallets(200, cursor);
    expect(page.wallets.map((w) => w.id)).toEqual([aWallet]);
    const all = await bankA.wallets(200);
    expect(all.wallets.map((w) => w.id).sort()).toEqual([aWallet, 't_bank-a'].sort());
  });

  it("body: funding, paying from, or redeeming a foreign wallet is refused, even with the customer's valid signature", async () => {
    const before = await snapshot();
    expect((await refusal(bankA.fund(bWallet, 1n, 'steal-000001'))).code).toBe('wallet_not_found');
    const theft = signTransfer({ payerWalletId: bWallet, payeeWalletId: aWallet, amountMinor: 1n }, bCustomer.privateKey);
    const problem = await refusal(bankA.transfer(theft.wire));
    expect(problem).toMatchObject({ code: 'wallet_not_found', errors: [{ field: 'body/payerWalletId', rule: 'own_wallet' }] });
    const redeem = signTransfer({ payerWalletId: bWallet, payeeWalletId: 't_bank-a', amountMinor: 1n }, bCustomer.privateKey);
    expect((await refusal(bankA.redeem(redeem.wire))).code).toBe('wallet_not_found');
    expect(await snapshot()).toBe(before);
  });

  it('a batch with one foreign payer is refused whole and changes nothing', async () => {
    const before = await snapshot();
    const good = signTransfer({ payerWalletId: aWallet, payeeWalletId: bWallet, amountMinor: 10n }, aCustomer.privateKey);
    const foreign = signTransfer({ payerWalletId: bWallet, payeeWalletId: aWallet, amountMinor: 10n }, bCustomer.privateKey);
    const problem = await refusal(bankA.transferBatch([good.wire, foreign.wire]));
    expect(problem).toMatchObject({ code: 'wallet_not_found', errors: [{ field: 'body/transfers/1/payerWalletId', rule: 'own_wallet' }] });
    expect(await snapshot()).toBe(before);
    expect((await refusal(bankA.getTransfer(good.id))).code).toBe('transfer_not_found');
  });

  it("a bank cannot pay into another bank's treasury or fund from it", async () => {
    const t = signTransfer({ payerWalletId: aWallet, payeeWalletId: 't_bank-b', amountMinor: 1n }, aCustomer.privateKey);
    expect((await refusal(bankA.transfer(t.wire))).code).toBe('payee_is_treasury');
    expect((await refusal(bankA.fund('t_bank-b', 1n, 'steal-000002'))).code).toBe('wallet_not_found');
  });

  it("bank credentials open nothing on the issuer, and bank B's key cannot sign as bank A", async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/supply', undefined],
      ['POST', '/v1/issuances', JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '1' })],
      ['POST', '/v1/issuances', JSON.stringify({ kind: 'retire', bankId: 'bank-a', amountMinor: '1' })],
      ['POST', '/v1/issuances/00000000-0000-4000-8000-000000000000/approve', undefined],
      ['GET', '/v1/issuances', undefined],
      ['POST', '/v1/banks', JSON.stringify({ id: 'bank-z', name: 'Z', publicKey: '00'.repeat(32) })],
      ['POST', '/v1/banks/bank-a/reserve/deposits', JSON.stringify({ amountMinor: '1', reference: 'x' })],
      ['POST', '/v1/banks/bank-a/reserve/withdrawals', JSON.stringify({ amountMinor: '1', reference: 'x' })],
      ['POST', `/v1/wallets/${bWallet}/freeze`, undefined],
    ] as const) {
      const res = await rawRequest(sys.issuerUrl, method, path, body, { keyId: 'bank-a', privateKeyHex: bankA.privateKeyHex });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.code).toBe('unauthenticated');
    }
    const forged = await rawRequest(sys.gatewayUrl, 'GET', `/v1/wallets/${aWallet}`, undefined, { keyId: 'bank-a', privateKeyHex: bankB.privateKeyHex });
    expect(forged.status).toBe(401);
    expect((await sys.operators.alice.supply()).supplyMinor).toBe('20000000');
  });
});
