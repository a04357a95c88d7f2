import { describe, expect, it } from 'vitest';
import { HOLD_ONLY_CODES, REJECTION_CODES } from '../errors.js';
import { ed25519VerifyRaw, signerFromSeed } from '../crypto.js';
import type { PaymentRequestState } from './requests.js';
import { DAY_MS, settleBatch, type BatchState, type InFlightTransfer, type ItemAuthority, type OriginItem, type SettlementItem, type WalletState } from './settle.js';

const NOW = 1_700_000_000_000;
const TODAY = Math.floor(NOW / DAY_MS);
const YUAN = 100n;

// Real Ed25519 keys: the core verifies authority with the verifier it is given, here the server's.
const customer = signerFromSeed(Buffer.alloc(32, 1));
const bank = signerFromSeed(Buffer.alloc(32, 2));
const stranger = signerFromSeed(Buffer.alloc(32, 3));

/** An authority over a stand-in message (what the message holds is checked before the core, by authorityOf). */
function signedBy(signer: typeof customer, by: ItemAuthority['by'], id: string): ItemAuthority {
  const message = Buffer.from(`message of ${id}`);
  return { by, message, signature: signer.sign(message) };
}

function wallet(id: string, over: Partial<WalletState> = {}): WalletState {
  return { id, bankId: 'bank-a', kind: 'customer', tier: 'II', status: 'active', balanceMinor: 1_000n * YUAN, dailySpentMinor: 0n, dailySpentDay: TODAY, inFlightOutMinor: 0n, heldMinor: 0n, publicKey: customer.publicKey, ...over };
}

function item(over: Partial<OriginItem> = {}): OriginItem {
  const base: OriginItem = {
    type: 'origin',
    id: 'a'.repeat(64),
    kind: 'transfer',
    bankId: 'bank-a',
    payerWalletId: 'w_payer',
    payeeWalletId: 'w_payee',
    amountMinor: 10n * YUAN,
    nonce: 1n,
    expiresAtMs: BigInt(NOW + 60_000),
    payeeRemote: false,
    authority: null,
    ...over,
  };
  if (over.authority === undefined) base.authority = base.kind === 'funding' ? signedBy(bank, 'bank', base.id) : signedBy(customer, 'customer', base.id);
  return base;
}

function state(wallets: WalletState[], over: Partial<BatchState> = {}): BatchState {
  return {
    nowMs: NOW,
    wallets: new Map(wallets.map((w) => [w.id, w])),
    recordedIds: new Set(),
    usedNonces: new Set(),
    recordedCredits: new Map(),
    inFlight: new Map(),
    bankKeys: new Map([['bank-a', bank.publicKey]]),
    verify: ed25519VerifyRaw,
    ...over,
  };
}

function run(it: SettlementItem, payer: Partial<WalletState> | null, payee: Partial<WalletState> | null, extra: { recorded?: string[]; nonces?: string[]; request?: Partial<PaymentRequestState> } = {}) {
  const wallets = [payer && wallet('w_payer', payer), payee && wallet('w_payee', payee)].filter((w): w is WalletState => w !== null);
  const requests = extra.request ? new Map([[REQ, request(extra.request)]]) : undefined;
  return settleBatch([it], state(wallets, { recordedIds: new Set(extra.recorded ?? []), usedNonces: new Set(extra.nonces ?? []), requests }));
}

/** The payment request the rows below name (absent from the state unless given: request_not_found). */
const REQ = `pr_${'1'.repeat(32)}`;
function request(over: Partial<PaymentRequestState> = {}): PaymentRequestState {
  return { id: REQ, bankId: 'bank-a', payeeWalletId: 'w_payee', amountMinor: 10n * YUAN, expiresAtMs: BigInt(NOW + 60_000), status: 'open', ...over };
}
/** A payment that breaks every payer cap and the payee's balance cap, naming REQ with another amount. */
const overCaps = () => item({ amountMinor: 50_001n * YUAN, requestId: REQ });
const overCapsPayer = { balanceMinor: 0n, dailySpentMinor: 100_000n * YUAN };
const overCapsPayee = { balanceMinor: 500_000n * YUAN };

/**
 * Each row breaks its own rule and every rule after it in the precedence order, so the row
 * passes only if the rules are checked in exactly that order.
 */
