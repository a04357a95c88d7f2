/**
 * Payment requests (pull payments, issue #14 item 5) through the gateway with real settlement: 4
 * shards over 2 shard-group databases. A payee's bank creates a request and shows its URI; the
 * payer's app parses it and signs a v2 transfer naming it; settlement pays it at most once where it
 * lives (the payee's shard), within a shard and across shards and groups, even when several
 * transfers naming it arrive at once on two gateway processes. The rules (amount, expiry,
 * cancellation, payee) each reject with their code and refund a cross-shard payer once; another
 * bank cannot read or cancel a request; an altered request id fails the customer's signature; a
 * forged credit from Redis is not applied; v1 transfers still settle; the audit passes, and names
 * a request marked paid or unpaid by hand. Real Postgres and Redis.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BankClient, CbdcApiError, newCustomerKey, parsePaymentRequestUri, signRequestedTransfer, signTransfer } from '@cbdc/client';
import type { PaymentRequestView } from '@cbdc/client';
import { audit, type AuditReport } from '@cbdc/db/audit';
import { buildGatewayApp } from '@cbdc/wallet-gateway/app';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { shardPublicKeysAcross } from '@cbdc/wallet-gateway/transfers-store';
import { ed25519PublicKeyOfSeed, signerFromSeed } from '@cbdc/shared/crypto';
import { shardOf, walletIdOf } from '@cbdc/shared/ids';
import { attestJob, gatewayAttestor, shardAttestor, shardQueue, type JobItem, type SettlementJobData } from '@cbdc/shared/job';
import { LIMITS } from '@cbdc/shared/limits';
import { consumerRedis, producerRedis, untilReady } from '@cbdc/shared/redis';
import { registrySignerOfAttestationKey } from '@cbdc/shared/registry';
import { startTestSystem, TEST_GATEWAY_KEY_ID, type TestSystem } from './support/system.js';

const SHARDS = 4;
const YUAN = 100n;
const problemOf = (e: unknown) => (e instanceof CbdcApiError ? e.problem : { code: String(e), status: 0 });

/** An Idempotency-Key whose keyed wallet opening lands on `shard`. */
function keyForShard(bankId: string, shard: number, tag: string): string {
  for (let i = 0; ; i++) {
    const key = `${tag}-${i}-open-key`;
    if (shardOf(walletIdOf(bankId, key), SHARDS) === shard) return key;
  }
}

