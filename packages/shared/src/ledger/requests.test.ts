import { describe, expect, it } from 'vitest';
import { ed25519VerifyRaw, signerFromSeed } from '../crypto.js';
import { checkRequestPayment, type PaymentRequestState } from './requests.js';
import { DAY_MS, settleBatch, type BatchState, type OriginItem, type SettlementItem, type WalletState } from './settle.js';

const NOW = 1_700_000_000_000;
const TODAY = Math.floor(NOW / DAY_MS);
const REQ = `pr_${'a'.repeat(32)}`;
const customer = signerFromSeed(Buffer.alloc(32, 1));

function wallet(id: string, over: Partial<WalletState> = {}): WalletState {
  return { id, bankId: 'bank-a', kind: 'customer', tier: 'II', status: 'active', balanceMinor: 100_000n, dailySpentMinor: 0n, dailySpentDay: TODAY, inFlightOutMinor: 0n, heldMinor: 0n, publicKey: customer.publicKey, ...over };
}

function request(over: Partial<PaymentRequestState> = {}): PaymentRequestState {
  return { id: REQ, bankId: 'bank-b', payeeWalletId: 'w_payee', amountMinor: 500n, expiresAtMs: BigInt(NOW + 60_000), status: 'open', ...over };
}

let nextId = 0;
function pay(over: Partial<OriginItem> = {}): OriginItem {
  const id = (++nextId).toString(16).padStart(64, '0');
  const message = Buffer.from(`message of ${id}`);
  return {
    type: 'origin',
    id,
    kind: 'transfer',
    bankId: 'bank-a',
    payerWalletId: 'w_payer',
    payeeWalletId: 'w_payee',
    amountMinor: 500n,
    nonce: BigInt(nextId),
    expiresAtMs: BigInt(NOW + 60_000),
    payeeRemote: false,
    authority: { by: 'customer', message, signature: customer.sign(message) },
    requestId: REQ,
    ...over,
  };
}

function credit(over: Partial<Extract<SettlementItem, { type: 'credit' }>> = {}): SettlementItem {
  return { type: 'credit', id: (++nextId).toString(16).padStart(64, '0'), payeeWalletId: 'w_payee', amountMinor: 500n, fromShard: 3, requestId: REQ, ...over };
}

function state(requests: PaymentRequestState[], wallets: WalletState[] = [wallet('w_payer'), wallet('w_payee', { bankId: 'bank-b', balanceMinor: 0n })]): BatchState {
  return {
    nowMs: NOW,
    wallets: new Map(wallets.map((w) => [w.id, w])),
    recordedIds: new Set(),
    usedNonces: new Set(),
    recordedCredits: new Map(),
    inFlight: new Map(),
    bankKeys: new Map(),
    verify: ed25519VerifyRaw,
    requests: new Map(requests.map((r) => [r.id, r])),
  };
}

describe('checkRequestPayment, in precedence order', () => {
  it.each([
    ['request_not_found', undefined, 500n],
    ['request_payee_mismatch', request({ payeeWalletId: 'w_other', status: 'paid', expiresAtMs: 0n }), 1n],
    ['request_cancelled', request({ status: 'cancelled', expiresAtMs: 0n }), 1n],
    ['request_already_paid', request({ status: 'paid', expiresAtMs: 0n }), 1n],
    ['request_expired', request({ expiresAtMs: BigInt(NOW) }), 1n],
    ['request_amount_mismatch', request(), 499n],
  ] as const)('%s', (code, req, amount) => expect(checkRequestPayment(req, 'w_payee', amount, NOW)).toBe(code));

  it('takes the fixed amount exactly, and any amount for an open-amount request', () => {
    expect(checkRequestPayment(request(), 'w_payee', 500n, NOW)).toBeNull();
    expect(checkRequestPayment(request({ amountMinor: null }), 'w_payee', 1n, NOW)).toBeNull();
    expect(checkRequestPayment(request({ amountMinor: null }), 'w_payee', 10n ** 15n, NOW)).toBeNull();
    expect(checkRequestPayment(request({ expiresAtMs: BigInt(NOW + 1) }), 'w_payee', 500n, NOW)).toBeNull();
  });
});

