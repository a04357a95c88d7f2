/**
 * The whole flow over HTTP against real Postgres and Redis: onboarding, reserves, dual-control
 * issuance, wallets in two banks, funding, a cross-bank payment, redemption, retirement, receipts,
 * the audit passing, and the audit naming tampered rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, verifyReceipt, type BankClient } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import { startTestSystem, type TestSystem } from './support/system.js';

const YUAN = 100n;

describe('end to end', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const alice = newCustomerKey();
  const bob = newCustomerKey();
  let aliceWallet: string;
  let bobWallet: string;
  let paymentId: string;

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: 1_000_000n * YUAN });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
  });
  afterAll(async () => sys?.close());

  it('records reserve deposits and refuses a mint the free reserve cannot cover', async () => {
    // Above the dual-control threshold: the deposit waits for a second operator.
    const large = await sys.operators.alice.reserve('bank-a', 'deposit', 5_000_000n * YUAN, 'RTGS-0001');
    expect(large.status).toBe(202);
    await sys.operators.bob.approveAction(large.body.id);
    expect((await sys.operators.alice.reserve('bank-b', 'deposit', 1_000_000n * YUAN, 'RTGS-0002')).status).toBe(201);
    const refused = await sys.operators.alice.issue('mint', 'bank-b', 1_000_000n * YUAN + 1n).catch((e) => e);
    expect(refused).toBeInstanceOf(CbdcApiError);
    expect(refused.problem.code).toBe('insufficient_reserve');
  });

  it('mints above the threshold only after a second, different operator approves', async () => {
    const { status, body: pending } = await sys.operators.alice.issue('mint', 'bank-a', 2_000_000n * YUAN);
    expect(status).toBe(202);
    expect(pending.status).toBe('pending_approval');
    expect((await sys.operators.alice.supply()).supplyMinor).toBe('0');

    const self = await sys.operators.alice.approve(pending.id).catch((e) => e);
    expect(self.problem.code).toBe('approver_is_requester');

    const approved = await sys.operators.bob.approve(pending.id);
    expect(approved).toMatchObject({ status: 'executed', approvedBy: 'bob', chainSeq: '1' });
    const again = await sys.operators.bob.approve(pending.id).catch((e) => e);
    expect(again.problem.code).toBe('action_not_pending');

    const small = await sys.operators.alice.issue('mint', 'bank-b', 500_000n * YUAN);
    expect(small.status).toBe(201);
    const supply = await sys.operators.alice.supply();
    expect(supply.supplyMinor).toBe((2_500_000n * YUAN).toString());
    expect(supply.walletBalancesMinor).toBe(supply.supplyMinor);
    expect(supply.banks.find((b) => b.id === 'bank-a')!.freeReserveMinor).toBe((3_000_000n * YUAN).toString());
  });

  it('opens wallets and funds them from the treasury, once per Idempotency-Key', async () => {
    aliceWallet = (await bankA.openWallet({ publicKey: alice.publicKey, customerRef: 'cust-001', tier: 'II' })).id;
    bobWallet = (await bankB.openWallet({ publicKey: bob.publicKey, customerRef: 'cust-xyz', tier: 'IV' })).id;
    const first = await bankA.fund(aliceWallet, 10_000n * YUAN, 'fund-alice-0001');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'settled', kind: 'funding', payeeWalletId: aliceWallet });
    const replay = await bankA.fund(aliceWallet, 10_000n * YUAN, 'fund-alice-0001');
    expect(replay.body.id).toBe(first.body.id);
    const misuse = await bankA.fund(aliceWallet, 1n, 'fund-alice-0001').catch((e) => e);
    expect(misuse.problem.code).toBe('idempotency_key_reused');
    expect((await bankA.wallet(aliceWallet)).balanceMinor).toBe((10_000n * YUAN).toString());
  });

  it('settles a customer-signed payment across banks, and a resubmission returns the same outcome', async () => {
    const { id, wire } = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 1_500n * YUAN, memo: 'rent' }, alice.privateKey);
    paymentId = id;
    const res = await bankA.transfer(wire);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, status: 'settled', code: null, amountMinor: (1_500n * YUAN).toString() });
    const replay = await bankA.transfer(wire);
    expect(replay.body).toEqual(res.body);
    expect((await bankA.wallet(aliceWallet)).balanceMinor).toBe((8_500n * YUAN).toString());
    expect((await bankB.wallet(bobWallet)).balanceMinor).toBe((1_500n * YUAN).toString());
    // The payee's bank sees it too; its history lists it.
    expect((await bankB.getTransfer(id)).status).toBe('settled');
    expect((await bankB.history(bobWallet)).transfers.map((t) => t.id)).toContain(id);
  });

  it("records a payment over the payee tier cap as rejected, and changes no balance (bob is bank B's: bank A sees only payee_unavailable)", async () => {
    await bankA.fund(aliceWallet, 5_000n * YUAN, 'fund-alice-0002');
    // bob (tier IV, balance cap 10,000 yuan) holds 1,500; 8,501 more would take him over.
    const { wire } = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 8_501n * YUAN }, alice.privateKey);
    const res = await bankA.transfer(wire);
    expect(res.body).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });
    expect(await bankB.getTransfer(res.body.id)).toMatchObject({ status: 'rejected', code: 'exceeds_balance_limit' });
    expect((await bankB.wallet(bobWallet)).balanceMinor).toBe((1_500n * YUAN).toString());
    expect((await bankA.wallet(aliceWallet)).balanceMinor).toBe((13_500n * YUAN).toString());
  });

  it('settles a batch with one result per item, in order, each item on its own merits', async () => {
    const ok = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 1n * YUAN }, alice.privateKey);
    const badSig = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 2n * YUAN }, bob.privateKey);
    const tooMuch = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 60_000n * YUAN }, alice.privateKey);
    const { body } = await bankA.transferBatch([ok.wire, badSig.wire, tooMuch.wire, ok.wire]);
    expect(body.results.map((r) => [r.index, r.status, 'problem' in r ? r.problem.code : 'code' in r ? r.code : null])).toEqual([
      [0, 'settled', null],
      [1, 'invalid', 'bad_signature'],
      [2, 'rejected', 'exceeds_payment_limit'],
      [3, 'settled', null],
    ]);
    expect(body.results[3].id).toBe(ok.id);
    expect((await bankB.wallet(bobWallet)).balanceMinor).toBe((1_501n * YUAN).toString());
  });

  it('answers 202 pending in the async mode, and the outcome is read later by id', async () => {
    const t = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 1n * YUAN }, alice.privateKey);
    const res = await bankA.transfer(t.wire, true);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/transfers/${t.id}`);
    expect(res.body).toMatchObject({ id: t.id, status: 'pending' });
    await expect.poll(async () => (await bankA.getTransfer(t.id).catch(() => null))?.status, { timeout: 10_000 }).toBe('settled');
  });

  it('pages through a wallet history newest first without gaps or repeats', async () => {
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await bankA.history(aliceWallet, 2, cursor);
      expect(page.transfers.length).toBeLessThanOrEqual(2);
      all.push(...page.transfers.map((t) => t.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const [row] = await sys.db.sql`select count(*)::int as n from transfers where payer_wallet_id = ${aliceWallet} or payee_wallet_id = ${aliceWallet}`;
    expect(all).toHaveLength(row.n);
    expect(new Set(all).size).toBe(row.n);
    expect(all[all.length - 1]).toBe((await bankA.history(aliceWallet, 200)).transfers.at(-1)!.id);
  });

  it('gives a receipt that verifies offline against the shard key, and fails for a changed amount', async () => {
    const receipt = await bankB.receipt(paymentId);
    const [shard] = await bankB.shards();
    expect(verifyReceipt(receipt, shard.publicKey)).toBeNull();
    expect(verifyReceipt({ ...receipt, transfer: { ...receipt.transfer, amountMinor: '1' } }, shard.publicKey)).toMatch(/Merkle path/);
    expect(verifyReceipt(receipt, newCustomerKey().publicKey)).toMatch(/signature/);
  });

  it('redeems to the bank treasury and retires currency back into reserve', async () => {
    const { wire } = signTransfer({ payerWalletId: bobWallet, payeeWalletId: 't_bank-b', amountMinor: 500n * YUAN }, bob.privateKey);
    const res = await bankB.redeem(wire);
    expect(res.body).toMatchObject({ status: 'settled' });
    const retire = await sys.operators.alice.issue('retire', 'bank-b', 100_000n * YUAN);
    expect(retire.body.status).toBe('executed');
    const supply = await sys.operators.alice.supply();
    expect(supply.supplyMinor).toBe((2_400_000n * YUAN).toString());
    expect(supply.walletBalancesMinor).toBe(supply.supplyMinor);
    const bankBPosition = supply.banks.find((b) => b.id === 'bank-b')!;
    expect(bankBPosition.freeReserveMinor).toBe((600_000n * YUAN).toString());
  });

  it('passes the audit, then names an altered transfer row and an altered chain entry', async () => {
    const clean = await audit(sys.db.sql, { trustedIssuerPublicKey: undefined });
    expect(clean.findings).toEqual([]);
    expect(clean.ok).toBe(true);
    expect(clean.stats.supplyMinor).toBe((2_400_000n * YUAN).toString());

    await sys.db.sql`update transfers set amount_minor = amount_minor + 1 where id = ${paymentId}`;
    await sys.db.sql`update issuance_chain set amount_minor = amount_minor + 1 where seq = 2`;
    const tampered = await audit(sys.db.sql);
    expect(tampered.ok).toBe(false);
    const subjects = tampered.findings.map((f) => `${f.check}: ${f.subject}`);
    expect(subjects).toContain('issuance_chain: issuance entry 2');
    expect(subjects).toContain(`transfer: transfer ${paymentId}`);
    expect(subjects.some((s) => s.startsWith('settlement_chain: shard 0 batch'))).toBe(true);
  });

  it('names a tampered balance, a tampered customer signature and a tampered batch signature', async () => {
    const [{ id: walletId }] = await sys.db.sql<{ id: string }[]>`select id from wallets where kind = 'customer' and balance_minor > 0 order by id limit 1`;
    const [{ id: signedId }] = await sys.db.sql<{ id: string }[]>`select id from transfers where kind = 'transfer' and id <> ${paymentId} order by id limit 1`;
    const [{ seq }] = await sys.db.sql<{ seq: bigint }[]>`select max(seq) as seq from settlement_batches where shard = 0`;
    await sys.db.sql`update wallets set balance_minor = balance_minor + 100 where id = ${walletId}`;
    await sys.db.sql`update transfers set signature = set_byte(signature, 0, (get_byte(signature, 0) + 1) % 256) where id = ${signedId}`;
    await sys.db.sql`update settlement_batches set signature = set_byte(signature, 0, (get_byte(signature, 0) + 1) % 256) where shard = 0 and seq = ${seq.toString()}`;
    const report = await audit(sys.db.sql);
    const named = report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);
    expect(named).toContainEqual(expect.stringMatching(new RegExp(`^balance: wallet ${walletId}: stored balance`)));
    expect(named).toContain(`transfer: transfer ${signedId}: the payer's signature does not verify over its stored content`);
    expect(named).toContain(`settlement_chain: shard 0 batch ${seq}: its shard signature does not verify`);
  });
});
