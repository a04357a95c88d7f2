/**
 * Issue 14, deliver 3: a wallet's tier changes (KYC upgrade or downgrade) and its customer's key
 * is replaced after a lost device, by its bank, through the gateway. The new caps and key apply from
 * the shard's next batch (the settlement worker's wallets held in memory included); the old key is
 * refused from then on, a transfer already queued with it too; both are chained registry events
 * with the bank's signed request, and events for the bank; the audit verifies each transfer against
 * the key in force at its batch and names rows and transfers no event accounts for. Real Postgres,
 * Redis, gateway, issuer and settlement workers.
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, type BankClient, type WalletView } from '@cbdc/client';
import { audit, type AuditReport } from '@cbdc/db/audit';
import { replaceWalletKey } from '@cbdc/db/wallet-lifecycle';
import { ed25519PublicKeyOfSeed, signerFromSeed } from '@cbdc/shared/crypto';
import { shardOf, walletIdOf } from '@cbdc/shared/ids';
import { shardQueue } from '@cbdc/shared/job';
import { consumerRedis } from '@cbdc/shared/redis';
import { registrySignerOfAttestationKey } from '@cbdc/shared/registry';
import { DEFAULT_AUDIENCE, requestStringToSign } from '@cbdc/shared/request-auth';
import { startTestSystem, type TestSystem } from './support/system.js';

const YUAN = 100n;
type Key = ReturnType<typeof newCustomerKey>;

const problemOf = (e: unknown) => {
  if (e instanceof CbdcApiError) return { ...e.problem, status: e.status };
  throw e;
};
const named = (report: AuditReport) => report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);

describe('wallet lifecycle: tier changes and key replacements', () => {
  let sys: TestSystem;
  let bankA: BankClient & { privateKeyHex: string };
  let bankB: BankClient;
  let payee: string;
  let opened = 0;

  const run = () => audit(sys.db.sql, { trustedIssuerPublicKey: ed25519PublicKeyOfSeed(sys.keys.issuer), trustedGatewayPublicKeys: [registrySignerOfAttestationKey(sys.keys.attestation).publicKey] });
  /** A customer wallet of bank A, funded with `yuan`. */
  const open = async (tier: 'I' | 'II' | 'III' | 'IV', yuan: bigint): Promise<{ id: string; key: Key }> => {
    const key = newCustomerKey();
    const { id } = await bankA.openWallet({ publicKey: key.publicKey, customerRef: `c-${++opened}`, tier });
    if (yuan > 0n) expect((await bankA.fund(id, yuan * YUAN)).body.status).toBe('settled');
    return { id, key };
  };
  /** A payment from `from` to the shared payee, signed with `key`; the outcome, or the problem. */
  const pay = async (from: string, key: Key, yuan: bigint, nonce?: bigint) => {
    const signed = signTransfer({ payerWalletId: from, payeeWalletId: payee, amountMinor: yuan * YUAN, nonce }, key.privateKey);
    const outcome = await bankA.transfer(signed.wire).then((r) => ({ status: r.body.status, code: r.body.code ?? null }), problemOf);
    return { id: signed.id, ...outcome };
  };
  const row = async (id: string) => (await sys.db.sql<{ tier: string | null; public_key: Buffer | null }[]>`select tier, public_key from wallets where id = ${id}`)[0];
  const counts = async () => {
    const [c] = await sys.db.sql<{ registry: number; events: number }[]>`select (select count(*) from registry_events)::int as registry, (select count(*) from events where type like 'wallet.%')::int as events`;
    return c;
  };

  beforeAll(async () => {
    // A synchronous submit waits long enough for the workers to be restarted under it.
    sys = await startTestSystem({ dualControlThresholdMinor: 10_000_000n * YUAN, limits: { settleWaitMs: 25_000, idempotencyLeaseMs: 60_000 } });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n * YUAN, 'RTGS-A-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n * YUAN);
    payee = (await bankA.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'payee', tier: 'I' })).id;
  });
  afterAll(async () => sys?.close());

  it("applies a new tier's caps from the next batch: an upgrade lets a payment over the old cap settle, a downgrade refuses it again", async () => {
    const w = await open('IV', 8_000n);
    // Over tier IV's 2,000 per payment: refused, and the worker now holds the wallet in memory.
    expect(await pay(w.id, w.key, 3_000n)).toMatchObject({ status: 'rejected', code: 'exceeds_payment_limit' });
    const upgraded = await bankA.changeTier(w.id, 'III', 'KYC: identity verified in branch');
    expect(upgraded).toMatchObject({ id: w.id, tier: 'III', limits: { paymentMaxMinor: (5_000n * YUAN).toString() } });
    expect(await pay(w.id, w.key, 3_000n)).toMatchObject({ status: 'settled' });
    const downgraded = await bankA.changeTier(w.id, 'IV', 'KYC: document expired');
    expect(downgraded).toMatchObject({ tier: 'IV', balanceMinor: (5_000n * YUAN).toString(), limits: { paymentMaxMinor: (2_000n * YUAN).toString() } });
    expect(await pay(w.id, w.key, 3_000n)).toMatchObject({ status: 'rejected', code: 'exceeds_payment_limit' });
    expect(await pay(w.id, w.key, 2_000n)).toMatchObject({ status: 'settled' });
    expect((await bankA.wallet(w.id)).tier).toBe('IV');
  });

  it('applies the balance cap of the new tier to the wallet as a payee', async () => {
    const w = await open('III', 0n);
    const payer = await open('I', 30_000n);
    const to = async (yuan: bigint) => {
      const { wire } = signTransfer({ payerWalletId: payer.id, payeeWalletId: w.id, amountMinor: yuan * YUAN }, payer.key.privateKey);
      return (await bankA.transfer(wire)).body;
    };
    expect(await to(15_000n)).toMatchObject({ status: 'settled' });
    // 15,000 + 8,000 is above tier III's 20,000; tier II takes it.
    expect(await to(8_000n)).toMatchObject({ status: 'rejected', code: 'exceeds_balance_limit' });
    await bankA.changeTier(w.id, 'II', 'KYC: upgraded');
    expect(await to(8_000n)).toMatchObject({ status: 'settled' });
  });

  it('refuses a downgrade below what the wallet holds, and changes nothing', async () => {
    const w = await open('II', 15_000n);
    const before = await counts();
    const refused = await bankA.changeTier(w.id, 'IV', 'KYC: downgrade').catch(problemOf);
    expect(refused).toMatchObject({ status: 409, code: 'tier_below_balance', errors: [{ field: 'body/tier', rule: 'balance_within_cap' }] });
    expect(await counts()).toEqual(before);
    expect((await row(w.id)).tier).toBe('II');
    // Tier III's cap is 20,000: that downgrade fits.
    expect((await bankA.changeTier(w.id, 'III', 'KYC: downgrade')).tier).toBe('III');
  });

  it('refuses treasuries, closed wallets and unchanged values with clear codes, and changes nothing', async () => {
    const w = await open('II', 0n);
    const closed = await open('II', 0n);
    await bankA.setWalletStatus(closed.id, 'close');
    const before = await counts();
    expect(await bankA.changeTier('t_bank-a', 'II', 'no').catch(problemOf)).toMatchObject({ status: 422, code: 'wallet_is_treasury' });
    expect(await bankA.replaceKey('t_bank-a', newCustomerKey().publicKey, 'no').catch(problemOf)).toMatchObject({ status: 422, code: 'wallet_is_treasury' });
    expect(await bankA.changeTier(closed.id, 'I', 'no').catch(problemOf)).toMatchObject({ status: 422, code: 'wallet_closed' });
    expect(await bankA.replaceKey(closed.id, newCustomerKey().publicKey, 'no').catch(problemOf)).toMatchObject({ status: 422, code: 'wallet_closed' });
    expect(await bankA.changeTier(w.id, 'II', 'same').catch(problemOf)).toMatchObject({ status: 409, code: 'tier_unchanged', errors: [{ field: 'body/tier' }] });
    expect(await bankA.replaceKey(w.id, w.key.publicKey, 'same').catch(problemOf)).toMatchObject({ status: 409, code: 'key_unchanged', errors: [{ field: 'body/publicKey' }] });
    expect(await counts()).toEqual(before);
  });

  it('lets a frozen wallet change tier and key (freeze on a lost device, re-key, lift)', async () => {
    const w = await open('IV', 100n);
    await bankA.setWalletStatus(w.id, 'freeze', 'device reported lost');
    const fresh = newCustomerKey();
    expect(await bankA.replaceKey(w.id, fresh.publicKey, 'device lost')).toMatchObject({ status: 'frozen', publicKey: fresh.publicKey });
    expect(await bankA.changeTier(w.id, 'III', 'KYC done at the same visit')).toMatchObject({ status: 'frozen', tier: 'III' });
    await bankA.setWalletStatus(w.id, 'unfreeze', 'customer identified');
    expect(await pay(w.id, fresh, 10n)).toMatchObject({ status: 'settled' });
  });

  it("answers another bank's wallet, and an unknown one, 404 on both routes, and changes nothing", async () => {
    const w = await open('II', 0n);
    const before = await counts();
    for (const id of [w.id, 'w_0000000000000000000000ff']) {
      expect(await bankB.changeTier(id, 'I', 'mine now').catch(problemOf)).toMatchObject({ status: 404, code: 'wallet_not_found', errors: [{ field: 'params/walletId', rule: 'own_wallet' }] });
      expect(await bankB.replaceKey(id, newCustomerKey().publicKey, 'mine now').catch(problemOf)).toMatchObject({ status: 404, code: 'wallet_not_found', errors: [{ field: 'params/walletId' }] });
    }
    expect(await counts()).toEqual(before);
    expect(await row(w.id)).toEqual({ tier: 'II', public_key: Buffer.from(w.key.publicKey, 'hex') });
  });

  it('describes both routes in the OpenAPI document, with their success and error responses', async () => {
    const doc = (await (await fetch(`${sys.gatewayUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>> };
    for (const [path, operationId] of [
      ['/v1/wallets/{walletId}/tier', 'changeWalletTier'],
      ['/v1/wallets/{walletId}/key', 'replaceWalletKey'],
    ]) {
      const op = doc.paths[path]?.post;
      expect(op?.operationId, path).toBe(operationId);
      expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '404', '409', '413', '415', '422', '429', '500', '503']);
    }
  });

  it('answers bad input 400 naming the field and the rule, and changes nothing', async () => {
    const w = await open('II', 0n);
    const key = newCustomerKey().publicKey;
    const idem = () => ({ headers: { 'idempotency-key': `bad-${Math.random().toString(36).slice(2)}` } });
    const cases: Array<[string, 'tier' | 'key', unknown, string, string?]> = [
      ['a tier not in I-IV', 'tier', { tier: 'V', reason: 'x' }, 'body/tier', 'tier'],
      ['a tier in lower case', 'tier', { tier: 'ii', reason: 'x' }, 'body/tier', 'tier'],
      ['no tier', 'tier', { reason: 'x' }, 'body/tier'],
      ['no reason', 'tier', { tier: 'I' }, 'body/reason'],
      ['an empty reason', 'tier', { tier: 'I', reason: '' }, 'body/reason', 'reason_required'],
      ['a reason over 200 bytes', 'tier', { tier: 'I', reason: 'é'.repeat(101) }, 'body/reason'],
      ['a reason with a control character', 'tier', { tier: 'I', reason: 'lost\u0000' }, 'body/reason'],
      ['an unknown field', 'tier', { tier: 'I', reason: 'x', bankId: 'bank-b' }, 'body/bankId', 'unknown_field'],
      ['a key of 63 hex digits', 'key', { publicKey: key.slice(1), reason: 'x' }, 'body/publicKey', 'ed25519_public_key'],
      ['a key in upper case', 'key', { publicKey: key.toUpperCase(), reason: 'x' }, 'body/publicKey', 'ed25519_public_key'],
      ['a key that is not a valid point (small order)', 'key', { publicKey: `01${'00'.repeat(31)}`, reason: 'x' }, 'body/publicKey'],
      ['no key', 'key', { reason: 'x' }, 'body/publicKey'],
      ['no reason for a key', 'key', { publicKey: key }, 'body/reason'],
      ['an unknown field with a key', 'key', { publicKey: key, reason: 'x', tier: 'I' }, 'body/tier', 'unknown_field'],
    ];
    const before = await counts();
    for (const [name, route, body, field, rule] of cases) {
      const problem = await bankA.raw('POST', `/v1/wallets/${w.id}/${route}`, body, idem()).catch(problemOf);
      expect(problem, name).toMatchObject({ status: 400, code: 'invalid_request' });
      const error = (problem as { errors?: Array<{ field: string; rule: string }> }).errors?.find((e) => e.field === field);
      expect(error, `${name}: ${JSON.stringify(problem)}`).toBeDefined();
      if (rule) expect(error!.rule, name).toBe(rule);
    }
    // A bad wallet id in the path.
    expect(await bankA.raw('POST', '/v1/wallets/nope/tier', { tier: 'I', reason: 'x' }, idem()).catch(problemOf)).toMatchObject({ status: 400, errors: [{ field: 'params/walletId' }] });
    expect(await counts()).toEqual(before);
    expect(await row(w.id)).toEqual({ tier: 'II', public_key: Buffer.from(w.key.publicKey, 'hex') });
  });

  it('requires an Idempotency-Key, answers a retry as the first time, and records the change once', async () => {
    const w = await open('IV', 0n);
    const missing = await bankA.raw('POST', `/v1/wallets/${w.id}/tier`, { tier: 'III', reason: 'KYC' }).catch(problemOf);
    expect(missing).toMatchObject({ status: 400, code: 'idempotency_key_required', errors: [{ field: 'header/idempotency-key' }] });
    const before = await counts();
    const first = await bankA.raw<WalletView>('POST', `/v1/wallets/${w.id}/tier`, { tier: 'III', reason: 'KYC' }, { headers: { 'idempotency-key': 'tier-change-0001' } });
    const again = await bankA.raw<WalletView>('POST', `/v1/wallets/${w.id}/tier`, { tier: 'III', reason: 'KYC' }, { headers: { 'idempotency-key': 'tier-change-0001' } });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await counts()).toEqual({ registry: before.registry + 1, events: before.events + 1 });
    const other = await bankA.raw('POST', `/v1/wallets/${w.id}/tier`, { tier: 'II', reason: 'KYC' }, { headers: { 'idempotency-key': 'tier-change-0001' } }).catch(problemOf);
    expect(other).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    // The same for a key replacement.
    const fresh = newCustomerKey();
    const k1 = await bankA.replaceKey(w.id, fresh.publicKey, 'device lost', 'key-replace-0001');
    const k2 = await bankA.replaceKey(w.id, fresh.publicKey, 'device lost', 'key-replace-0001');
    expect(k2).toEqual(k1);
    expect(await counts()).toEqual({ registry: before.registry + 2, events: before.events + 2 });
  });

  it('replaces a key: the old key is refused from the next batch, even for a transfer already queued; the new key works; nonces stay spent', async () => {
    const w = await open('II', 1_000n);
    const before = signTransfer({ payerWalletId: w.id, payeeWalletId: payee, amountMinor: 10n * YUAN, nonce: 1n }, w.key.privateKey);
    expect((await bankA.transfer(before.wire)).body).toMatchObject({ status: 'settled' });
    // The workers stop; a transfer signed with the old key passes the gateway and waits in the queue.
    await Promise.all(sys.workers.map((worker) => worker.close()));
    const queued = pay(w.id, w.key, 20n, 2n);
    const connection = consumerRedis(sys.redis);
    const q = shardQueue(sys.queuePrefix, 0);
    const queue = new Queue(q.name, { connection, prefix: q.prefix });
    try {
      await expect.poll(() => queue.getWaitingCount(), { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    const fresh = newCustomerKey();
    const replaced = await bankA.replaceKey(w.id, fresh.publicKey, 'device lost');
    expect(replaced.publicKey).toBe(fresh.publicKey);
    await sys.restartWorkers();
    // Settlement verifies against the key in force: refused, nothing recorded.
    const refused = await queued;
    expect(refused).toMatchObject({ status: 422, code: 'authority_refused', errors: [{ rule: 'authority_in_force' }] });
    expect((await sys.db.sql`select 1 from transfers where id = ${refused.id}`).length).toBe(0);
    // From now on the gateway refuses the old key itself.
    expect(await pay(w.id, w.key, 20n, 3n)).toMatchObject({ status: 422, code: 'bad_signature' });
    // The new key works; a nonce spent under the old key stays spent (nonces are per wallet).
    expect(await pay(w.id, fresh, 20n, 4n)).toMatchObject({ status: 'settled' });
    expect(await pay(w.id, fresh, 30n, 1n)).toMatchObject({ status: 'rejected', code: 'nonce_reused' });
    // The nonce of the refused transfer was never spent: the new key may use it.
    expect(await pay(w.id, fresh, 20n, 2n)).toMatchObject({ status: 'settled' });
    expect((await bankA.wallet(w.id)).publicKey).toBe(fresh.publicKey);
    // A retry of the transfer that settled before the replacement is answered with its record.
    const retried = await bankA.transfer(before.wire);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: before.id, status: 'settled' });
  });

  it("reloads a key replaced through another gateway process before refusing the new key's signature", async () => {
    const w = await open('II', 1_000n);
    expect(await pay(w.id, w.key, 10n)).toMatchObject({ status: 'settled' }); // this gateway now holds the old key
    // Another gateway process replaces it (the same transaction its route runs, with the bank's signed request).
    const fresh = newCustomerKey();
    const body = JSON.stringify({ publicKey: fresh.publicKey, reason: 'device lost' });
    const message = requestStringToSign({
      audience: DEFAULT_AUDIENCE,
      method: 'POST',
      pathWithQuery: `/v1/wallets/${w.id}/key`,
      timestampMs: String(Date.now()),
      nonce: 'other-gateway-nonce-1',
      contentType: 'application/json',
      idempotencyKey: 'other-gw-key-1',
      body,
    });
    const authority = { message, signature: signerFromSeed(Buffer.from(bankA.privateKeyHex, 'hex')).sign(message), body: Buffer.from(body) };
    const registry = { role: 'gateway' as const, signer: registrySignerOfAttestationKey(sys.keys.attestation) };
    await sys.topology.gateway.ofShard(0).begin((tx) => replaceWalletKey(tx as never, registry, w.id, Buffer.from(fresh.publicKey, 'hex'), { bankId: 'bank-a', reason: 'device lost', authority, nowMs: Date.now() }));
    expect(await pay(w.id, fresh, 10n)).toMatchObject({ status: 'settled' });
    expect(await pay(w.id, w.key, 10n)).toMatchObject({ status: 422, code: 'bad_signature' });
  });

  it("records both in the wallet's chain with the bank's signed request, tells the bank, and shows the wallet as it now is", async () => {
    const w = await open('IV', 0n);
    const fresh = newCustomerKey();
    await bankA.changeTier(w.id, 'II', 'KYC: verified');
    const [{ head_seq: headSeq }] = await sys.db.sql<{ head_seq: bigint }[]>`select head_seq from shards where shard = 0`;
    await bankA.replaceKey(w.id, fresh.publicKey, 'device lost');
    const events = await sys.db.sql<{ chain: string; kind: string; facts: Record<string, string>; actor_kind: string; actor_id: string; signer: string; authority_message: Buffer | null }[]>`
      select chain, kind, facts, actor_kind, actor_id, signer, authority_message from registry_events where subject = ${w.id} order by seq`;
    expect(events.map((e) => e.kind)).toEqual(['wallet_opened', 'wallet_tier_changed', 'wallet_key_replaced']);
    expect(events.every((e) => e.chain === 'bank:bank-a/shard:0' && e.actor_kind === 'bank' && e.actor_id === 'bank-a' && e.signer === 'gateway')).toBe(true);
    expect(events[1].facts).toEqual({ tier: 'II', previousTier: 'IV', reason: 'KYC: verified' });
    expect(events[2].facts).toEqual({ publicKey: fresh.publicKey, previousPublicKey: w.key.publicKey, reason: 'device lost', shardHeadSeq: headSeq.toString() });
    expect(events[2].authority_message?.toString()).toContain(`/v1/wallets/${w.id}/key`);
    const told = await sys.db.sql<{ type: string; wallet_id: string; data: Record<string, string> }[]>`select type, wallet_id, data from events where bank_id = 'bank-a' and subject_id = ${w.id} order by seq`;
    expect(told).toEqual([
      { type: 'wallet.tier_changed', wallet_id: w.id, data: { tier: 'II', previousTier: 'IV', reason: 'KYC: verified' } },
      { type: 'wallet.key_replaced', wallet_id: w.id, data: { publicKey: fresh.publicKey, previousPublicKey: w.key.publicKey, reason: 'device lost' } },
    ]);
    expect(await bankA.wallet(w.id)).toMatchObject({ tier: 'II', publicKey: fresh.publicKey });
  });

  it('audits clean: every transfer, before and after each replacement, verifies against the key in force at its batch', async () => {
    const w = await open('II', 1_000n);
    const keys = [w.key, newCustomerKey(), newCustomerKey()];
    for (const [i, key] of keys.entries()) {
      if (i > 0) await bankA.replaceKey(w.id, key.publicKey, `device lost ${i}`);
      expect(await pay(w.id, key, 10n)).toMatchObject({ status: 'settled' });
    }
    const report = await run();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('names a tier or key changed in the database with no event behind it', async () => {
    const w = await open('IV', 0n);
    await bankA.changeTier(w.id, 'III', 'KYC');
    await bankA.replaceKey(w.id, newCustomerKey().publicKey, 'device lost');
    const [{ seq: keySeq }] = await sys.db.sql<{ seq: bigint }[]>`select max(seq) as seq from registry_events where subject = ${w.id}`;
    const stored = await row(w.id);
    const tamper = async (change: () => Promise<unknown>) => {
      await change();
      const findings = named(await run());
      await sys.db.sql`update wallets set tier = ${stored.tier}, public_key = ${stored.public_key} where id = ${w.id}`;
      return findings;
    };
    const tier = await tamper(() => sys.db.sql`update wallets set tier = 'I' where id = ${w.id}`);
    expect(tier).toContainEqual(`wallets: wallet ${w.id}: tier differs from its registry event (registry bank:bank-a/shard:0 event ${keySeq - 1n}): stored I, registered III`);
    const mallory = newCustomerKey().publicKey;
    const key = await tamper(() => sys.db.sql`update wallets set public_key = ${Buffer.from(mallory, 'hex')} where id = ${w.id}`);
    expect(key).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${w.id}: public key differs from its registry event \\(registry bank:bank-a/shard:0 event ${keySeq}\\): stored ${mallory}`)));
    expect((await run()).ok).toBe(true);
  });

  it("names a key a compromised gateway replaced without the bank's request, the row it wrote, and what it spent with it", async () => {
    // The gateway host holds its database role and the registry key, not the bank's key: its event
    // carries no bank authority (or a request of the bank's for something else).
    const w = await open('II', 1_000n);
    const thief = newCustomerKey();
    const registry = { role: 'gateway' as const, signer: registrySignerOfAttestationKey(sys.keys.attestation) };
    const [{ seq }] = await sys.topology.gateway.ofShard(0).begin(async (tx) => {
      const row = await replaceWalletKey(tx as never, registry, w.id, Buffer.from(thief.publicKey, 'hex'), { bankId: 'bank-a', reason: 'device lost', authority: null, nowMs: Date.now() });
      expect(typeof row).toBe('object');
      return tx<{ seq: bigint }[]>`select max(seq) as seq from registry_events where chain = 'bank:bank-a/shard:0'`;
    });
    const stolen = await pay(w.id, thief, 500n);
    expect(stolen).toMatchObject({ status: 'settled' });
    const findings = named(await run());
    expect(findings).toContain(`registry_chain: registry bank:bank-a/shard:0 event ${seq}: it was written by a gateway but carries no bank authority`);
    expect(findings).toContainEqual(
      expect.stringMatching(new RegExp(`^wallets: wallet ${w.id}: public key differs from its registry event \\(registry bank:bank-a/shard:0 event \\d+\\): stored ${thief.publicKey}, registered ${w.key.publicKey}`)),
    );
    expect(findings).toContain(`transfer: transfer ${stolen.id}: the payer's signature does not verify over its stored content`);
  });

  it('names a transfer signed with the old key that settled after the replacement, and one signed with the new key before it', async () => {
    const bump = () => sys.db.sql`update shards set wallets_version = wallets_version + 1`;
    const setKey = (id: string, key: Key) =>
      sys.db.sql.begin(async (tx) => {
        await tx`update wallets set public_key = ${Buffer.from(key.publicKey, 'hex')} where id = ${id}`;
        await tx`update shards set wallets_version = wallets_version + 1`;
      });
    // Old key after: replaced officially, then a DBA puts the old key back long enough to spend with it.
    const late = await open('II', 1_000n);
    const lateNew = newCustomerKey();
    await bankA.replaceKey(late.id, lateNew.publicKey, 'device lost');
    await setKey(late.id, late.key);
    const spentLate = await pay(late.id, late.key, 10n);
    expect(spentLate).toMatchObject({ status: 'settled' });
    await setKey(late.id, lateNew);
    // New key before: a DBA installs the new key early, spends with it, puts the old one back; the
    // bank's replacement comes later. The wallet row ends as the registry says; only the transfer tells.
    const early = await open('II', 1_000n);
    const earlyNew = newCustomerKey();
    await setKey(early.id, earlyNew);
    const spentEarly = await pay(early.id, earlyNew, 10n);
    expect(spentEarly).toMatchObject({ status: 'settled' });
    await setKey(early.id, early.key);
    await bump();
    await bankA.replaceKey(early.id, earlyNew.publicKey, 'device lost');

    const findings = named(await run());
    expect(findings).toContain(`transfer: transfer ${spentLate.id}: the payer's signature does not verify over its stored content`);
    expect(findings).toContain(`transfer: transfer ${spentEarly.id}: the payer's signature does not verify over its stored content`);
    // The rows end as the registry says (the damage of the test before is its own wallet's).
    expect(findings.filter((f) => f.startsWith('wallets:') && (f.includes(late.id) || f.includes(early.id)))).toEqual([]);
  });
});