describe('settleBatch pays a request at most once, where it lives', () => {
  it('a transfer within the shard pays the request: settled, marked paid, the payee bank told', () => {
    const t = pay();
    const r = settleBatch([t], state([request()]));
    expect(r.outcomes).toEqual([{ status: 'settled' }]);
    expect(r.paidRequests).toEqual([{ id: REQ, transferId: t.id, bankId: 'bank-b', payeeWalletId: 'w_payee', amountMinor: 500n }]);
    expect(r.events.map((e) => [e.bankId, e.type, e.subjectId])).toEqual([
      ['bank-a', 'transfer.settled', t.id],
      ['bank-b', 'payment.received', t.id],
      ['bank-b', 'request.paid', REQ],
    ]);
    expect(r.events[1].data).toMatchObject({ requestId: REQ });
    expect(r.events[2]).toMatchObject({ walletId: 'w_payee', amountMinor: 500n, data: { transferId: t.id } });
  });

  it('a second transfer naming it in the same batch is request_already_paid and moves nothing', () => {
    const first = pay();
    const second = pay({ payerWalletId: 'w_payer2' });
    const r = settleBatch([first, second], state([request()], [wallet('w_payer'), wallet('w_payer2'), wallet('w_payee', { balanceMinor: 0n })]));
    expect(r.outcomes).toEqual([{ status: 'settled' }, { status: 'rejected', code: 'request_already_paid' }]);
    expect(r.paidRequests.map((p) => p.transferId)).toEqual([first.id]);
    expect(r.changedWallets.get('w_payer2')).toBeUndefined();
    expect(r.changedWallets.get('w_payee')!.balanceMinor).toBe(500n);
  });

  it('a payment refused for another reason leaves the request open for the next one', () => {
    const poor = pay({ payerWalletId: 'w_poor' });
    const next = pay();
    const r = settleBatch([poor, next], state([request()], [wallet('w_poor', { balanceMinor: 1n }), wallet('w_payer'), wallet('w_payee', { balanceMinor: 0n })]));
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'insufficient_funds' }, { status: 'settled' }]);
    expect(r.paidRequests.map((p) => p.transferId)).toEqual([next.id]);
  });

  it.each([
    ['request_not_found', [] as PaymentRequestState[]],
    ['request_payee_mismatch', [request({ payeeWalletId: 'w_other' })]],
    ['request_cancelled', [request({ status: 'cancelled' })]],
    ['request_already_paid', [request({ status: 'paid' })]],
    ['request_expired', [request({ expiresAtMs: BigInt(NOW) })]],
    ['request_amount_mismatch', [request({ amountMinor: 501n })]],
  ])('refuses %s at origin: recorded rejected, nothing moved, nothing paid', (code, requests) => {
    const r = settleBatch([pay()], state(requests));
    expect(r.outcomes).toEqual([{ status: 'rejected', code }]);
    expect(r.leaves).toMatchObject([{ type: 'transfer', legStatus: 'rejected', code }]);
    expect(r.changedWallets.size).toBe(0);
    expect(r.paidRequests).toEqual([]);
    expect(r.events.map((e) => e.type)).toEqual(['transfer.rejected']);
  });

  it('an open-amount request takes the amount the payer chose', () => {
    const r = settleBatch([pay({ amountMinor: 1234n })], state([request({ amountMinor: null })]));
    expect(r.outcomes).toEqual([{ status: 'settled' }]);
    expect(r.paidRequests[0].amountMinor).toBe(1234n);
  });

  it('a transfer without a request (v1) is untouched by the rules and pays nothing', () => {
    const r = settleBatch([pay({ requestId: null })], state([]));
    expect(r.outcomes).toEqual([{ status: 'settled' }]);
    expect(r.paidRequests).toEqual([]);
  });

  it('refuses a funding that names a request as malformed (its bank signed no request), unrecorded', () => {
    const funding = pay({ kind: 'funding', nonce: null, authority: null });
    const bank = signerFromSeed(Buffer.alloc(32, 9));
    const message = Buffer.from('funding');
    const r = settleBatch([{ ...funding, authority: { by: 'bank', message, signature: bank.sign(message) } }], { ...state([request()]), bankKeys: new Map([['bank-a', bank.publicKey]]) });
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'malformed_item' }]);
    expect(r.paidRequests).toEqual([]);
  });

  it('refuses a malformed request id unrecorded', () => {
    const r = settleBatch([pay({ requestId: 'pr_\u0000' })], state([request()]));
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'malformed_item' }]);
    expect(r.leaves).toEqual([]);
  });
});