const BREAK_EVERYTHING_FROM: Record<string, () => ReturnType<typeof run>> = {
  // Before even the duplicate answer: a malformed item is never looked up nor recorded.
  malformed_item: () => run(item({ memo: 'a\u0000b', expiresAtMs: BigInt(NOW - 1) }), { status: 'closed' }, { status: 'closed' }, { recorded: ['a'.repeat(64)], nonces: ['w_payer:1'] }),
  nonce_reused: () => run(item({ expiresAtMs: BigInt(NOW - 1), requestId: REQ }), { status: 'closed' }, { status: 'closed' }, { nonces: ['w_payer:1'] }),
  // A payer of another bank breaks payer_not_found while its key still authorizes the item (with no
  // payer wallet at all there is no key in force, and the item is refused unrecorded, before any rule).
  expired: () => run(item({ expiresAtMs: BigInt(NOW), requestId: REQ }), { bankId: 'bank-b' }, null),
  payer_not_found: () => run(item({ requestId: REQ }), { bankId: 'bank-b' }, null),
  payee_not_found: () => run(item({ requestId: REQ }), { status: 'closed' }, null),
  payer_closed: () => run(item({ requestId: REQ }), { status: 'closed' }, { status: 'closed' }),
  payee_closed: () => run(item({ requestId: REQ }), { status: 'frozen' }, { status: 'closed' }),
  payer_frozen: () => run(item({ amountMinor: 60_000n * YUAN, requestId: REQ }), { status: 'frozen' }, { status: 'frozen' }),
  payee_frozen: () => run(item({ amountMinor: 60_000n * YUAN, requestId: REQ }), { balanceMinor: 0n }, { status: 'frozen' }),
  // The payment request's rules (./requests.ts): after the payee's status, before the caps and funds.
  request_not_found: () => run(overCaps(), overCapsPayer, overCapsPayee),
  request_payee_mismatch: () => run(overCaps(), overCapsPayer, overCapsPayee, { request: { payeeWalletId: 'w_other', status: 'cancelled', expiresAtMs: BigInt(NOW) } }),
  request_cancelled: () => run(overCaps(), overCapsPayer, overCapsPayee, { request: { status: 'cancelled', expiresAtMs: BigInt(NOW) } }),
  request_already_paid: () => run(overCaps(), overCapsPayer, overCapsPayee, { request: { status: 'paid', expiresAtMs: BigInt(NOW) } }),
  request_expired: () => run(overCaps(), overCapsPayer, overCapsPayee, { request: { expiresAtMs: BigInt(NOW) } }),
  request_amount_mismatch: () => run(overCaps(), overCapsPayer, overCapsPayee, { request: {} }),
  exceeds_payment_limit: () => run(item({ amountMinor: 50_001n * YUAN }), { balanceMinor: 0n, dailySpentMinor: 100_000n * YUAN }, { balanceMinor: 500_000n * YUAN }),
  exceeds_daily_limit: () => run(item({ amountMinor: 1n }), { balanceMinor: 0n, dailySpentMinor: 100_000n * YUAN }, { balanceMinor: 500_000n * YUAN }),
  insufficient_funds: () => run(item({ amountMinor: 101n }), { balanceMinor: 100n }, { balanceMinor: 500_000n * YUAN }),
  exceeds_balance_limit: () => run(item({ amountMinor: 101n }), { balanceMinor: 1000n }, { balanceMinor: 500_000n * YUAN - 100n }),
};

describe('settleBatch result codes in precedence order', () => {
  it('covers every rejection code of a transfer in the catalogue, in catalogue order (those of holds: holds.test.ts)', () => {
    expect(Object.keys(BREAK_EVERYTHING_FROM)).toEqual(REJECTION_CODES.filter((c) => !HOLD_ONLY_CODES.includes(c)));
  });

  for (const [code, scenario] of Object.entries(BREAK_EVERYTHING_FROM)) {
    it(`rejects with ${code} and changes no wallet`, () => {
      const result = scenario();
      expect(result.outcomes).toEqual([{ status: 'rejected', code }]);
      // A malformed item cannot be stored, so it is answered and not recorded (no leaf).
      if (code === 'malformed_item') expect(result.leaves).toHaveLength(0);
      else expect(result.leaves).toMatchObject([{ type: 'transfer', legStatus: 'rejected', code }]);
      expect(result.changedWallets.size).toBe(0);
    });
  }

  it('rejects a payer of another bank as payer_not_found and moves nothing, even when everything else would pass', () => {
    const result = run(item({ bankId: 'bank-b' }), {}, {});
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'payer_not_found' }]);
    expect(result.changedWallets.size).toBe(0);
    expect(run(item(), {}, {}).outcomes).toEqual([{ status: 'settled' }]);
  });

  it('answers duplicate before any other rule and records nothing', () => {
    const result = run(item(), { bankId: 'bank-b' }, null, { recorded: ['a'.repeat(64)], nonces: ['w_payer:1'] });
    expect(result.outcomes).toEqual([{ status: 'duplicate' }]);
    expect(result.leaves).toHaveLength(0);
  });
});

