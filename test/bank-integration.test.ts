/**
 * A bank's integration, end to end (issue 14's "done when"): two banks on a system of two shards in
 * two shard-group databases, with the webhook delivery service running and a real HTTP receiver
 * that verifies every delivery (Standard Webhooks). The payer's bank upgrades a customer's tier
 * (KYC) and the new cap applies at once; the customer's hold is captured in part by the merchant's
 * bank and a second hold expires without any request; the merchant's bank requests a payment and
 * the customer pays it from its URI; both banks read their event feeds page by page, and the
 * merchant's receiver gets exactly the merchant's feed; the paid request's receipt is verified with
 * the verifier written from docs/canonical-encoding.md alone, and refused once tampered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signHold, signRequestedTransfer, signTransfer, type BankClient } from '@cbdc/client';
import { ed25519PublicKeyOfSeed } from '@cbdc/shared/crypto';
import { verifyReceiptFromDocs, type ReceiptJson } from './support/receipt-from-docs.js';
import { startTestSystem, type TestSystem } from './support/system.js';
import { startReceiver, until, type Receiver } from './support/webhook-receiver.js';

const YUAN = 100n;

interface FeedEvent {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, string | number | boolean | null>;
}

/** Every event of a bank's feed, read `limit` at a time from the start. */
async function readFeed(bank: BankClient, limit: number): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  let after: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query: string = after === null ? `?limit=${limit}` : `?limit=${limit}&after=${encodeURIComponent(after)}`;
    const { body } = await bank.raw<{ events: FeedEvent[]; nextCursor: string; hasMore: boolean }>('GET', `/v1/events${query}`);
    out.push(...body.events);
    after = body.nextCursor;
    if (!body.hasMore) return out;
  }
  throw new Error('the feed did not end within 100 pages');
}