describe('across shards: the credit carries the request to the payee shard', () => {
  it("the payer's shard checks no request (it lives with the payee) and forwards the id with the credit", () => {
    const t = pay({ payeeRemote: true, payeeWalletId: 'w_remote' });
    const r = settleBatch([t], state([], [wallet('w_payer')]));
    expect(r.outcomes).toEqual([{ status: 'debited' }]);
    expect(r.creditsToSend).toEqual([{ id: t.id, payeeWalletId: 'w_remote', amountMinor: 500n, requestId: REQ }]);
    expect(r.paidRequests).toEqual([]);
  });

  it('the payee shard applies the credit and marks the request paid', () => {
    const c = credit();
    const r = settleBatch([c], state([request()]));
    expect(r.outcomes).toEqual([{ status: 'applied' }]);
    expect(r.paidRequests).toMatchObject([{ id: REQ, transferId: c.id }]);
    expect(r.events.map((e) => e.type)).toEqual(['payment.received', 'request.paid']);
  });

  it('refuses a credit for the request (the payer is refunded by the result), and a second credit naming it in one batch', () => {
    const first = credit();
    const second = credit();
    const r = settleBatch([first, second], state([request()]));
    expect(r.outcomes).toEqual([{ status: 'applied' }, { status: 'rejected', code: 'request_already_paid' }]);
    expect(r.resultsToSend).toEqual([
      { id: first.id, toShard: 3, status: 'applied', code: null },
      { id: second.id, toShard: 3, status: 'rejected', code: 'request_already_paid' },
    ]);
    expect(r.changedWallets.get('w_payee')!.balanceMinor).toBe(500n);
  });

  it.each([
    ['request_amount_mismatch', request({ amountMinor: 1n })],
    ['request_expired', request({ expiresAtMs: 1n })],
    ['request_cancelled', request({ status: 'cancelled' })],
  ])('rejects a credit with %s and answers the code to the payer shard', (code, req) => {
    const c = credit();
    const r = settleBatch([c], state([req]));
    expect(r.outcomes).toEqual([{ status: 'rejected', code }]);
    expect(r.leaves).toMatchObject([{ type: 'leg', leg: 'credit', status: 'rejected', code }]);
    expect(r.resultsToSend).toEqual([{ id: c.id, toShard: 3, status: 'rejected', code }]);
    expect(r.changedWallets.size).toBe(0);
  });

  it("the payee's own rules come first: a frozen payee is payee_frozen even for a paid request", () => {
    const r = settleBatch([credit()], state([request({ status: 'paid' })], [wallet('w_payee', { status: 'frozen' })]));
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'payee_frozen' }]);
  });

  it('the refund of a credit refused for its request returns the money once, with the code', () => {
    const id = 'e'.repeat(64);
    const inFlight = new Map([[id, { payerWalletId: 'w_payer', payeeWalletId: 'w_remote', amountMinor: 500n, countedAsPayment: true, debitDay: TODAY }]]);
    const result: SettlementItem = { type: 'credit_result', id, status: 'rejected', code: 'request_already_paid', fromShard: 3 };
    const r = settleBatch([result, result], { ...state([], [wallet('w_payer', { balanceMinor: 0n, inFlightOutMinor: 500n, dailySpentMinor: 500n })]), inFlight });
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'request_already_paid' }, { status: 'duplicate' }]);
    expect(r.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 500n, inFlightOutMinor: 0n, dailySpentMinor: 0n });
  });
});