describe('settleBatch refuses items the store cannot hold, one item at a time', () => {
  const malformed: Array<[string, Partial<OriginItem>]> = [
    ['a NUL in the memo', { memo: 'lunch\u0000' }],
    ['a C1 control in the memo', { memo: 'a\u0085b' }],
    ['a lone surrogate in the memo', { memo: 'a\ud800b' }],
    ['a memo not in NFC', { memo: 'e\u0301' }],
    ['a memo over 140 bytes', { memo: '午'.repeat(47) }],
    ['a transfer id that is not 64 hex digits', { id: 'a'.repeat(65) }],
    ['a NUL in a wallet id', { payeeWalletId: 'w_pay\u0000ee' }],
    ['a bank id longer than 64 characters', { bankId: 'b'.repeat(65) }],
    ['an amount above 2^63-1', { amountMinor: 2n ** 63n }],
    ['a zero amount', { amountMinor: 0n }],
    ['a negative nonce', { nonce: -1n }],
    ['a transfer without a nonce', { nonce: null }],
    ['an expiry above 2^63-1', { expiresAtMs: 2n ** 63n }],
  ];
  for (const [name, over] of malformed) {
    it(`answers ${name} malformed_item, records nothing, and settles its neighbours`, () => {
      const good = item({ id: 'b'.repeat(64), nonce: 2n, amountMinor: 5n });
      const wallets = [wallet('w_payer'), wallet('w_payee')];
      const result = settleBatch([item(over), good], state(wallets));
      expect(result.outcomes).toEqual([{ status: 'rejected', code: 'malformed_item' }, { status: 'settled' }]);
      expect(result.leaves).toHaveLength(1);
      expect(result.changedWallets.get('w_payee')?.balanceMinor).toBe(1_000n * YUAN + 5n);
    });
  }

  it('accepts a printable NFC memo of up to 140 bytes with emoji and CJK', () => {
    const memo = `${'午'.repeat(43)}👍🏽ok`;
    expect(Buffer.byteLength(memo)).toBeLessThanOrEqual(140);
    expect(run(item({ memo }), {}, {}).outcomes).toEqual([{ status: 'settled' }]);
  });
});

describe('settleBatch effects', () => {
  it('moves the amount and counts it against the payer daily outflow', () => {
    const result = run(item({ amountMinor: 250n }), { balanceMinor: 1000n, dailySpentMinor: 5n }, { balanceMinor: 0n });
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
    expect(result.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 750n, dailySpentMinor: 255n });
    expect(result.changedWallets.get('w_payee')).toMatchObject({ balanceMinor: 250n });
  });

  it('resets the daily outflow on a new UTC day', () => {
    const result = run(item({ amountMinor: 100n }), { dailySpentMinor: 100_000n * YUAN, dailySpentDay: TODAY - 1 }, {});
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
    expect(result.changedWallets.get('w_payer')!.dailySpentMinor).toBe(100n);
  });

  it('exempts redemptions to a treasury from payment caps but not from the balance check', () => {
    const wallets = [wallet('w_payer', { tier: 'IV', balanceMinor: 9_000n * YUAN }), wallet('t_bank-a', { kind: 'treasury', tier: null, balanceMinor: 0n })];
    const redeem = item({ payeeWalletId: 't_bank-a', amountMinor: 9_000n * YUAN });
    const result = settleBatch([redeem, item({ id: 'b'.repeat(64), nonce: 2n, payeeWalletId: 't_bank-a', amountMinor: 1n })], state(wallets));
    expect(result.outcomes).toEqual([{ status: 'settled' }, { status: 'rejected', code: 'insufficient_funds' }]);
    expect(result.changedWallets.get('w_payer')!.dailySpentMinor).toBe(0n);
  });

  it('applies items in order against the state left by earlier items of the same batch', () => {
    const wallets = [wallet('w_payer', { balanceMinor: 100n }), wallet('w_payee', { balanceMinor: 0n })];
    const items = [
      item({ id: '1'.repeat(64), nonce: 1n, amountMinor: 60n }),
      item({ id: '2'.repeat(64), nonce: 2n, amountMinor: 60n }),
      item({ id: '3'.repeat(64), nonce: 3n, payerWalletId: 'w_payee', payeeWalletId: 'w_payer', amountMinor: 60n }),
      item({ id: '1'.repeat(64), nonce: 1n, amountMinor: 60n }),
      item({ id: '4'.repeat(64), nonce: 2n, amountMinor: 1n }),
    ];
    const s = state(wallets);
    const result = settleBatch(items, s);
    expect(result.outcomes).toEqual([{ status: 'settled' }, { status: 'rejected', code: 'insufficient_funds' }, { status: 'settled' }, { status: 'duplicate' }, { status: 'rejected', code: 'nonce_reused' }]);
    expect(result.changedWallets.get('w_payer')!.balanceMinor).toBe(100n);
    expect(result.changedWallets.get('w_payee')!.balanceMinor).toBe(0n);
    expect(s.wallets.get('w_payer')!.balanceMinor).toBe(100n);
  });

  it('treats a credit that would overflow 2^63-1 as over the balance limit', () => {
    const wallets = [wallet('t_bank-a', { kind: 'treasury', tier: null, balanceMinor: 2n ** 63n - 1n }), wallet('w_payer', { tier: 'I', balanceMinor: 5n })];
    const result = settleBatch([item({ payeeWalletId: 't_bank-a', amountMinor: 5n })], state(wallets));
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'exceeds_balance_limit' }]);
  });
});