describe('payment requests through the gateway (4 shards, 2 group databases)', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  /** A second gateway process (its own reply stream), for transfers arriving at once on two gateways. */
  let gateway2: { bankA: BankClient; close: () => Promise<void> };
  const keys = { p0: newCustomerKey(), p1: newCustomerKey(), p2: newCustomerKey(), m: newCustomerKey(), m2: newCustomerKey(), n: newCustomerKey() };
  // Payers of bank-a on shards 0, 1 (group 1) and 2 (group 0); merchants of bank-b on shards 0 and 3.
  const w = { p0: '', p1: '', p2: '', m: '', m2: '', n: '' };
  const payerKey = (id: string) => (id === w.p0 ? keys.p0 : id === w.p1 ? keys.p1 : keys.p2);

  beforeAll(async () => {
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2 });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    for (const bankId of ['bank-a', 'bank-b']) {
      const deposit = await sys.operators.alice.reserve(bankId, 'deposit', 1_000_000n * YUAN, `dep-${bankId}`);
      if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
      const mint = await sys.operators.alice.issue('mint', bankId, 1_000_000n * YUAN);
      if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
    }
    const open = async (bank: BankClient, key: { publicKey: string }, shard: number, tag: string) => (await bank.openWallet({ publicKey: key.publicKey, customerRef: tag, tier: 'II' }, keyForShard(bank.bankId, shard, tag))).id;
    w.p0 = await open(bankA, keys.p0, 0, 'p0');
    w.p1 = await open(bankA, keys.p1, 1, 'p1');
    w.p2 = await open(bankA, keys.p2, 2, 'p2');
    w.m = await open(bankB, keys.m, 0, 'm');
    w.m2 = await open(bankB, keys.m2, 0, 'm2');
    w.n = await open(bankB, keys.n, 3, 'n');
    for (const id of [w.p0, w.p1, w.p2]) expect((await bankA.fund(id, 10_000n * YUAN)).body.status).toBe('settled');
    gateway2 = await startSecondGateway(sys, (bankA as BankClient & { privateKeyHex: string }).privateKeyHex);
  });
  afterAll(async () => {
    await gateway2?.close();
    await sys?.close();
  });

  const request = (input: { payeeWalletId?: string; amountMinor?: bigint; expiresAtMs?: bigint; reference?: string } = {}, bank = bankB) =>
    bank.createPaymentRequest({
      payeeWalletId: input.payeeWalletId ?? w.m,
      amountMinor: 'amountMinor' in input ? input.amountMinor : 25n * YUAN,
      expiresAtMs: input.expiresAtMs ?? BigInt(Date.now() + 3_600_000),
      reference: input.reference ?? 'Table 7',
    });
  /** Submits a signed transfer and waits for its final outcome (a cross-shard one may answer pending first). */
  const settle = async (bank: BankClient, wire: Parameters<BankClient['transfer']>[0]) => {
    const res = await bank.transfer(wire);
    if (res.body.status !== 'pending') return res.body;
    for (let i = 0; i < 150; i++) {
      const t = await bank.getTransfer(res.body.id).catch(() => null);
      if (t && t.status !== 'pending') return t;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`transfer ${res.body.id} stayed pending`);
  };
  const pay = (uri: string, payer: string, over: { amountMinor?: bigint; expiresAtMs?: bigint } = {}) => signRequestedTransfer(uri, { payerWalletId: payer, ...over }, payerKey(payer).privateKey);
  const balance = async (bank: BankClient, id: string) => BigInt((await bank.wallet(id)).balanceMinor);
  const requestRow = async (id: string) => (await sys.topology.admin.ofShard(shardOf(id, SHARDS))`select status, paid_by_transfer_id from payment_requests where id = ${id}`)[0];

  it('creates a request in its payee’s shard database, answers its URI, and replays it for the same Idempotency-Key', async () => {
    const key = 'req-create-0001';
    const input = { payeeWalletId: w.m, amountMinor: 25n * YUAN, expiresAtMs: BigInt(Date.now() + 3_600_000), reference: '午饭 Table 7' };
    const created = await bankB.createPaymentRequest(input, key);
    expect(created).toMatchObject({ payeeWalletId: w.m, amountMinor: '2500', status: 'open', reference: '午饭 Table 7', paidByTransferId: null });
    expect(created.id).toMatch(/^pr_[0-9a-f]{32}$/);
    // Its id lands on its payee's shard, and its row is in that shard's group database only.
    expect(shardOf(created.id, SHARDS)).toBe(shardOf(w.m, SHARDS));
    const [g0, g1] = sys.topology.admin.groups.map((g) => g.sql);
    expect((await g0`select 1 from payment_requests where id = ${created.id}`).length).toBe(1);
    expect((await g1`select 1 from payment_requests where id = ${created.id}`).length).toBe(0);
    // The payer's app reads the URI: the checksum holds and it says what the bank created.
    expect(parsePaymentRequestUri(created.uri)).toEqual({ ok: true, payload: { requestId: created.id, payeeWalletId: w.m, amountMinor: 2500n, expiresAtMs: input.expiresAtMs, reference: '午饭 Table 7' } });
    const again = await bankB.raw<PaymentRequestView>(
      'POST',
      '/v1/payment-requests',
      { payeeWalletId: w.m, amountMinor: '2500', expiresAtMs: input.expiresAtMs.toString(), reference: '午饭 Table 7' },
      { headers: { 'idempotency-key': key } },
    );
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(created.id);
    const reused = await bankB.createPaymentRequest({ ...input, amountMinor: 1n }, key).catch(problemOf);
    expect(reused).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect(await bankB.paymentRequest(created.id)).toEqual(created);
  });

  it('refuses bad input naming the field and the rule, and creates nothing', async () => {
    const count = async () => (await Promise.all(sys.topology.admin.groups.map((g) => g.sql<{ n: number }[]>`select count(*)::int as n from payment_requests`))).reduce((n, [r]) => n + r.n, 0);
    const before = await count();
    const now = Date.now();
    const body = { payeeWalletId: w.m, amountMinor: '100', expiresAtMs: String(now + 60_000), reference: 'ok' };
    const post = (b: unknown, withKey = true) =>
      bankB.raw('POST', '/v1/payment-requests', b, withKey ? { headers: { 'idempotency-key': `bad-${randomBytes(6).toString('hex')}` } } : {}).then(
        () => null,
        (e: unknown) => (e as CbdcApiError).problem,
      );
    const first = (problem: Awaited<ReturnType<typeof post>>) => ({ status: problem?.status, field: problem?.errors?.[0]?.field, rule: problem?.errors?.[0]?.rule });
    expect(first(await post(body, false))).toEqual({ status: 400, field: 'header/idempotency-key', rule: 'required' });
    const cases: Array<[unknown, number, string, string]> = [
      [{ ...body, amountMinor: '0' }, 400, 'body/amountMinor', 'positive_integer_string'],
      [{ ...body, expiresAtMs: String(now - 1) }, 400, 'body/expiresAtMs', 'in_future'],
      [{ ...body, expiresAtMs: String(now + LIMITS.requestExpiryAheadMsMax + 60_000) }, 400, 'body/expiresAtMs', 'expiry_window'],
      [{ ...body, reference: 'a\u0000b' }, 400, 'body/reference', 'reference_printable'],
      [{ ...body, reference: 'x'.repeat(141) }, 400, 'body/reference', 'reference_max_bytes'],
      [{ ...body, reference: '' }, 400, 'body/reference', 'reference_required'],
      [{ ...body, extra: 1 }, 400, 'body/extra', 'unknown_field'],
      [{ ...body, payeeWalletId: w.p0 }, 404, 'body/payeeWalletId', 'own_wallet'],
      [{ ...body, payeeWalletId: 't_bank-b' }, 422, 'body/payeeWalletId', 'customer_wallet'],
    ];
    for (const [b, status, field, rule] of cases) expect(first(await post(b))).toEqual({ status, field, rule });
    expect(await count()).toBe(before);
  });

  it('lets only the payee’s bank read or cancel a request: another bank gets 404, as for one that does not exist', async () => {
    const r = await request();
    for (const id of [r.id, `pr_${'0'.repeat(32)}`]) {
      expect(await bankA.paymentRequest(id).catch(problemOf)).toMatchObject({ status: 404, code: 'payment_request_not_found' });
      expect(await bankA.cancelPaymentRequest(id).catch(problemOf)).toMatchObject({ status: 404, code: 'payment_request_not_found' });
    }
    expect(await bankA.paymentRequest('pr_nope').catch(problemOf)).toMatchObject({ status: 400 });
    expect((await bankB.paymentRequest(r.id)).status).toBe('open');
  });

  it('pays a request within one shard: the transfer settles, the request is paid by it, the payee’s bank is told', async () => {
    const r = await request();
    const before = await balance(bankB, w.m);
    const { id, wire } = pay(r.uri, w.p0);
    expect(wire.requestId).toBe(r.id);
    const t = await settle(bankA, wire);
    expect(t).toMatchObject({ id, status: 'settled', requestId: r.id, amountMinor: '2500' });
    expect(await balance(bankB, w.m)).toBe(before + 2500n);
    const paid = await bankB.paymentRequest(r.id);
    expect(paid).toMatchObject({ status: 'paid', paidByTransferId: id });
    expect(paid.paidAtMs).toBe(t.settledAtMs);
    const events = await sys.topology.admin.ofShard(shardOf(w.m, SHARDS))<{ type: string; subject_id: string; wallet_id: string; amount_minor: bigint; data: unknown }[]>`
      select type, subject_id, wallet_id, amount_minor, data from events where bank_id = 'bank-b' and (subject_id = ${r.id} or subject_id = ${id}) order by seq`;
    // The counterparty is joined from the transfer row when the event is read (docs/events.md); the request id travels in the event.
    expect(events).toEqual([
      { type: 'payment.received', subject_id: id, wallet_id: w.m, amount_minor: 2500n, data: { requestId: r.id } },
      { type: 'request.paid', subject_id: r.id, wallet_id: w.m, amount_minor: 2500n, data: { transferId: id } },
    ]);
    // Paid once: a second payer is refused and (across shards) refunded; a paid request cannot be cancelled.
    const p2Before = await balance(bankA, w.p2);
    expect(await settle(bankA, pay(r.uri, w.p2).wire)).toMatchObject({ status: 'rejected', code: 'request_already_paid' });
    expect(await balance(bankA, w.p2)).toBe(p2Before);
    expect((await bankA.wallet(w.p2)).inFlightOutMinor).toBe('0');
    expect(await bankB.cancelPaymentRequest(r.id).catch(problemOf)).toMatchObject({ status: 409, code: 'payment_request_paid' });
  });

  it('pays a request across shards and groups: the credit carries the request to the payee’s shard', async () => {
    const r = await request({ payeeWalletId: w.n, amountMinor: 40n * YUAN });
    const { id, wire } = pay(r.uri, w.p2);
    expect(shardOf(w.p2, SHARDS) % 2).not.toBe(shardOf(w.n, SHARDS) % 2);
    expect(await settle(bankA, wire)).toMatchObject({ id, status: 'settled', requestId: r.id });
    expect(await bankB.paymentRequest(r.id)).toMatchObject({ status: 'paid', paidByTransferId: id });
    // The transfer row (with the request it signed) at the payer's group; the request and the credit at the payee's.
    const payerDb = sys.topology.admin.ofShard(shardOf(w.p2, SHARDS));
    const payeeDb = sys.topology.admin.ofShard(shardOf(w.n, SHARDS));
    expect((await payerDb`select request_id from transfers where id = ${id}`)[0].request_id).toBe(r.id);
    const [credit] = await payeeDb<{ status: string; settled_at_ms: bigint }[]>`select status, settled_at_ms from transfer_legs where transfer_id = ${id} and leg = 'credit'`;
    expect(credit.status).toBe('applied');
    expect((await bankB.paymentRequest(r.id)).paidAtMs).toBe(credit.settled_at_ms.toString());
  });

  it('takes the amount the payer chooses for an open-amount request, once', async () => {
    const r = await request({ amountMinor: undefined, reference: 'tips' });
    expect(r.amountMinor).toBeNull();
    expect(() => pay(r.uri, w.p2)).toThrow(/open amount/);
    const { id, wire } = pay(r.uri, w.p2, { amountMinor: 777n });
    expect(await settle(bankA, wire)).toMatchObject({ id, status: 'settled', amountMinor: '777' });
    expect(await bankB.paymentRequest(r.id)).toMatchObject({ status: 'paid', paidByTransferId: id, amountMinor: null });
  });

  it('pays a request once when transfers naming it arrive at once, on two gateways, from three shards', async () => {
    for (let round = 0; round < 3; round++) {
      const r = await request({ amountMinor: 11n * YUAN });
      const payers = [w.p0, w.p1, w.p2];
      const before = { m: await balance(bankB, w.m), payers: await Promise.all(payers.map((p) => balance(bankA, p))) };
      const signed = payers.map((p) => pay(r.uri, p));
      const outcomes = await Promise.all(signed.map((s, i) => settle(i % 2 === 0 ? bankA : gateway2.bankA, s.wire)));
      const settled = outcomes.filter((o) => o.status === 'settled');
      expect(settled).toHaveLength(1);
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => o.code)).toEqual(['request_already_paid', 'request_already_paid']);
      expect(await bankB.paymentRequest(r.id)).toMatchObject({ status: 'paid', paidByTransferId: settled[0].id });
      // Money moved once: the payee got the amount once, one payer paid it, the others were refunded.
      expect(await balance(bankB, w.m)).toBe(before.m + 1100n);
      const after = await Promise.all(payers.map((p) => balance(bankA, p)));
      expect(after.reduce((a, b) => a + b, 0n)).toBe(before.payers.reduce((a, b) => a + b, 0n) - 1100n);
      for (const p of payers) expect((await bankA.wallet(p)).inFlightOutMinor).toBe('0');
    }
  });

  it('rejects each rule with its code, within a shard and across shards (refunding the payer once)', async () => {
    const expectRejected = async (payer: string, wire: Parameters<BankClient['transfer']>[0], code: string) => {
      const before = await balance(bankA, payer);
      expect(await settle(bankA, wire)).toMatchObject({ status: 'rejected', code });
      expect(await balance(bankA, payer)).toBe(before);
      expect((await bankA.wallet(payer)).inFlightOutMinor).toBe('0');
    };
    for (const payer of [w.p0, w.p1]) {
      // Wrong amount (signed outside signRequestedTransfer, which refuses to).
      const fixed = await request();
      await expectRejected(payer, signTransfer({ payerWalletId: payer, payeeWalletId: w.m, amountMinor: 2499n, requestId: fixed.id }, payerKey(payer).privateKey).wire, 'request_amount_mismatch');
      // Cancelled by the payee's bank.
      const cancelled = await request();
      expect((await bankB.cancelPaymentRequest(cancelled.id)).status).toBe('cancelled');
      expect((await bankB.cancelPaymentRequest(cancelled.id)).status).toBe('cancelled');
      await expectRejected(payer, pay(cancelled.uri, payer).wire, 'request_cancelled');
      // Paying another wallet of the payee's shard, or one on another shard (where no such request lives).
      const other = await request();
      await expectRejected(payer, signTransfer({ payerWalletId: payer, payeeWalletId: w.m2, amountMinor: 2500n, requestId: other.id }, payerKey(payer).privateKey).wire, 'request_payee_mismatch');
      await expectRejected(payer, signTransfer({ payerWalletId: payer, payeeWalletId: w.n, amountMinor: 2500n, requestId: other.id }, payerKey(payer).privateKey).wire, 'request_not_found');
      // Each refused request is still what it was: the wrong-amount and wrong-payee ones open and payable.
      expect((await requestRow(fixed.id)).status).toBe('open');
      expect(await settle(bankA, pay(other.uri, payer).wire)).toMatchObject({ status: 'settled' });
    }
    // Expired: a request whose expiry passes before the transfer settles.
    const soon = await request({ expiresAtMs: BigInt(Date.now() + 1_000) });
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await bankB.paymentRequest(soon.id)).status).toBe('expired');
    // (signRequestedTransfer caps a transfer's expiry at its request's; this one outlives it.)
    const later = BigInt(Date.now() + 60_000);
    await expectRejected(w.p0, pay(soon.uri, w.p0, { expiresAtMs: later }).wire, 'request_expired');
    await expectRejected(w.p1, pay(soon.uri, w.p1, { expiresAtMs: later }).wire, 'request_expired');
  });

  it('refuses a v2 transfer whose request id was altered in transit, at the gateway and in settlement', async () => {
    const [r1, r2] = [await request(), await request()];
    const { wire } = pay(r1.uri, w.p0);
    // At the gateway: another request, or none (a downgrade to v1), breaks the customer's signature.
    expect(await bankA.transfer({ ...wire, requestId: r2.id }).catch(problemOf)).toMatchObject({ status: 422, code: 'bad_signature' });
    const { requestId: _, ...v1 } = wire;
    expect(await bankA.transfer(v1).catch(problemOf)).toMatchObject({ status: 422, code: 'bad_signature' });
    // A compromised gateway (holding the attestation key) re-pointing the signed transfer at r2:
    // settlement verifies the signature over the v2 bytes and records nothing.
    const signed = pay(r1.uri, w.p0);
    const item: JobItem = {
      id: signed.id,
      kind: 'transfer',
      bankId: 'bank-a',
      payerWalletId: w.p0,
      payeeWalletId: w.m,
      amountMinor: signed.wire.amountMinor,
      nonce: signed.wire.nonce,
      expiresAtMs: signed.wire.expiresAtMs,
      memo: '',
      signature: signed.wire.signature,
      submittedAtMs: Date.now(),
      payeeShard: shardOf(w.m, SHARDS),
      requestId: r2.id,
    };
    const result = await addJob(sys, shardOf(w.p0, SHARDS), attestJob(signerFromSeed(sys.keys.attestation), gatewayAttestor(TEST_GATEWAY_KEY_ID), 'forger', { shard: shardOf(w.p0, SHARDS), items: [item] }));
    expect(result).toMatchObject({ items: 1 });
    expect((await sys.topology.admin.ofShard(shardOf(w.p0, SHARDS))`select 1 from transfers where id = ${signed.id}`).length).toBe(0);
    expect((await requestRow(r2.id)).status).toBe('open');
    // The genuine transfer still pays r1.
    expect(await settle(bankA, signed.wire)).toMatchObject({ status: 'settled', requestId: r1.id });
  });

  it('never applies a credit carrying a request id that no shard attested', async () => {
    const r = await request();
    const before = await balance(bankB, w.m);
    const shard = shardOf(w.m, SHARDS);
    const credit = { type: 'credit' as const, id: randomBytes(32).toString('hex'), payeeWalletId: w.m, amountMinor: '2500', fromShard: 1, requestId: r.id };
    // Named as shard 1 but signed by another key; and sent by the gateway, which may send no credit.
    const forgedShard = attestJob(signerFromSeed(randomBytes(32)), shardAttestor(1), 'shard-1', { shard, items: [credit] });
    await expect(addJob(sys, shard, forgedShard)).rejects.toThrow(/attestation/);
    const byGateway = attestJob(signerFromSeed(sys.keys.attestation), gatewayAttestor(TEST_GATEWAY_KEY_ID), 'test-gw', { shard, items: [credit] });
    await expect(addJob(sys, shard, byGateway)).rejects.toThrow(/attestation/);
    // Shard 1's real attestation over other content does not carry over to this one.
    const genuine = attestJob(signerFromSeed(sys.keys.shards[1]), shardAttestor(1), 'shard-1', { shard, items: [{ ...credit, requestId: undefined }] });
    await expect(addJob(sys, shard, { ...genuine, payload: JSON.stringify({ shard, items: [credit] }) })).rejects.toThrow(/attestation/);
    expect(await balance(bankB, w.m)).toBe(before);
    expect(await requestRow(r.id)).toEqual({ status: 'open', paid_by_transfer_id: null });
    expect((await sys.topology.admin.ofShard(shard)`select 1 from transfer_legs where transfer_id = ${credit.id}`).length).toBe(0);
  });

  it('still settles v1 transfers, within a shard and across shards', async () => {
    for (const payer of [w.p0, w.p1]) {
      const { id, wire } = signTransfer({ payerWalletId: payer, payeeWalletId: w.m, amountMinor: 3n * YUAN }, payerKey(payer).privateKey);
      expect(wire.requestId).toBeUndefined();
      expect(await settle(bankA, wire)).toMatchObject({ id, status: 'settled', requestId: null });
    }
  });

  describe('the audit', () => {
    const run = () => audit(sys.topology.auditor, { trustedIssuerPublicKey: ed25519PublicKeyOfSeed(sys.keys.issuer) });
    const named = (report: AuditReport) => report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);

    it('passes over every request paid, refused and cancelled above, with their v2 signatures', async () => {
      const report = await run();
      expect(named(report)).toEqual([]);
      expect(report.ok).toBe(true);
    });

    it('names a request marked paid by hand, a paid request marked open again, and a changed amount', async () => {
      const open = await request();
      const paid = await request();
      const { id: transferId, wire } = pay(paid.uri, w.p0);
      expect(await settle(bankA, wire)).toMatchObject({ status: 'settled' });
      const v1 = signTransfer({ payerWalletId: w.p0, payeeWalletId: w.m, amountMinor: 2500n }, keys.p0.privateKey);
      expect(await settle(bankA, v1.wire)).toMatchObject({ status: 'settled' });
      const db = sys.topology.admin.ofShard(shardOf(w.m, SHARDS));
      const reopen = (id: string) => db`update payment_requests set status = 'open', paid_by_transfer_id = null, paid_at_ms = null where id = ${id}`;
      const findingsAfter = async (change: () => Promise<unknown>, undo: () => Promise<unknown>) => {
        await change();
        const report = await run();
        await undo();
        expect(report.ok).toBe(false);
        return named(report);
      };
      // Marked paid by a transfer that was never recorded, or by a real one that names no request.
      const ghost = randomBytes(32).toString('hex');
      expect(
        await findingsAfter(
          () => db`update payment_requests set status = 'paid', paid_by_transfer_id = ${ghost}, paid_at_ms = 1 where id = ${open.id}`,
          () => reopen(open.id),
        ),
      ).toEqual([expect.stringMatching(new RegExp(`^payment_requests: (group \\d: )?payment request ${open.id}: it is marked paid by transfer ${ghost}, which is not recorded$`))]);
      expect(
        await findingsAfter(
          () => db`update payment_requests set status = 'paid', paid_by_transfer_id = ${v1.id}, paid_at_ms = 1 where id = ${open.id}`,
          () => reopen(open.id),
        ),
      ).toEqual([expect.stringMatching(new RegExp(`payment request ${open.id}: it is marked paid by transfer ${v1.id}, which names no request$`))]);
      // Unpaid: the settled transfer that names it is no longer the one it is paid by.
      const paidAt = (await db<{ paid_at_ms: bigint }[]>`select paid_at_ms from payment_requests where id = ${paid.id}`)[0].paid_at_ms;
      const repay = () => db`update payment_requests set status = 'paid', paid_by_transfer_id = ${transferId}, paid_at_ms = ${paidAt.toString()} where id = ${paid.id}`;
      expect(await findingsAfter(() => reopen(paid.id), repay)).toEqual([expect.stringMatching(new RegExp(`transfer ${transferId}: it settled paying request ${paid.id}, which is open`))]);
      // The request's fixed amount changed after it was paid.
      expect(
        await findingsAfter(
          () => db`update payment_requests set amount_minor = 2400 where id = ${paid.id}`,
          () => db`update payment_requests set amount_minor = 2500 where id = ${paid.id}`,
        ),
      ).toEqual([expect.stringMatching(new RegExp(`payment request ${paid.id}: transfer ${transferId} pays 2500, not the request's amount 2400`))]);
      expect(named(await run())).toEqual([]);
      // The transfer's request id is under the customer's signature: changed by hand, it is named.
      const findings = await findingsAfter(
        () => db`update transfers set request_id = ${open.id} where id = ${transferId}`,
        () => db`update transfers set request_id = ${paid.id} where id = ${transferId}`,
      );
      expect(findings.some((f) => f.startsWith('transfer: ') && f.includes(transferId) && f.includes('does not hash to its id'))).toBe(true);
      expect(named(await run())).toEqual([]);
    });
  });
});