describe("a bank's integration: tier change, holds, a paid request, the feed, webhooks and a receipt from the documented bytes", () => {
  let sys: TestSystem;
  let payerBank: BankClient;
  let merchantBank: BankClient;
  let receiver: Receiver;
  const alice = newCustomerKey();
  let aliceWallet: string;
  let merchantWallet: string;
  let paidTransferId: string;

  beforeAll(async () => {
    sys = await startTestSystem({ shards: 2, shardGroups: 2, webhooks: {} });
    payerBank = await sys.addBank('bank-pay');
    merchantBank = await sys.addBank('bank-shop');
    // The merchant's endpoint first: it is sent everything that happens to the bank from then on.
    receiver = await startReceiver();
    const { body: endpoint } = await merchantBank.raw<{ id: string; secret: string }>('POST', '/v1/webhook-endpoints', { url: receiver.url, description: 'shop events' });
    receiver.secrets.push(endpoint.secret);
    for (const bankId of ['bank-pay', 'bank-shop']) {
      const deposit = await sys.operators.alice.reserve(bankId, 'deposit', 100_000n * YUAN, `dep-${bankId}`);
      if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
      const mint = await sys.operators.alice.issue('mint', bankId, 100_000n * YUAN);
      if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
    }
    aliceWallet = (await payerBank.openWallet({ publicKey: alice.publicKey, customerRef: 'alice', tier: 'IV' })).id;
    merchantWallet = (await merchantBank.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'shop', tier: 'II' })).id;
    expect((await payerBank.fund(aliceWallet, 8_000n * YUAN, 'fund-alice')).body).toMatchObject({ status: 'settled' });
  }, 120_000);
  afterAll(async () => {
    await receiver?.close();
    await sys?.close();
  });

  it('a KYC upgrade lifts the payment cap from the next batch', async () => {
    const over = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: merchantWallet, amountMinor: 3_000n * YUAN, memo: 'tv' }, alice.privateKey);
    expect((await payerBank.transfer(over.wire)).body).toMatchObject({ status: 'rejected', code: 'exceeds_payment_limit' });
    const upgraded = await payerBank.changeTier(aliceWallet, 'III', 'KYC documents verified');
    expect(upgraded).toMatchObject({ id: aliceWallet, tier: 'III' });
    const again = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: merchantWallet, amountMinor: 3_000n * YUAN, memo: 'tv' }, alice.privateKey);
    expect((await payerBank.transfer(again.wire)).body).toMatchObject({ status: 'settled' });
  });

  it("a hold captured in part by the merchant's bank: the captured amount to the merchant, the rest back to the customer", async () => {
    const before = await payerBank.wallet(aliceWallet);
    const { id, wire } = signHold({ payerWalletId: aliceWallet, payeeWalletId: merchantWallet, amountMinor: 500n * YUAN, memo: 'hotel deposit' }, alice.privateKey);
    expect((await payerBank.placeHold(wire)).body).toMatchObject({ id, status: 'open' });
    expect(await payerBank.wallet(aliceWallet)).toMatchObject({ heldMinor: (BigInt(before.heldMinor) + 500n * YUAN).toString() });
    // Only the payee's bank captures.
    expect(await payerBank.captureHold(id, 1n).catch((e: CbdcApiError) => e.problem.code)).toBe('hold_action_not_allowed');
    expect((await merchantBank.captureHold(id, 320n * YUAN)).body).toMatchObject({ status: 'captured', capturedMinor: (320n * YUAN).toString() });
    await expect.poll(async () => (await merchantBank.hold(id)).capture?.status, { timeout: 15_000, interval: 200 }).toBe('settled');
    const after = await payerBank.wallet(aliceWallet);
    expect(BigInt(after.balanceMinor)).toBe(BigInt(before.balanceMinor) - 320n * YUAN);
    expect(after.heldMinor).toBe(before.heldMinor);
  });

  it('a hold expires without any request, exactly once, and its money returns', async () => {
    const before = await payerBank.wallet(aliceWallet);
    const { id, wire } = signHold({ payerWalletId: aliceWallet, payeeWalletId: merchantWallet, amountMinor: 70n * YUAN, memo: 'parking', holdExpiresAtMs: BigInt(Date.now() + 1_500) }, alice.privateKey);
    expect((await payerBank.placeHold(wire)).body).toMatchObject({ id, status: 'open' });
    await expect.poll(async () => (await payerBank.hold(id)).status, { timeout: 15_000, interval: 200 }).toBe('expired');
    expect(await payerBank.wallet(aliceWallet)).toMatchObject({ balanceMinor: before.balanceMinor, heldMinor: before.heldMinor });
    expect(await merchantBank.captureHold(id, 1n).catch((e: CbdcApiError) => e.problem.code)).toBe('hold_expired');
  });

  it('a payment request paid once from its URI; a second payment of it is refused and refunded', async () => {
    const request = await merchantBank.createPaymentRequest({ payeeWalletId: merchantWallet, amountMinor: 120n * YUAN, expiresAtMs: BigInt(Date.now() + 3_600_000), reference: 'order 42' });
    expect(request).toMatchObject({ status: 'open', uri: expect.stringMatching(/^cbdc:pay\?/) });
    const paid = signRequestedTransfer(request.uri, { payerWalletId: aliceWallet }, alice.privateKey);
    paidTransferId = paid.id;
    expect((await payerBank.transfer(paid.wire)).body).toMatchObject({ status: 'settled', requestId: request.id });
    expect(await merchantBank.paymentRequest(request.id)).toMatchObject({ status: 'paid', paidByTransferId: paid.id });
    const twice = signRequestedTransfer(request.uri, { payerWalletId: aliceWallet, memo: 'again' }, alice.privateKey);
    expect((await payerBank.transfer(twice.wire)).body).toMatchObject({ status: 'rejected', code: 'request_already_paid' });
  });

  it('each bank reads its feed page by page, without gaps or repeats; the merchant’s receiver got the merchant’s feed, signed', async () => {
    const payerFeed = await readFeed(payerBank, 3);
    const merchantFeed = await readFeed(merchantBank, 2);
    for (const feed of [payerFeed, merchantFeed]) expect(new Set(feed.map((e) => e.id)).size).toBe(feed.length);
    const types = (feed: FeedEvent[]) => new Set(feed.map((e) => e.type));
    for (const t of ['treasury.minted', 'transfer.settled', 'transfer.rejected', 'wallet.tier_changed', 'hold.placed', 'hold.captured', 'hold.expired']) expect(types(payerFeed)).toContain(t);
    for (const t of ['treasury.minted', 'payment.received', 'request.paid']) expect(types(merchantFeed)).toContain(t);
    // Neither bank sees the other's events.
    expect(payerFeed.some((e) => e.type === 'request.paid')).toBe(false);
    expect(merchantFeed.some((e) => e.type === 'wallet.tier_changed' || e.type.startsWith('hold.'))).toBe(false);
    const requestPaid = merchantFeed.find((e) => e.type === 'request.paid')!;
    expect(requestPaid.data).toMatchObject({ transferId: paidTransferId });

    const ids = merchantFeed.map((e) => e.id);
    await until('every merchant event delivered', () => (ids.every((id) => receiver.accepted.has(id)) ? true : undefined), 60_000);
    expect(receiver.unverified).toBe(0);
    for (const e of merchantFeed) expect(receiver.accepted.get(e.id)!.event).toMatchObject({ id: e.id, type: e.type });
  });

  it("the paid request's receipt verifies from the documented bytes alone, with the pinned shard keys, and not once tampered", async () => {
    const { body: receipt } = await payerBank.raw<ReceiptJson>('GET', `/v1/transfers/${paidTransferId}/receipt`);
    const keys = new Map((await payerBank.shards()).map((s) => [s.shard, Buffer.from(s.publicKey, 'hex')]));
    // The keys the system was started with: what a bank pins out of band.
    for (const [shard, key] of keys) expect(key.equals(ed25519PublicKeyOfSeed(sys.keys.shards[shard]))).toBe(true);
    expect(verifyReceiptFromDocs(receipt, keys)).toBeNull();
    const tampered = structuredClone(receipt);
    tampered.transfer.amountMinor = (BigInt(tampered.transfer.amountMinor) + 1n).toString();
    expect(verifyReceiptFromDocs(tampered, keys)).not.toBeNull();
  });
});
