import { describe, expect, it } from 'vitest';
import { encodeHold, holdIdOf } from '../canonical-hold.js';
import { ed25519VerifyRaw, signerFromSeed } from '../crypto.js';
import { HOLD_ONLY_CODES, REJECTION_CODES, type RejectionCode } from '../errors.js';
import { HOLD_DURATION_MS_MAX, type HoldActionItem, type HoldBatchState, type HoldItem, type HoldRecord } from './holds.js';
import { DAY_MS, settleBatch, type BatchState, type SettlementItem, type WalletState } from './settle.js';

const NOW = 1_700_000_000_000;
const TODAY = Math.floor(NOW / DAY_MS);
const YUAN = 100n;
const HOUR = 3_600_000;

const customer = signerFromSeed(Buffer.alloc(32, 1));
const bankA = signerFromSeed(Buffer.alloc(32, 2));
const bankB = signerFromSeed(Buffer.alloc(32, 4));
const stranger = signerFromSeed(Buffer.alloc(32, 3));

function wallet(id: string, over: Partial<WalletState> = {}): WalletState {
  return { id, bankId: 'bank-a', kind: 'customer', tier: 'II', status: 'active', balanceMinor: 1_000n * YUAN, dailySpentMinor: 0n, dailySpentDay: TODAY, inFlightOutMinor: 0n, heldMinor: 0n, publicKey: customer.publicKey, ...over };
}

/** A hold signed by the payer's customer key over its canonical bytes (its id is their hash). */
function hold(over: Partial<Omit<HoldItem, 'id' | 'authority'>> = {}, signer = customer): HoldItem {
  const h = { payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: 100n * YUAN, nonce: 1n, expiresAtMs: BigInt(NOW + 60_000), holdExpiresAtMs: BigInt(NOW + HOUR), memo: 'deposit', bankId: 'bank-a', ...over };
  const message = encodeHold(h);
  return { type: 'hold', id: holdIdOf(message), ...h, authority: { by: 'customer', message, signature: signer.sign(message) } };
}

const HOLD_ID = 'c'.repeat(64);

function record(over: Partial<HoldRecord> = {}): HoldRecord {
  return {
    id: HOLD_ID,
    bankId: 'bank-a',
    payerWalletId: 'w_payer',
    payeeWalletId: 'w_payee',
    payeeBankId: 'bank-b',
    amountMinor: 100n * YUAN,
    holdExpiresAtMs: BigInt(NOW + HOUR),
    status: 'open',
    closedBy: null,
    payeeRemote: false,
    ...over,
  };
}

/** A capture or void by `bankId`, signed with `signer` (the bank's key unless a forger's). */
function action(type: HoldActionItem['type'], bankId: string, over: Partial<HoldActionItem> = {}, signer = bankId === 'bank-a' ? bankA : bankB): HoldActionItem {
  const id = over.id ?? `${type === 'hold_capture' ? 'd' : 'e'}${bankId === 'bank-a' ? 'a' : 'b'}`.padEnd(64, '0');
  const message = Buffer.from(`signed request ${id}`);
  return { type, id, holdId: HOLD_ID, bankId, amountMinor: type === 'hold_capture' ? 60n * YUAN : null, authority: { by: 'bank', message, signature: signer.sign(message) }, ...over };
}
const capture = (amount: bigint, over: Partial<HoldActionItem> = {}) => action('hold_capture', 'bank-b', { amountMinor: amount, ...over });
const voidBy = (bankId: string, over: Partial<HoldActionItem> = {}) => action('hold_void', bankId, over);