/** Adds a job to a shard's queue as Redis would hold it, and waits for the worker's verdict. */
async function addJob(sys: TestSystem, shard: number, data: SettlementJobData): Promise<unknown> {
  const q = shardQueue(sys.queuePrefix, shard);
  const connection = consumerRedis(sys.redis);
  const queue = new Queue(q.name, { connection, prefix: q.prefix });
  const events = new QueueEvents(q.name, { connection: consumerRedis(sys.redis), prefix: q.prefix });
  await events.waitUntilReady();
  try {
    return await (await queue.add('batch', data, { attempts: 1 })).waitUntilFinished(events, 15_000);
  } finally {
    await events.close();
    await queue.close();
    connection.disconnect();
  }
}

/** Another gateway process over the same system: its own settlement client and reply stream. */
async function startSecondGateway(sys: TestSystem, bankAKeyHex: string): Promise<{ bankA: BankClient; close: () => Promise<void> }> {
  const client = new SettlementClient({
    redis: sys.redis,
    queuePrefix: sys.queuePrefix,
    shardCount: SHARDS,
    signer: signerFromSeed(sys.keys.attestation),
    keyId: TEST_GATEWAY_KEY_ID,
    gatewayId: 'test-gw-2',
    limits: { ...LIMITS },
    loadShardKeys: () => shardPublicKeysAcross(sys.topology.gateway.groups),
  });
  await client.start();
  const redis = producerRedis(sys.redis);
  redis.on('error', () => {});
  await untilReady(redis);
  const app = await buildGatewayApp({
    topology: sys.topology.gateway,
    redis,
    settlement: client,
    shardCount: SHARDS,
    limits: { ...LIMITS },
    queuePrefix: sys.queuePrefix,
    registrySigner: registrySignerOfAttestationKey(sys.keys.attestation),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const bankA = new BankClient(url, 'bank-a', bankAKeyHex);
  return {
    bankA,
    async close() {
      await app.close();
      await client.close();
      redis.disconnect();
    },
  };
}