describe('transfers between shards', () => {
  const remote = (over: Partial<OriginItem> = {}) => item({ payeeRemote: true, payeeWalletId: 'w_remote', ...over });
  const flight = (over: Partial<InFlightTransfer> = {}): InFlightTransfer => ({ payerWalletId: 'w_payer', payeeWalletId: 'w_remote', amountMinor: 300n, countedAsPayment: true, debitDay: TODAY, ...over });

  it('debits the payer, holds the money in flight and sends a credit; payee rules wait for the payee shard', () => {
    const result = settleBatch([remote({ amountMinor: 300n })], state([wallet('w_payer', { balanceMinor: 1000n })]));
    expect(result.outcomes).toEqual([{ status: 'debited' }]);
    expect(result.leaves).toMatchObject([{ type: 'transfer', legStatus: 'debited', code: null }]);
    expect(result.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 700n, inFlightOutMinor: 300n, dailySpentMinor: 300n });
    expect(result.creditsToSend).toEqual([{ id: 'a'.repeat(64), payeeWalletId: 'w_remote', amountMinor: 300n }]);
  });

  it('still applies payer rules to a remote payment', () => {
    const result = settleBatch([remote({ amountMinor: 2_001n * YUAN })], state([wallet('w_payer', { tier: 'IV', balanceMinor: 5_000n * YUAN })]));
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'exceeds_payment_limit' }]);
    expect(result.creditsToSend).toEqual([]);
  });

  it('applies a credit at the payee shard and answers applied', () => {
    const credit: SettlementItem = { type: 'credit', id: 'c'.repeat(64), payeeWalletId: 'w_payee', amountMinor: 300n, fromShard: 1 };
    const result = settleBatch([credit], state([wallet('w_payee', { balanceMinor: 0n })]));
    expect(result.outcomes).toEqual([{ status: 'applied' }]);
    expect(result.leaves).toMatchObject([{ type: 'leg', leg: 'credit', status: 'applied', walletId: 'w_payee', amountMinor: 300n }]);
    expect(result.changedWallets.get('w_payee')!.balanceMinor).toBe(300n);
    expect(result.resultsToSend).toEqual([{ id: 'c'.repeat(64), toShard: 1, status: 'applied', code: null }]);
  });

  it.each([
    ['payee_not_found', null],
    ['payee_closed', { status: 'closed' as const }],
    ['payee_frozen', { status: 'frozen' as const }],
    ['exceeds_balance_limit', { tier: 'IV' as const, balanceMinor: 9_000n * YUAN, inFlightOutMinor: 1_000n * YUAN }],
  ])('rejects a credit with %s, changes nothing, and answers with the code', (code, payee) => {
    const credit: SettlementItem = { type: 'credit', id: 'c'.repeat(64), payeeWalletId: 'w_payee', amountMinor: 1n, fromShard: 2 };
    const result = settleBatch([credit], state(payee ? [wallet('w_payee', payee)] : []));
    expect(result.outcomes).toEqual([{ status: 'rejected', code }]);
    expect(result.changedWallets.size).toBe(0);
    expect(result.resultsToSend).toEqual([{ id: 'c'.repeat(64), toShard: 2, status: 'rejected', code }]);
  });

  it('answers a repeated credit with the recorded result and applies nothing', () => {
    const credit: SettlementItem = { type: 'credit', id: 'c'.repeat(64), payeeWalletId: 'w_payee', amountMinor: 300n, fromShard: 1 };
    const result = settleBatch([credit, credit], state([wallet('w_payee')], { recordedCredits: new Map([['c'.repeat(64), { status: 'applied', code: null, fromShard: 1 }]]) }));
    expect(result.outcomes).toEqual([{ status: 'duplicate' }, { status: 'duplicate' }]);
    expect(result.leaves).toEqual([]);
    expect(result.changedWallets.size).toBe(0);
    expect(result.resultsToSend).toEqual([
      { id: 'c'.repeat(64), toShard: 1, status: 'applied', code: null },
      { id: 'c'.repeat(64), toShard: 1, status: 'applied', code: null },
    ]);
  });

  it('settles the transfer when the credit was applied, releasing the in-flight amount', () => {
    const result = settleBatch(
      [{ type: 'credit_result', id: 'c'.repeat(64), status: 'applied', code: null, fromShard: 1 }],
      state([wallet('w_payer', { balanceMinor: 700n, inFlightOutMinor: 300n })], { inFlight: new Map([['c'.repeat(64), flight()]]) }),
    );
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
    expect(result.finalized).toEqual([{ id: 'c'.repeat(64), status: 'settled', code: null }]);
    expect(result.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 700n, inFlightOutMinor: 0n });
    expect(result.leaves).toEqual([]);
  });

  it('refunds the payer exactly once when the credit was rejected, whatever the payer status, and gives back the daily allowance', () => {
    const payer = wallet('w_payer', { status: 'frozen', balanceMinor: 700n, inFlightOutMinor: 300n, dailySpentMinor: 300n });
    const rejected: SettlementItem = { type: 'credit_result', id: 'c'.repeat(64), status: 'rejected', code: 'payee_frozen', fromShard: 1 };
    const result = settleBatch([rejected, rejected], state([payer], { inFlight: new Map([['c'.repeat(64), flight()]]) }));
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'payee_frozen' }, { status: 'duplicate' }]);
    expect(result.changedWallets.get('w_payer')).toMatchObject({ balanceMinor: 1000n, inFlightOutMinor: 0n, dailySpentMinor: 0n });
    expect(result.leaves).toMatchObject([{ type: 'leg', leg: 'refund', status: 'applied', walletId: 'w_payer', amountMinor: 300n, code: 'payee_frozen' }]);
    expect(result.finalized).toEqual([{ id: 'c'.repeat(64), status: 'rejected', code: 'payee_frozen' }]);
  });

  it('ignores a result for a transfer that is no longer in flight', () => {
    const result = settleBatch([{ type: 'credit_result', id: 'c'.repeat(64), status: 'rejected', code: 'payee_frozen', fromShard: 1 }], state([wallet('w_payer')]));
    expect(result.outcomes).toEqual([{ status: 'duplicate' }]);
    expect(result.changedWallets.size).toBe(0);
  });

  it('counts money in flight outwards against the payee balance cap, so that a refund always fits', () => {
    const payee = wallet('w_payee', { tier: 'IV', balanceMinor: 5_000n * YUAN, inFlightOutMinor: 5_000n * YUAN });
    const result = settleBatch([item({ amountMinor: 1n })], state([wallet('w_payer'), payee]));
    expect(result.outcomes).toEqual([{ status: 'rejected', code: 'exceeds_balance_limit' }]);
  });
});