/** The payer holds 100 yuan in HOLD_ID (unless `payerOver` says otherwise). */
function state(
  o: {
    payer?: Partial<WalletState>;
    payee?: Partial<WalletState> | null;
    holds?: HoldRecord[];
    payeeBanks?: Record<string, string>;
    remote?: string[];
    flights?: HoldBatchState['capturesInFlight'];
    nowMs?: number;
    recorded?: string[];
    nonces?: string[];
  } = {},
): BatchState {
  const wallets = [wallet('w_payer', { heldMinor: (o.holds ?? []).filter((h) => h.status === 'open').reduce((s, h) => s + h.amountMinor, 0n), ...o.payer })];
  if (o.payee !== null) wallets.push(wallet('w_payee', { bankId: 'bank-b', balanceMinor: 0n, ...o.payee }));
  return {
    nowMs: o.nowMs ?? NOW,
    wallets: new Map(wallets.map((w) => [w.id, w])),
    recordedIds: new Set(o.recorded ?? []),
    usedNonces: new Set(o.nonces ?? []),
    recordedCredits: new Map(),
    inFlight: new Map(),
    bankKeys: new Map([
      ['bank-a', bankA.publicKey],
      ['bank-b', bankB.publicKey],
    ]),
    verify: ed25519VerifyRaw,
    holds: {
      records: new Map((o.holds ?? []).map((h) => [h.id, h])),
      payeeBanks: new Map(Object.entries(o.payeeBanks ?? { w_payee: 'bank-b' })),
      remotePayees: new Set(o.remote ?? []),
      capturesInFlight: o.flights ?? new Map(),
    },
  };
}

const settle = (items: SettlementItem[], s: BatchState) => settleBatch(items, s);
const walletAfter = (r: ReturnType<typeof settle>, s: BatchState, id: string) => r.changedWallets.get(id) ?? s.wallets.get(id)!;