describe('wallet lifecycle over shard groups (2 shards, 2 group databases)', () => {
  let sys: TestSystem;
  let bank: BankClient;

  beforeAll(async () => {
    sys = await startTestSystem({ shards: 2, shardGroups: 2 });
    bank = await sys.addBank('bank-a');
    await sys.operators.alice.reserve('bank-a', 'deposit', 100_000n * YUAN, 'dep-a');
    await sys.operators.alice.issue('mint', 'bank-a', 100_000n * YUAN);
  });
  afterAll(async () => sys?.close());

  it("changes a tier and a key in the wallet's group database, with its chain and events there, and audits clean", async () => {
    // Keyed openings derive the wallet id from the key: pick one on shard 1 (group 1) and one on shard 0.
    const keyOn = (shard: number, tag: string) => {
      for (let i = 0; ; i++) if (shardOf(walletIdOf('bank-a', `${tag}-${i}-key`), 2) === shard) return `${tag}-${i}-key`;
    };
    const customer = newCustomerKey();
    const w = await bank.openWallet({ publicKey: customer.publicKey, customerRef: 'g1', tier: 'IV' }, keyOn(1, 'g1'));
    const other = await bank.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'g0', tier: 'I' }, keyOn(0, 'g0'));
    expect(w.shard).toBe(1);
    await bank.fund(w.id, 5_000n * YUAN);
    const payOther = (key: Key, yuan: bigint) =>
      bank.transfer(signTransfer({ payerWalletId: w.id, payeeWalletId: other.id, amountMinor: yuan * YUAN }, key.privateKey).wire).then((r) => ({ status: r.body.status, code: r.body.code ?? null }), problemOf);
    expect(await payOther(customer, 3_000n)).toMatchObject({ status: 'rejected', code: 'exceeds_payment_limit' });
    await bank.changeTier(w.id, 'III', 'KYC');
    const fresh = newCustomerKey();
    await bank.replaceKey(w.id, fresh.publicKey, 'device lost');
    expect(await payOther(customer, 3_000n)).toMatchObject({ status: 422, code: 'bad_signature' });
    expect(await payOther(fresh, 3_000n)).toMatchObject({ status: 'settled' });

    const group1 = sys.topology.admin.ofShard(1);
    const group0 = sys.topology.admin.ofShard(0);
    expect((await group1`select tier, public_key from wallets where id = ${w.id}`)[0]).toEqual({ tier: 'III', public_key: Buffer.from(fresh.publicKey, 'hex') });
    expect((await group1`select kind from registry_events where chain = 'bank:bank-a/shard:1' and subject = ${w.id} order by seq`).map((e) => e.kind)).toEqual(['wallet_opened', 'wallet_tier_changed', 'wallet_key_replaced']);
    expect((await group1`select type from events where wallet_id = ${w.id} and type like 'wallet.%' order by seq`).map((e) => e.type)).toEqual(['wallet.tier_changed', 'wallet.key_replaced']);
    expect((await group0`select count(*)::int as n from registry_events where subject = ${w.id}`)[0].n).toBe(0);
    expect((await group0`select count(*)::int as n from events where wallet_id = ${w.id}`)[0].n).toBe(0);

    const report = await audit(sys.topology.auditor, { trustedIssuerPublicKey: ed25519PublicKeyOfSeed(sys.keys.issuer) });
    expect(report.findings).toEqual([]);
  });
});