describe('authority: an item settles only on a signature that holds against the key in force', () => {
  const payer = () => wallet('w_payer');
  const payee = () => wallet('w_payee', { publicKey: stranger.publicKey });
  const unauthorized = (it: OriginItem, wallets = [payer(), payee()], over: Partial<BatchState> = {}) => {
    const result = settleBatch([it], state(wallets, over));
    expect(result.outcomes).toEqual([{ status: 'unauthorized' }]);
    // Nothing recorded, nothing moved: a forger cannot spend the owner's id or nonce.
    expect(result.leaves).toEqual([]);
    expect(result.changedWallets.size).toBe(0);
  };

  it('refuses a transfer without an authority', () => unauthorized(item({ authority: null })));
  it("refuses a transfer signed by another key than the payer wallet's", () => unauthorized(item({ authority: signedBy(stranger, 'customer', 'a'.repeat(64)) })));
  it('refuses a transfer whose signature is over other bytes', () => {
    const a = signedBy(customer, 'customer', 'a'.repeat(64));
    unauthorized(item({ authority: { ...a, message: Buffer.from('other bytes') } }));
  });
  it("refuses a transfer once the payer wallet's key in force is another one", () => unauthorized(item(), [wallet('w_payer', { publicKey: stranger.publicKey }), payee()]));
  it("refuses a transfer from a wallet with no customer key (a treasury pays by its bank's authority)", () => unauthorized(item(), [wallet('w_payer', { kind: 'treasury', tier: null, publicKey: null }), payee()]));
  it('refuses a customer-signed item presented as a funding', () => unauthorized(item({ kind: 'funding', nonce: null, authority: signedBy(customer, 'customer', 'a'.repeat(64)) })));
  it("refuses a funding signed by another bank's key, or by a bank whose key is unknown", () => {
    unauthorized(item({ kind: 'funding', nonce: null, authority: signedBy(stranger, 'bank', 'a'.repeat(64)) }));
    unauthorized(item({ kind: 'funding', nonce: null }), [payer(), payee()], { bankKeys: new Map() });
  });
  it("settles a funding signed by its bank's key", () => {
    const result = settleBatch([item({ kind: 'funding', nonce: null, expiresAtMs: null })], state([wallet('w_payer', { kind: 'treasury', tier: null, publicKey: null }), payee()]));
    expect(result.outcomes).toEqual([{ status: 'settled' }]);
  });
  it('lets the genuine item settle after a forged one with its id in the same batch', () => {
    const forged = item({ authority: signedBy(stranger, 'customer', 'a'.repeat(64)) });
    const result = settleBatch([forged, item()], state([payer(), payee()]));
    expect(result.outcomes).toEqual([{ status: 'unauthorized' }, { status: 'settled' }]);
  });
  it('checks authority before everything else, duplicates included', () => {
    const result = settleBatch([item({ authority: null })], state([payer(), payee()], { recordedIds: new Set(['a'.repeat(64)]) }));
    expect(result.outcomes).toEqual([{ status: 'unauthorized' }]);
  });
});