describe('placing a hold: rules in precedence order', () => {
  /** Each row breaks its own rule and every later one, so it passes only if the rules run in exactly this order. */
  const BREAK_FROM: Record<string, () => { item: HoldItem; s: BatchState }> = {
    nonce_reused: () => ({ item: hold({ expiresAtMs: BigInt(NOW - 1) }), s: state({ payer: { status: 'closed' }, nonces: ['w_payer:1'], payeeBanks: {} }) }),
    expired: () => ({ item: hold({ expiresAtMs: BigInt(NOW), holdExpiresAtMs: BigInt(NOW) }), s: state({ payer: { bankId: 'bank-b' }, payeeBanks: {} }) }),
    hold_expiry_invalid: () => ({ item: hold({ holdExpiresAtMs: BigInt(NOW + HOLD_DURATION_MS_MAX + 1) }), s: state({ payer: { bankId: 'bank-b' }, payeeBanks: {} }) }),
    payer_not_found: () => ({ item: hold(), s: state({ payer: { bankId: 'bank-b' }, payeeBanks: {} }) }),
    payee_not_found: () => ({ item: hold(), s: state({ payer: { status: 'closed' }, payeeBanks: {} }) }),
    payer_closed: () => ({ item: hold(), s: state({ payer: { status: 'closed' } }) }),
    payer_frozen: () => ({ item: hold({ amountMinor: 60_000n * YUAN }), s: state({ payer: { status: 'frozen', dailySpentMinor: 100_000n * YUAN, balanceMinor: 0n } }) }),
    exceeds_payment_limit: () => ({ item: hold({ amountMinor: 50_001n * YUAN }), s: state({ payer: { dailySpentMinor: 100_000n * YUAN, balanceMinor: 0n } }) }),
    exceeds_daily_limit: () => ({ item: hold({ amountMinor: 1n }), s: state({ payer: { dailySpentMinor: 100_000n * YUAN, balanceMinor: 0n } }) }),
    insufficient_funds: () => ({ item: hold({ amountMinor: 101n }), s: state({ payer: { balanceMinor: 100n } }) }),
  };

  it('covers the placement codes of the catalogue in its order', () => {
    const placement = REJECTION_CODES.filter(
      (c) => c !== 'malformed_item' && !['payee_closed', 'payee_frozen', 'exceeds_balance_limit'].includes(c) && (!HOLD_ONLY_CODES.includes(c) || c === 'hold_expiry_invalid') && !c.startsWith('request_'),
    );
    expect(Object.keys(BREAK_FROM)).toEqual(placement);
  });

  for (const [code, scenario] of Object.entries(BREAK_FROM)) {
    it(`refuses with ${code}, records the refusal and moves nothing`, () => {
      const { item, s } = scenario();
      const r = settle([item], s);
      expect(r.outcomes).toEqual([{ status: 'rejected', code }]);
      expect(r.leaves).toEqual([{ type: 'hold', leaf: expect.objectContaining({ holdId: item.id, event: 'rejected', code, capturedMinor: 0n, capture: 'none' }) }]);
      expect(r.holds.placed).toMatchObject([{ status: 'rejected', code }]);
      expect(r.changedWallets.size).toBe(0);
      expect(r.events).toMatchObject([{ type: 'hold.rejected', code, subjectId: item.id }]);
    });
  }

  it('refuses a signature by another key unrecorded (unauthorized), before any rule', () => {
    const r = settle([hold({}, stranger)], state({ nonces: ['w_payer:1'] }));
    expect(r.outcomes).toEqual([{ status: 'unauthorized' }]);
    expect(r.leaves).toEqual([]);
    expect(r.holds.placed).toEqual([]);
  });

  it('answers a hold it cannot store malformed_item, unrecorded', () => {
    for (const over of [{ memo: 'a\u0000b' }, { payeeWalletId: 'w_payer' }, { amountMinor: 0n }]) {
      const r = settle([hold(over)], state());
      expect(r.outcomes).toEqual([{ status: 'rejected', code: 'malformed_item' }]);
      expect(r.leaves).toEqual([]);
    }
  });

  it('answers a hold recorded before, or twice in one batch, as duplicate', () => {
    const h = hold();
    expect(settle([h], state({ recorded: [h.id] })).outcomes).toEqual([{ status: 'duplicate' }]);
    const twice = settle([h, h], state());
    expect(twice.outcomes).toEqual([{ status: 'settled' }, { status: 'duplicate' }]);
    expect(twice.holds.placed).toHaveLength(1);
  });

  it("shares the payer's nonces with its transfers, in one batch as across batches", () => {
    const h = hold();
    const transfer: SettlementItem = {
      type: 'origin',
      id: 'a'.repeat(64),
      kind: 'transfer',
      bankId: 'bank-a',
      payerWalletId: 'w_payer',
      payeeWalletId: 'w_payee',
      amountMinor: 1n,
      nonce: 1n,
      expiresAtMs: BigInt(NOW + 60_000),
      payeeRemote: false,
      authority: h.authority,
    };
    const r = settle([transfer, h], state());
    expect(r.outcomes[1]).toEqual({ status: 'rejected', code: 'nonce_reused' });
  });

  it('moves the amount from the available balance into held money, counts it as a payment of the day, and tells the payer bank', () => {
    const s = state({ payer: { dailySpentMinor: 5n, dailySpentDay: TODAY - 1 } });
    const h = hold();
    const r = settle([h], s);
    expect(r.outcomes).toEqual([{ status: 'settled' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 900n * YUAN, heldMinor: 100n * YUAN, dailySpentMinor: 100n * YUAN, dailySpentDay: TODAY });
    expect(r.leaves).toEqual([{ type: 'hold', leaf: { holdId: h.id, event: 'placed', payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: 100n * YUAN, capturedMinor: 0n, capture: 'none', code: null } }]);
    expect(r.holds.placed).toMatchObject([{ status: 'open', payeeBankId: 'bank-b', leafIndex: 0 }]);
    expect(r.events).toMatchObject([{ bankId: 'bank-a', type: 'hold.placed', walletId: 'w_payer', amountMinor: 100n * YUAN }]);
  });
});

describe('capturing, voiding, expiring', () => {
  it('captures in part: the amount to the payee here, the rest back to the payer at once', () => {
    const s = state({ holds: [record()] });
    const r = settle([capture(60n * YUAN)], s);
    expect(r.outcomes).toEqual([{ status: 'applied' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_040n * YUAN, heldMinor: 0n });
    expect(walletAfter(r, s, 'w_payee')).toMatchObject({ balanceMinor: 60n * YUAN });
    expect(r.leaves).toEqual([{ type: 'hold', leaf: expect.objectContaining({ event: 'captured', capturedMinor: 60n * YUAN, capture: 'settled', code: null }) }]);
    expect(r.holds.closed).toMatchObject([{ status: 'captured', captureStatus: 'settled', closedBy: capture(1n).id }]);
    expect(r.events.map((e) => [e.bankId, e.type, e.amountMinor])).toEqual([
      ['bank-a', 'hold.captured', 60n * YUAN],
      ['bank-b', 'payment.received', 60n * YUAN],
    ]);
  });

  it('captures in full', () => {
    const s = state({ holds: [record()] });
    const r = settle([capture(100n * YUAN)], s);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_000n * YUAN, heldMinor: 0n });
    expect(walletAfter(r, s, 'w_payee')).toMatchObject({ balanceMinor: 100n * YUAN });
  });

  it('returns everything to the payer, exactly once, when a payee here refuses the captured money', () => {
    const s = state({ holds: [record()], payee: { status: 'frozen' } });
    const r = settle([capture(60n * YUAN), capture(60n * YUAN)], s);
    expect(r.outcomes).toEqual([{ status: 'applied' }, { status: 'duplicate' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_100n * YUAN, heldMinor: 0n });
    expect(r.changedWallets.has('w_payee')).toBe(false);
    expect(r.leaves).toEqual([{ type: 'hold', leaf: expect.objectContaining({ event: 'captured', capture: 'rejected', code: 'payee_frozen' }) }]);
    expect(r.holds.closed).toMatchObject([{ captureStatus: 'rejected', captureCode: 'payee_frozen' }]);
    expect(r.events.map((e) => e.type)).toEqual(['hold.captured', 'hold.capture_returned']);
  });

  it("counts the payee's own held money against its balance cap", () => {
    const s = state({ holds: [record()], payee: { balanceMinor: 499_950n * YUAN, heldMinor: 10n * YUAN } });
    const r = settle([capture(60n * YUAN)], s);
    expect(r.holds.closed).toMatchObject([{ captureStatus: 'rejected', captureCode: 'exceeds_balance_limit' }]);
  });

  it('sends the captured money to a payee on another shard as a credit under the hold id; its result closes it once', () => {
    const s = state({ holds: [record({ payeeRemote: true })], payee: null });
    const r = settle([capture(60n * YUAN)], s);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_040n * YUAN, heldMinor: 0n, inFlightOutMinor: 60n * YUAN });
    expect(r.creditsToSend).toEqual([{ id: HOLD_ID, payeeWalletId: 'w_payee', amountMinor: 60n * YUAN }]);
    expect(r.holds.closed).toMatchObject([{ capture: 'debited', captureStatus: 'in_flight' }]);
    expect(r.events.map((e) => e.type)).toEqual(['hold.captured']);

    const flights = new Map([[HOLD_ID, { payerWalletId: 'w_payer', payeeWalletId: 'w_payee', amountMinor: 60n * YUAN }]]);
    const later = state({ payer: { balanceMinor: 1_040n * YUAN, inFlightOutMinor: 60n * YUAN }, payee: null, flights });
    const applied = settle([{ type: 'credit_result', id: HOLD_ID, status: 'applied', code: null, fromShard: 1 }], later);
    expect(applied.outcomes).toEqual([{ status: 'settled' }]);
    expect(walletAfter(applied, later, 'w_payer')).toMatchObject({ balanceMinor: 1_040n * YUAN, inFlightOutMinor: 0n });
    expect(applied.holds.captureFinal).toEqual([{ holdId: HOLD_ID, status: 'settled', code: null }]);

    const result = { type: 'credit_result' as const, id: HOLD_ID, status: 'rejected' as const, code: 'payee_frozen' as RejectionCode, fromShard: 1 };
    const refused = settle([result, result], later);
    expect(refused.outcomes).toEqual([{ status: 'rejected', code: 'payee_frozen' }, { status: 'duplicate' }]);
    expect(walletAfter(refused, later, 'w_payer')).toMatchObject({ balanceMinor: 1_100n * YUAN, inFlightOutMinor: 0n });
    expect(refused.leaves).toEqual([{ type: 'leg', transferId: HOLD_ID, leg: 'refund', walletId: 'w_payer', amountMinor: 60n * YUAN, status: 'applied', code: 'payee_frozen' }]);
    expect(refused.events.map((e) => [e.type, e.code])).toEqual([['hold.capture_returned', 'payee_frozen']]);
  });

  it('voids: everything back to the payer', () => {
    const s = state({ holds: [record()] });
    const r = settle([voidBy('bank-a')], s);
    expect(r.outcomes).toEqual([{ status: 'applied' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_100n * YUAN, heldMinor: 0n });
    expect(r.holds.closed).toMatchObject([{ status: 'voided', closedBy: voidBy('bank-a').id }]);
    expect(r.events).toMatchObject([{ bankId: 'bank-a', type: 'hold.voided', amountMinor: 100n * YUAN }]);
  });

  it('expires a due hold exactly once, and leaves one that is not due', () => {
    const early = state({ holds: [record()] });
    const none = settle([{ type: 'hold_expire', id: HOLD_ID }], early);
    expect(none.outcomes).toEqual([{ status: 'duplicate' }]);
    expect(none.changedWallets.size).toBe(0);
    const due = state({ holds: [record()], nowMs: NOW + HOUR });
    const r = settle(
      [
        { type: 'hold_expire', id: HOLD_ID },
        { type: 'hold_expire', id: HOLD_ID },
      ],
      due,
    );
    expect(r.outcomes).toEqual([{ status: 'applied' }, { status: 'duplicate' }]);
    expect(walletAfter(r, due, 'w_payer')).toMatchObject({ balanceMinor: 1_100n * YUAN, heldMinor: 0n });
    expect(r.holds.closed).toMatchObject([{ status: 'expired', closedBy: null }]);
    expect(r.events).toMatchObject([{ type: 'hold.expired' }]);
    expect(settle([{ type: 'hold_expire', id: HOLD_ID }], state({ holds: [record({ status: 'expired' })], nowMs: NOW + HOUR })).outcomes).toEqual([{ status: 'duplicate' }]);
  });

  it('places and voids one hold in one batch', () => {
    const h = hold();
    const s = state();
    const r = settle([h, voidBy('bank-a', { holdId: h.id })], s);
    expect(r.outcomes).toEqual([{ status: 'settled' }, { status: 'applied' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_000n * YUAN, heldMinor: 0n });
    expect(r.leaves.map((l) => (l.type === 'hold' ? l.leaf.event : l.type))).toEqual(['placed', 'voided']);
  });
});

describe('capture and void: rules in precedence order', () => {
  const refused = (items: SettlementItem[], s: BatchState) => settle(items, s).outcomes.at(-1);

  it('refuses an action without its bank signature unrecorded (unauthorized): a forged item cannot capture', () => {
    const s = state({ holds: [record()] });
    const r = settle([action('hold_capture', 'bank-b', {}, stranger)], s);
    expect(r.outcomes).toEqual([{ status: 'unauthorized' }]);
    expect(r.changedWallets.size).toBe(0);
    expect(refused([{ ...capture(1n), authority: null }], s)).toEqual({ status: 'unauthorized' });
  });

  it('answers hold_not_found for an unknown hold, or a bank neither payer nor payee, before anything else', () => {
    expect(refused([capture(1n)], state())).toEqual({ status: 'rejected', code: 'hold_not_found' });
    const s = state({ holds: [record({ status: 'captured', payeeBankId: 'bank-c' })] });
    expect(refused([capture(1_000_000n * YUAN)], s)).toEqual({ status: 'rejected', code: 'hold_not_found' });
  });

  it('answers the request that closed the hold with duplicate, and changes nothing', () => {
    const c = capture(60n * YUAN);
    const s = state({ holds: [record({ status: 'captured', closedBy: c.id })] });
    const r = settle([c], s);
    expect(r.outcomes).toEqual([{ status: 'duplicate' }]);
    expect(r.leaves).toEqual([]);
  });

  it("refuses a capture by the payer's bank and a void by the payee's bank (hold_action_not_allowed), even past expiry", () => {
    const s = state({ holds: [record()], nowMs: NOW + HOUR });
    const r = settle([action('hold_capture', 'bank-a'), voidBy('bank-b')], s);
    expect(r.outcomes).toEqual([
      { status: 'rejected', code: 'hold_action_not_allowed' },
      { status: 'rejected', code: 'hold_action_not_allowed' },
    ]);
    expect(r.changedWallets.size).toBe(0);
  });

  it('lets both act when one bank holds both wallets', () => {
    const s = state({ holds: [record({ payeeBankId: 'bank-a' })], payee: { bankId: 'bank-a' } });
    expect(settle([action('hold_capture', 'bank-a', { amountMinor: 1n })], s).outcomes).toEqual([{ status: 'applied' }]);
    expect(settle([voidBy('bank-a')], s).outcomes).toEqual([{ status: 'applied' }]);
  });

  it('applies a due expiry first, then refuses the capture with hold_expired', () => {
    const s = state({ holds: [record()], nowMs: NOW + HOUR });
    const r = settle([capture(1_000_000n * YUAN)], s);
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'hold_expired' }]);
    expect(r.holds.closed).toMatchObject([{ status: 'expired' }]);
    expect(walletAfter(r, s, 'w_payer')).toMatchObject({ balanceMinor: 1_100n * YUAN, heldMinor: 0n });
  });

  it('answers hold_not_open for a hold another request closed, before the amount', () => {
    const s = state({ holds: [record({ status: 'voided', closedBy: 'f'.repeat(64) })] });
    expect(refused([capture(1_000_000n * YUAN)], s)).toEqual({ status: 'rejected', code: 'hold_not_open' });
    expect(refused([voidBy('bank-a')], s)).toEqual({ status: 'rejected', code: 'hold_not_open' });
  });

  it('refuses a capture above the hold (capture_exceeds_hold)', () => {
    const s = state({ holds: [record()] });
    const r = settle([capture(100n * YUAN + 1n)], s);
    expect(r.outcomes).toEqual([{ status: 'rejected', code: 'capture_exceeds_hold' }]);
    expect(r.changedWallets.size).toBe(0);
  });

  it('closes a hold once: of two different captures, or a capture and a void, the first wins', () => {
    const s = state({ holds: [record({ payeeBankId: 'bank-a' })], payee: { bankId: 'bank-a' } });
    const first = action('hold_capture', 'bank-a', { id: '1'.repeat(64), amountMinor: 10n });
    const second = action('hold_capture', 'bank-a', { id: '2'.repeat(64), amountMinor: 20n });
    const r = settle([first, second, voidBy('bank-a'), first], s);
    expect(r.outcomes).toEqual([{ status: 'applied' }, { status: 'rejected', code: 'hold_not_open' }, { status: 'rejected', code: 'hold_not_open' }, { status: 'duplicate' }]);
    expect(r.holds.closed).toHaveLength(1);
  });

  it('races a capture against the expiry: whichever the shard applies first wins', () => {
    const s = state({ holds: [record()], nowMs: NOW + HOUR });
    const expiryFirst = settle([{ type: 'hold_expire', id: HOLD_ID }, capture(10n)], s);
    expect(expiryFirst.outcomes).toEqual([{ status: 'applied' }, { status: 'rejected', code: 'hold_expired' }]);
    const before = state({ holds: [record()], nowMs: NOW + HOUR - 1 });
    const captureFirst = settle([capture(10n), { type: 'hold_expire', id: HOLD_ID }], before);
    expect(captureFirst.outcomes).toEqual([{ status: 'applied' }, { status: 'duplicate' }]);
    for (const r of [expiryFirst, captureFirst]) expect(r.holds.closed).toHaveLength(1);
  });
});
