/**
 * Holds through the gateway with real settlement (issue 14, item 4), on 4 shards over 2 shard-group
 * databases: a hold placed, captured in part on the same shard and across groups, a capture the
 * payee's shard refuses (its money back to the payer, once), a void, an expiry without any request
 * and a capture racing it, idempotent captures, receipts verified offline, the banks' events, and
 * the attackers: another bank reading or acting (404), the wrong party acting (403), and a
 * compromised gateway's capture in Redis without the payee bank's signature (never applied).
 * The audit passes at the end. Real Postgres and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '@cbdc/db/audit';
import { CbdcApiError, newCustomerKey, signHold, verifyHoldReceipt, type BankClient, type HoldView } from '@cbdc/client';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { shardPublicKeysAcross } from '@cbdc/wallet-gateway/transfers-store';
import { holdActionIdOf } from '@cbdc/shared/canonical-hold';
import { ed25519PrivateKey, ed25519Sign, signerFromSeed } from '@cbdc/shared/crypto';
import { holdActionAuthorityFor } from '@cbdc/shared/hold-authority';
import { shardOf, walletIdOf } from '@cbdc/shared/ids';
import { LIMITS } from '@cbdc/shared/limits';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { startTestSystem, TEST_GATEWAY_KEY_ID, type TestSystem } from './support/system.js';

const SHARDS = 4;
const YUAN = 100n;
const groupOf = (walletId: string) => shardOf(walletId, SHARDS) % 2;

/** An Idempotency-Key whose keyed wallet lands where `where` says. */
function keyWhere(bankId: string, tag: string, where: (walletId: string) => boolean): string {
  for (let i = 0; ; i++) {
    const key = `${tag}-${i}-open-key`;
    if (where(walletIdOf(bankId, key))) return key;
  }
}

const problemOf = (e: unknown) => (e instanceof CbdcApiError ? e.problem : { code: String(e), status: 0 });

