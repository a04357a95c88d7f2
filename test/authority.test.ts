/**
 * Issue #12, findings 1 and 2: authority is recorded, never inferred. A central-bank freeze is
 * recorded apart from the bank's own and the bank cannot lift it; dual control holds per rolling
 * window (so that one operator cannot structure a mint or a reserve entry into pieces), covers
 * reserve entries, onboarding banks and registering or re-keying operators, expires, and a
 * reserve reference is recorded once per bank. Real Postgres and Redis, over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, OperatorClient, newCustomerKey, signTransfer, type ActionView, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';

const T = 1_000_000n; // the dual-control threshold of these tests, in fen (and each window maximum)
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => {
      if (!(e instanceof CbdcApiError)) throw e;
      return e;
    },
  );

describe('central-bank and bank freezes are recorded apart (finding 1)', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const payer = newCustomerKey();
  let payerWallet: string;
  let payeeWallet: string;
  let emptyWallet: string;

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: T });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await sys.operators.alice.reserve('bank-a', 'deposit', T, 'RTGS-F1');
    await sys.operators.alice.issue('mint', 'bank-a', T);
    payerWallet = (await bankA.openWallet({ publicKey: payer.publicKey, customerRef: 'payer-1', tier: 'II' })).id;
    payeeWallet = (await bankB.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'payee-1', tier: 'II' })).id;
    emptyWallet = (await bankA.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'empty-1', tier: 'II' })).id;
    expect((await bankA.fund(payerWallet, 500_000n, 'fund-payer-0001')).body).toMatchObject({ status: 'settled' });
  });
  afterAll(async () => sys?.close());

  const pay = (amountMinor: bigint) => bankA.transfer(signTransfer({ payerWalletId: payerWallet, payeeWalletId: payeeWallet, amountMinor }, payer.privateKey).wire);

  it("a bank cannot lift the central bank's freeze; the wallet cannot pay until the central bank lifts it", async () => {
    const frozen = await sys.operators.alice.walletControl(payerWallet, 'freeze', { reason: 'court order pending', reference: 'CASE-2026-17' });
    expect(frozen).toMatchObject({ status: 'frozen', freezes: { central: { reason: 'court order pending', reference: 'CASE-2026-17', operatorId: 'alice' }, bank: null } });

    const lift = await refusal(bankA.setWalletStatus(payerWallet, 'unfreeze', 'customer asked'));
    expect(lift.status).toBe(403);
    expect(lift.problem.code).toBe('frozen_by_central_bank');
    const seen = await bankA.wallet(payerWallet);
    expect(seen.status).toBe('frozen');
    expect(seen.freezes.central).toMatchObject({ reason: 'court order pending', reference: 'CASE-2026-17' });
    expect(seen.freezes.central).not.toHaveProperty('operatorId');
    expect((await pay(1_000n)).body).toMatchObject({ status: 'rejected', code: 'payer_frozen' });

    // The bank's own freeze and its lift leave the central bank's in force.
    expect((await bankA.setWalletStatus(payerWallet, 'freeze', 'fraud check')).freezes).toMatchObject({ central: { reference: 'CASE-2026-17' }, bank: { reason: 'fraud check' } });
    expect(await bankA.setWalletStatus(payerWallet, 'unfreeze', 'fraud check done')).toMatchObject({ status: 'frozen', freezes: { bank: null } });
    expect((await pay(1_001n)).body).toMatchObject({ status: 'rejected', code: 'payer_frozen' });

    const lifted = await sys.operators.bob.walletControl(payerWallet, 'unfreeze', { reason: 'order lifted', reference: 'CASE-2026-17' });
    expect(lifted).toMatchObject({ status: 'active', freezes: { central: null, bank: null } });
    expect((await pay(1_002n)).body).toMatchObject({ status: 'settled' });

    const events = await sys.db.sql<{ authority: string; action: string; actor: string; reference: string | null }[]>`
      select authority, action, actor, reference from wallet_freeze_events where wallet_id = ${payerWallet} order by id`;
    expect(events).toEqual([
      { authority: 'central', action: 'freeze', actor: 'alice', reference: 'CASE-2026-17' },
      { authority: 'bank', action: 'freeze', actor: 'bank-a', reference: null },
      { authority: 'bank', action: 'lift', actor: 'bank-a', reference: null },
      { authority: 'central', action: 'lift', actor: 'bob', reference: 'CASE-2026-17' },
    ]);
  });

  it("lifting the central freeze leaves the bank's own freeze in force", async () => {
    await bankA.setWalletStatus(payerWallet, 'freeze', 'lost phone');
    await sys.operators.alice.walletControl(payerWallet, 'freeze', { reason: 'sanctions screening', reference: 'SCR-1' });
    expect(await sys.operators.alice.walletControl(payerWallet, 'unfreeze', { reason: 'screening clear', reference: 'SCR-1' })).toMatchObject({ status: 'frozen', freezes: { central: null, bank: { reason: 'lost phone' } } });
    expect((await pay(1_003n)).body).toMatchObject({ status: 'rejected', code: 'payer_frozen' });
    expect((await bankA.setWalletStatus(payerWallet, 'unfreeze', 'phone found')).status).toBe('active');
  });

  it('a bank cannot close a wallet the central bank froze', async () => {
    await sys.operators.alice.walletControl(emptyWallet, 'freeze', { reason: 'investigation', reference: 'CASE-9' });
    const close = await refusal(bankA.setWalletStatus(emptyWallet, 'close'));
    expect(close.problem.code).toBe('frozen_by_central_bank');
    expect((await bankA.wallet(emptyWallet)).status).toBe('frozen');
  });

  it('refuses a freeze without a printable reason or without a reference, naming the field and rule', async () => {
    const control = await refusal(bankA.setWalletStatus(payerWallet, 'freeze', 'bad\u0000reason'));
    expect(control.status).toBe(400);
    expect(control.problem.errors).toEqual([expect.objectContaining({ field: 'body/reason', rule: 'reason_printable' })]);
    const long = await refusal(bankA.setWalletStatus(payerWallet, 'freeze', 'x'.repeat(201)));
    expect(long.problem.errors).toEqual([expect.objectContaining({ field: 'body/reason', rule: 'reason_max_bytes' })]);
    const noReference = await refusal(sys.operators.alice.raw('POST', `/v1/wallets/${payerWallet}/freeze`, { reason: 'court order' }));
    expect(noReference.status).toBe(400);
    expect(noReference.problem.errors).toEqual([expect.objectContaining({ field: 'body/reference' })]);
    const again = await refusal(sys.operators.alice.walletControl(emptyWallet, 'freeze', { reason: 'twice', reference: 'CASE-9' }));
    expect(again.problem.code).toBe('wallet_already_frozen');
    expect((await bankA.wallet(payerWallet)).status).toBe('active');
  });

  it('the database refuses a wallet status that its recorded freezes do not account for', async () => {
    const write = sys.db.sql`update wallets set status = 'active' where id = ${emptyWallet}`;
    await expect(write).rejects.toThrow(/wallets_status_follows_freezes/);
  });
});

describe('dual control that cannot be structured (finding 2)', () => {
  let sys: TestSystem;
  let alice: OperatorClient;
  let bob: OperatorClient;
  const pendingOf = (r: { status: number; body: unknown }) => {
    expect(r.status).toBe(202);
    return r.body as ActionView;
  };

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: T });
    ({ alice, bob } = sys.operators);
    await sys.addBank('bank-a');
    await sys.addBank('bank-b');
  });
  afterAll(async () => sys?.close());

  const freeReserve = async (bankId: string) => (await alice.banks()).find((b) => b.id === bankId)!.freeReserveMinor;

  it('a lone reserve deposit above the threshold waits for a second operator', async () => {
    const pending = pendingOf(await alice.reserve('bank-a', 'deposit', 5n * T, 'RTGS-A-1'));
    expect(pending).toMatchObject({ kind: 'reserve_deposit', bankId: 'bank-a', amountMinor: (5n * T).toString(), requestedBy: 'alice', approvedBy: null, approvalReason: 'above_single_action_max' });
    expect(await freeReserve('bank-a')).toBe('0');
    // The requester cannot approve it herself.
    const self = await refusal(alice.approveAction(pending.id));
    expect(self.problem.code).toBe('approver_is_requester');
    expect(await freeReserve('bank-a')).toBe('0');
    const { action } = await bob.approveAction(pending.id);
    expect(action).toMatchObject({ status: 'executed', approvedBy: 'bob' });
    expect(await freeReserve('bank-a')).toBe((5n * T).toString());
    const [entry] = await sys.db.sql`select operator_id, action_id from reserve_entries where reference = 'RTGS-A-1'`;
    expect(entry).toEqual({ operator_id: 'alice', action_id: pending.id });
  });

  it('five threshold-sized mints by one operator, even at once: one executes alone, the others wait', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => alice.issue('mint', 'bank-a', T)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 202, 202, 202, 202]);
    expect(results.filter((r) => r.status === 202).map((r) => r.body.approvalReason)).toEqual(Array(4).fill('operator_window_max'));
    expect((await alice.supply()).supplyMinor).toBe(T.toString());
    const alone = await sys.db.sql`select count(*)::int as n from issuance_requests where approved_by is null`;
    expect(alone[0].n).toBe(1);
    // A second operator can release one of them; it then executes with both names recorded.
    const waiting = results.find((r) => r.status === 202)!.body;
    expect(await bob.approve(waiting.id)).toMatchObject({ status: 'executed', requestedBy: 'alice', approvedBy: 'bob' });
    expect((await alice.supply()).supplyMinor).toBe((2n * T).toString());
  });

  it("counts per bank too: a second operator acting alone cannot add to a bank's full window", async () => {
    expect((await bob.reserve('bank-b', 'deposit', T, 'RTGS-B-1')).status).toBe(201);
    const pending = pendingOf(await alice.reserve('bank-b', 'deposit', 1n, 'RTGS-B-2'));
    expect(pending.approvalReason).toBe('bank_window_max');
  });

  it('a lone reserve withdrawal above the threshold waits, and moves nothing until approved', async () => {
    const before = await freeReserve('bank-a');
    const pending = pendingOf(await bob.reserve('bank-a', 'withdrawal', 2n * T, 'RTGS-A-W1'));
    expect(pending).toMatchObject({ kind: 'reserve_withdrawal', approvalReason: 'above_single_action_max' });
    expect(await freeReserve('bank-a')).toBe(before);
    await alice.approveAction(pending.id);
    expect(await freeReserve('bank-a')).toBe((BigInt(before) - 2n * T).toString());
  });

  it('onboarding a bank always waits for a second operator', async () => {
    const pending = await alice.addBank({ id: 'bank-c', name: 'Bank C', publicKey: newCustomerKey().publicKey });
    expect(pending).toMatchObject({ kind: 'bank_onboarding', bankId: 'bank-c', status: 'pending_approval', approvalReason: 'always_dual' });
    expect((await refusal(alice.raw('GET', '/v1/banks/bank-c'))).problem.code).toBe('bank_not_found');
    expect((await refusal(alice.approveAction(pending.id))).problem.code).toBe('approver_is_requester');
    const { result } = await bob.approveAction(pending.id);
    expect(result).toMatchObject({ id: 'bank-c', treasuryWalletId: 't_bank-c' });
    const [bank] = await sys.db.sql`select created_by, action_id from banks where id = 'bank-c'`;
    expect(bank).toEqual({ created_by: 'alice', action_id: pending.id });
    expect((await refusal(bob.approveAction(pending.id))).problem.code).toBe('action_not_pending');
  });

  it("registering an operator and changing an operator's key each wait for a second operator", async () => {
    const carolKey = newCustomerKey();
    const carol = new OperatorClient(sys.issuerUrl, 'carol', carolKey.privateKey);
    const pending = await alice.addOperator({ id: 'carol', name: 'Carol', publicKey: carolKey.publicKey });
    expect(pending).toMatchObject({ kind: 'operator_registration', approvalReason: 'always_dual' });
    expect((await refusal(carol.supply())).status).toBe(401);
    await bob.approveAction(pending.id);
    expect((await carol.supply()).supplyMinor).toBe((2n * T).toString());
    expect((await alice.operators()).find((o) => o.id === 'carol')).toMatchObject({ createdBy: 'alice' });

    const newKey = newCustomerKey();
    const rekey = await carol.changeOperatorKey('carol', newKey.publicKey);
    expect(rekey).toMatchObject({ kind: 'operator_key_change', status: 'pending_approval' });
    expect((await refusal(carol.approveAction(rekey.id))).problem.code).toBe('approver_is_requester');
    await alice.approveAction(rekey.id);
    expect((await refusal(carol.supply())).status).toBe(401);
    expect((await new OperatorClient(sys.issuerUrl, 'carol', newKey.privateKey).supply()).supplyMinor).toBe((2n * T).toString());
  });

  it('refuses a reserve reference already recorded, or pending, for the same bank (409 naming the field)', async () => {
    expect((await alice.reserve('bank-c', 'deposit', 10n, 'RTGS-C-1')).status).toBe(201);
    for (const kind of ['deposit', 'withdrawal'] as const) {
      const dup = await refusal(alice.reserve('bank-c', kind, 5n, 'RTGS-C-1'));
      expect(dup.status).toBe(409);
      expect(dup.problem).toMatchObject({ code: 'reserve_reference_exists', errors: [{ field: 'body/reference', rule: 'unique_per_bank' }] });
    }
    pendingOf(await bob.reserve('bank-c', 'deposit', 3n * T, 'RTGS-C-BIG'));
    expect((await refusal(alice.reserve('bank-c', 'deposit', 1n, 'RTGS-C-BIG'))).problem.code).toBe('reserve_reference_exists');
    // Another bank may use the same reference; the constraint holds even against a direct insert.
    expect([201, 202]).toContain((await alice.reserve('bank-b', 'deposit', 1n, 'RTGS-C-1')).status);
    await expect(sys.db.sql`insert into reserve_entries (bank_id, kind, amount_minor, reference, operator_id) values ('bank-c', 'deposit', 1, 'RTGS-C-1', 'bob')`).rejects.toThrow(/reserve_entries_bank_reference/);
  });
});

describe('pending approvals expire (finding 2)', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: T, dualControl: { approvalTtlMs: 1_000 } });
  });
  afterAll(async () => sys?.close());

  it('an expired pending action cannot be approved, and reads as expired', async () => {
    const pending = await sys.operators.alice.addBank({ id: 'bank-late', name: 'Late', publicKey: newCustomerKey().publicKey });
    expect(pending.status).toBe('pending_approval');
    await new Promise((r) => setTimeout(r, 1_100));
    const late = await refusal(sys.operators.bob.approveAction(pending.id));
    expect(late.status).toBe(409);
    expect(late.problem.code).toBe('approval_expired');
    expect((await sys.operators.bob.actions('expired')).map((a) => a.id)).toContain(pending.id);
    expect((await sys.operators.bob.actions('pending_approval')).map((a) => a.id)).not.toContain(pending.id);
    expect((await refusal(sys.operators.bob.raw('GET', '/v1/banks/bank-late'))).problem.code).toBe('bank_not_found');
  });
});