describe('events for the banks', () => {
  const kinds = (r: ReturnType<typeof run>) => r.events.map((e) => `${e.bankId} ${e.type} ${e.walletId} ${e.amountMinor} ${e.code ?? ''}`.trim());

  it('a local transfer tells the payer bank it settled and the payee bank it received the money', () => {
    const r = run(item(), {}, { bankId: 'bank-b' });
    expect(kinds(r)).toEqual(['bank-a transfer.settled w_payer 1000', 'bank-b payment.received w_payee 1000']);
    expect(r.events.every((e) => e.subjectId === 'a'.repeat(64))).toBe(true);
  });

  it('a rejected transfer tells its bank with the code; an unauthorized or duplicate one tells nobody', () => {
    expect(kinds(run(item(), { balanceMinor: 1n }, {}))).toEqual(['bank-a transfer.rejected w_payer 1000 insufficient_funds']);
    expect(run(item({ authority: signedBy(stranger, 'customer', 'x') }), {}, {}).events).toEqual([]);
    expect(run(item(), {}, {}, { recorded: ['a'.repeat(64)] }).events).toEqual([]);
  });

  it('across shards: the payee shard tells the payee bank on credit, the payer shard tells the payer bank when the result closes it', () => {
    const debit = run(item({ payeeRemote: true }), {}, null);
    expect(debit.events).toEqual([]);
    const credit = settleBatch([{ type: 'credit', id: 'c'.repeat(64), payeeWalletId: 'w_payee', amountMinor: 300n, fromShard: 1 }], state([wallet('w_payee', { bankId: 'bank-b' })]));
    expect(kinds(credit)).toEqual(['bank-b payment.received w_payee 300']);
    const inFlight = new Map([['c'.repeat(64), { payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: 300n, countedAsPayment: true, debitDay: TODAY }]]);
    const closed = settleBatch([{ type: 'credit_result', id: 'c'.repeat(64), status: 'rejected', code: 'payee_frozen', fromShard: 1 }], state([wallet('w_payer', { inFlightOutMinor: 300n })], { inFlight }));
    expect(kinds(closed)).toEqual(['bank-a transfer.rejected w_payer 300 payee_frozen']);
  });
});