describe('holds through the gateway (4 shards, 2 group databases)', () => {
  let sys: TestSystem;
  let bankA: BankClient & { privateKeyHex: string };
  let bankB: BankClient & { privateKeyHex: string };
  let bankC: BankClient & { privateKeyHex: string };
  const payerKey = newCustomerKey();
  /** a: the payer (bank A, group 0); same: bank B's payee on the payer's shard; far: bank B's payee in group 1. */
  const w = { payer: '', same: '', far: '' };

  beforeAll(async () => {
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2, limits: { settleWaitMs: 8_000 } });
    [bankA, bankB, bankC] = await Promise.all(['bank-a', 'bank-b', 'bank-c'].map((b) => sys.addBank(b)));
    const deposit = await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n * YUAN, 'dep-a');
    if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
    const mint = await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n * YUAN);
    if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
    const payerOpenKey = keyWhere('bank-a', 'payer', (id) => groupOf(id) === 0);
    w.payer = (await bankA.openWallet({ publicKey: payerKey.publicKey, customerRef: 'payer', tier: 'II' }, payerOpenKey)).id;
    const payerShard = shardOf(w.payer, SHARDS);
    w.same = (
      await bankB.openWallet(
        { publicKey: newCustomerKey().publicKey, customerRef: 'same', tier: 'II' },
        keyWhere('bank-b', 'same', (id) => shardOf(id, SHARDS) === payerShard),
      )
    ).id;
    w.far = (
      await bankB.openWallet(
        { publicKey: newCustomerKey().publicKey, customerRef: 'far', tier: 'IV' },
        keyWhere('bank-b', 'far', (id) => groupOf(id) === 1),
      )
    ).id;
    expect((await bankA.fund(w.payer, 5_000n * YUAN, 'fund-payer-0001')).body.status).toBe('settled');
  }, 60_000);
  afterAll(async () => sys?.close());

  const place = async (payee: string, amount: bigint, o: { holdExpiresAtMs?: bigint; nonce?: bigint } = {}) => {
    const { id, wire } = signHold({ payerWalletId: w.payer, payeeWalletId: payee, amountMinor: amount, memo: 'hotel deposit', ...o }, payerKey.privateKey);
    const res = await bankA.placeHold(wire);
    expect(res.status).toBe(200);
    return { id, wire, hold: res.body as HoldView };
  };
  const eventsOf = async (walletId: string, bankId: string, subjectId: string) =>
    (
      await sys.topology.admin.ofShard(shardOf(walletId, SHARDS))<{ type: string; amount_minor: bigint | null; code: string | null }[]>`
      select type, amount_minor, code from events where bank_id = ${bankId} and subject_id = ${subjectId} order by seq`
    ).map((e) => [e.type, e.amount_minor === null ? null : Number(e.amount_minor), e.code]);
  const shardKeys = async () => Object.fromEntries((await bankA.shards()).map((s) => [s.shard, s.publicKey]));

  it("places a hold: the amount leaves the payer's available balance into held money; placing it again answers the same", async () => {
    const { id, wire, hold } = await place(w.same, 300n * YUAN);
    expect(hold).toMatchObject({ id, status: 'open', code: null, amountMinor: '30000', capture: null, payerWalletId: w.payer, payeeWalletId: w.same });
    expect(await bankA.wallet(w.payer)).toMatchObject({ balanceMinor: String(4_700n * YUAN), heldMinor: String(300n * YUAN), dailyOutflowMinor: String(300n * YUAN) });
    expect((await bankA.placeHold(wire)).body).toMatchObject({ id, status: 'open' });
    expect((await bankA.wallet(w.payer)).heldMinor).toBe(String(300n * YUAN));
    // The payee's bank reads it; the hold row is in the payer's group only.
    expect(await bankB.hold(id)).toMatchObject({ id, status: 'open' });
    const [g0, g1] = sys.topology.admin.groups.map((g) => g.sql);
    expect((await g0`select 1 from holds where id = ${id}`).length).toBe(1);
    expect((await g1`select 1 from holds where id = ${id}`).length).toBe(0);
  });

  it('captures in part on the same shard: the payee gets the amount, the rest returns at once; a retry with the key is answered the same', async () => {
    const { id } = await place(w.same, 200n * YUAN);
    const before = await bankA.wallet(w.payer);
    const key = `capture-${id.slice(0, 12)}`;
    const res = await bankB.captureHold(id, 120n * YUAN, key);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'captured', capturedMinor: '12000', returnedMinor: '8000', capture: { status: 'settled', code: null } });
    const again = await bankB.captureHold(id, 120n * YUAN, key);
    expect(again.body).toEqual(res.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await bankB.captureHold(id, 1n).catch(problemOf)).toMatchObject({ status: 409, code: 'hold_not_open' });
    const after = await bankA.wallet(w.payer);
    expect(BigInt(after.balanceMinor) - BigInt(before.balanceMinor)).toBe(80n * YUAN);
    expect(BigInt(before.heldMinor) - BigInt(after.heldMinor)).toBe(200n * YUAN);
    expect((await bankB.wallet(w.same)).balanceMinor).toBe(String(120n * YUAN));
    expect(await eventsOf(w.payer, 'bank-a', id)).toEqual([
      ['hold.placed', 20_000, null],
      ['hold.captured', 12_000, null],
    ]);
    expect(await eventsOf(w.same, 'bank-b', id)).toEqual([['payment.received', 12_000, null]]);
    const receipt = await bankA.holdReceipt(id);
    expect(receipt.leaves.map((l) => l.leaf.event)).toEqual(['placed', 'captured']);
    expect(verifyHoldReceipt(receipt, await shardKeys())).toBeNull();
    const tampered = structuredClone(receipt);
    tampered.leaves[1].leaf.capturedMinor = '20000';
    expect(verifyHoldReceipt(tampered, await shardKeys())).not.toBeNull();
  });

  it('captures across groups: the money travels like a transfer and arrives once; the payee bank hears of it', async () => {
    const { id } = await place(w.far, 500n * YUAN);
    const res = await bankB.captureHold(id, 500n * YUAN);
    expect(res.body).toMatchObject({ status: 'captured', capturedMinor: '50000', returnedMinor: '0' });
    await expect.poll(async () => (await bankB.hold(id)).capture?.status, { timeout: 15_000 }).toBe('settled');
    expect((await bankB.wallet(w.far)).balanceMinor).toBe(String(500n * YUAN));
    expect((await bankA.wallet(w.payer)).inFlightOutMinor).toBe('0');
    expect(await eventsOf(w.far, 'bank-b', id)).toEqual([['payment.received', 50_000, null]]);
    const receipt = await bankB.holdReceipt(id);
    expect(receipt.legs.map((l) => [l.leg.leg, l.leg.status])).toEqual([['credit', 'applied']]);
    expect(verifyHoldReceipt(receipt, await shardKeys())).toBeNull();
  });

  it("returns a capture the payee's shard refuses to the payer, exactly once", async () => {
    await bankA.fund(w.payer, 10_000n * YUAN, 'fund-payer-0002');
    const { id } = await place(w.far, 1_900n * YUAN);
    const { id: second } = await place(w.far, 1_900n * YUAN);
    const before = BigInt((await bankA.wallet(w.payer)).balanceMinor);
    await bankB.setWalletStatus(w.far, 'freeze', 'test: the payee cannot receive');
    expect((await bankB.captureHold(id, 1_000n * YUAN)).body).toMatchObject({ status: 'captured', returnedMinor: String(900n * YUAN) });
    await expect.poll(async () => (await bankA.hold(id)).capture, { timeout: 15_000 }).toEqual({ status: 'rejected', code: 'payee_unavailable' });
    expect((await bankB.hold(id)).capture).toEqual({ status: 'rejected', code: 'payee_frozen' });
    expect(BigInt((await bankA.wallet(w.payer)).balanceMinor) - before).toBe(1_900n * YUAN);
    expect((await bankB.wallet(w.far)).balanceMinor).toBe(String(500n * YUAN));
    expect((await eventsOf(w.payer, 'bank-a', id)).map((e) => e[0])).toEqual(['hold.placed', 'hold.captured', 'hold.capture_returned']);
    // A refused capture's receipt would prove the payee's state: bank A is refused it, bank B gets it.
    expect(await bankA.holdReceipt(id).catch(problemOf)).toMatchObject({ status: 403, code: 'receipt_withheld' });
    expect(verifyHoldReceipt(await bankB.holdReceipt(id), await shardKeys())).toBeNull();
    await bankB.setWalletStatus(w.far, 'unfreeze', 'test: done');
    // The payer's bank voids the other: everything back.
    expect((await bankA.voidHold(second)).body).toMatchObject({ status: 'voided', returnedMinor: String(1_900n * YUAN) });
    expect(BigInt((await bankA.wallet(w.payer)).balanceMinor) - before).toBe(3_800n * YUAN);
  });

  it('keeps another bank out (404 everywhere) and the wrong party from acting (403)', async () => {
    const { id } = await place(w.same, 10n * YUAN);
    for (const attempt of [() => bankC.hold(id), () => bankC.captureHold(id, 1n), () => bankC.voidHold(id), () => bankC.holdReceipt(id)]) {
      expect(await attempt().catch(problemOf)).toMatchObject({ status: 404, code: 'hold_not_found' });
    }
    expect(await bankA.captureHold(id, 1n).catch(problemOf)).toMatchObject({ status: 403, code: 'hold_action_not_allowed' });
    expect(await bankB.voidHold(id).catch(problemOf)).toMatchObject({ status: 403, code: 'hold_action_not_allowed' });
    expect(await bankB.captureHold(id, 10n * YUAN + 1n).catch(problemOf)).toMatchObject({ status: 422, code: 'capture_exceeds_hold', errors: [{ field: 'body/amountMinor' }] });
    expect(await bankB.raw('POST', `/v1/holds/${id}/capture`, { amountMinor: '1', extra: 1 }, { headers: { 'idempotency-key': 'bad-body-0001' } }).catch(problemOf)).toMatchObject({ status: 400 });
    expect(await bankB.raw('POST', `/v1/holds/${id}/capture`, { amountMinor: '1' }).catch(problemOf)).toMatchObject({ status: 400, code: 'idempotency_key_required' });
    // A hold on another bank's wallet cannot be placed; a bad hold expiry names its field.
    const foreign = signHold({ payerWalletId: w.payer, payeeWalletId: w.same, amountMinor: 1n }, payerKey.privateKey);
    expect(await bankC.placeHold(foreign.wire).catch(problemOf)).toMatchObject({ status: 404, code: 'wallet_not_found' });
    const tooLong = signHold({ payerWalletId: w.payer, payeeWalletId: w.same, amountMinor: 1n, holdExpiresAtMs: BigInt(Date.now() + LIMITS.holdDurationMsMax + 60_000) }, payerKey.privateKey);
    expect(await bankA.placeHold(tooLong.wire).catch(problemOf)).toMatchObject({ status: 422, code: 'hold_expiry_invalid', errors: [{ field: 'body/holdExpiresAtMs' }] });
    expect((await bankA.hold(id)).status).toBe('open');
    expect((await bankA.voidHold(id)).body.status).toBe('voided');
  });

  it('never applies a capture without the payee bank’s own signature, even from a compromised gateway', async () => {
    const { id } = await place(w.same, 50n * YUAN);
    // The attacker holds the gateway's attestation key and writes to Redis: its jobs are accepted,
    // but each item still needs its own authority.
    const rogue = new SettlementClient({
      redis: sys.redis,
      queuePrefix: sys.queuePrefix,
      shardCount: SHARDS,
      signer: signerFromSeed(sys.keys.attestation),
      keyId: TEST_GATEWAY_KEY_ID,
      gatewayId: 'rogue-gw',
      limits: LIMITS,
      loadShardKeys: () => shardPublicKeysAcross(sys.topology.gateway.groups),
    });
    await rogue.start();
    try {
      const shard = shardOf(w.payer, SHARDS);
      const signedBy = (privateKeyHex: string, key: string, holdId: string) =>
        holdActionAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey: key, holdId, action: 'capture', amountMinor: String(50n * YUAN), timestampMs: Date.now() }, (m) =>
          ed25519Sign(ed25519PrivateKey(Buffer.from(privateKeyHex, 'hex')), m),
        );
      const forged = [
        // Bank C signs, claiming to be bank B.
        { id: holdActionIdOf('bank-b', 'rogue-1'), bankId: 'bank-b', authority: signedBy(bankC.privateKeyHex, 'rogue-1', id) },
        // Bank B's genuine signature, but for another hold (a replayed request).
        { id: holdActionIdOf('bank-b', 'rogue-2'), bankId: 'bank-b', authority: signedBy(bankB.privateKeyHex, 'rogue-2', 'f'.repeat(64)) },
        // Bank C's own valid request: bank C is no party to the hold.
        { id: holdActionIdOf('bank-c', 'rogue-3'), bankId: 'bank-c', authority: signedBy(bankC.privateKeyHex, 'rogue-3', id) },
      ];
      const submission = rogue.submit(forged.map((f) => ({ shard, item: { type: 'hold_capture' as const, holdId: id, amountMinor: String(50n * YUAN), submittedAtMs: Date.now(), ...f } })));
      await submission.enqueued;
      const outcomes = await Promise.all(submission.outcomes);
      expect(outcomes.map((o) => [o.status, o.code ?? null])).toEqual([
        ['unauthorized', null],
        ['unauthorized', null],
        ['rejected', 'hold_not_found'],
      ]);
    } finally {
      await rogue.close();
    }
    expect(await bankB.hold(id)).toMatchObject({ status: 'open', capture: null });
    expect((await bankB.captureHold(id, 50n * YUAN)).body).toMatchObject({ status: 'captured' });
  });

  it('expires a hold without any request, exactly once; a capture after that is refused with hold_expired', async () => {
    const before = await bankA.wallet(w.payer);
    const { id } = await place(w.same, 70n * YUAN, { holdExpiresAtMs: BigInt(Date.now() + 1_500) });
    await expect.poll(async () => (await bankA.hold(id)).status, { timeout: 15_000, interval: 200 }).toBe('expired');
    const after = await bankA.wallet(w.payer);
    expect(after.balanceMinor).toBe(before.balanceMinor);
    expect(after.heldMinor).toBe(before.heldMinor);
    expect(await bankB.captureHold(id, 1n).catch(problemOf)).toMatchObject({ status: 409, code: 'hold_expired' });
    expect((await eventsOf(w.payer, 'bank-a', id)).map((e) => e[0])).toEqual(['hold.placed', 'hold.expired']);
  });

  it('audits clean: every hold leaf, authority, balance, held amount and the conservation law', async () => {
    const report = await audit(sys.topology.auditor, { trustedShardPublicKeys: new Map(sys.keys.shards.map((s, i) => [i, signerFromSeed(s).publicKey])) });
    expect(report.findings).toEqual([]);
    expect(BigInt(report.stats.walletBalancesMinor) + BigInt(report.stats.heldMinor) + BigInt(report.stats.inFlightMinor)).toBe(BigInt(report.stats.supplyMinor));
    expect(BigInt(report.stats.heldMinor)).toBeGreaterThan(0n);
    const supply = await sys.operators.alice.supply();
    expect(supply.heldMinor).toBe(report.stats.heldMinor);
  });

  it('names a tampered hold: its content, who captured it, the money it holds', async () => {
    const sql = sys.topology.admin.ofShard(shardOf(w.payer, SHARDS));
    const trusted = { trustedShardPublicKeys: new Map(sys.keys.shards.map((s, i) => [i, signerFromSeed(s).publicKey])) };
    const [captured] = await sql<{ id: string }[]>`select id from holds where status = 'captured' and capture_leg_status = 'settled' limit 1`;
    const [open] = await sql<{ id: string; amount_minor: bigint }[]>`select id, amount_minor from holds where status = 'open' limit 1`;
    const tampers: Array<[string, () => Promise<unknown>, () => Promise<unknown>, RegExp]> = [
      ['a hold amount', () => sql`update holds set amount_minor = amount_minor + 1 where id = ${open.id}`, () => sql`update holds set amount_minor = amount_minor - 1 where id = ${open.id}`, /does not hash to its id/],
      ['the bank that captured', () => sql`update holds set closing_bank_id = 'bank-a' where id = ${captured.id}`, () => sql`update holds set closing_bank_id = 'bank-b' where id = ${captured.id}`, /only bank-b may capture/],
      ['the money held', () => sql`update wallets set held_minor = held_minor + 1 where id = ${w.payer}`, () => sql`update wallets set held_minor = held_minor - 1 where id = ${w.payer}`, /held money/],
    ];
    for (const [what, tamper, restore, finding] of tampers) {
      await tamper();
      try {
        const report = await audit(sys.topology.auditor, trusted);
        expect(report.ok, what).toBe(false);
        expect(report.findings.map((f) => f.message).join('\n'), what).toMatch(finding);
      } finally {
        await restore();
      }
    }
    expect((await audit(sys.topology.auditor, trusted)).findings).toEqual([]);
  });
});
