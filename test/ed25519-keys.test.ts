/**
 * Weak keys are refused where they are registered (wallet open at the gateway, bank onboarding
 * and operator bootstrap at the issuer, signing keys at start), and the audit verifies chain
 * signatures under the one rule: the identity key's universal forgery, which node:crypto
 * accepted, is named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { ed25519EdgeCases } from '@cbdc/shared/ed25519-vectors';
import { bootstrapOperators } from '../services/issuer/src/app.js';
import { rawRequest } from './support/raw.js';
import { startTestSystem, type TestSystem } from './support/system.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** One vector per distinct refused key, with the rule the answer must name. */
const weakKeys = [
  ...new Map(
    ed25519EdgeCases()
      .filter((v) => !v.keyAccepted)
      .map((v) => [hex(v.publicKey), v.name]),
  ).entries(),
];
const ruleOf = (name: string) =>
  /mixed-order/.test(name) ? 'ed25519_public_key_mixed_order' : /not a point/.test(name) ? 'ed25519_public_key_not_a_point' : /^non-canonical A/.test(name) ? 'ed25519_public_key_not_canonical' : 'ed25519_public_key_small_order';

describe('Ed25519 keys at registration, and the audit under the one rule', () => {
  let sys: TestSystem;
  let bank: { keyId: string; privateKeyHex: string };

  beforeAll(async () => {
    sys = await startTestSystem();
    const a = await sys.addBank('bank-a');
    bank = { keyId: 'bank-a', privateKeyHex: a.privateKeyHex };
  });
  afterAll(async () => sys?.close());

  it('has the 8 small-order points, non-canonical, non-point and mixed-order keys to try', () => {
    expect(weakKeys.length).toBeGreaterThanOrEqual(12);
  });

  it.each(weakKeys)('refuses a wallet opened with %s (%s), naming the field and the rule, and stores nothing', async (key, name) => {
    const before = await sys.db.sql`select count(*)::int as n from wallets`;
    const res = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', JSON.stringify({ publicKey: key, customerRef: 'weak', tier: 'IV' }), bank);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_request');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'body/publicKey', rule: ruleOf(name) })]);
    expect(await sys.db.sql`select count(*)::int as n from wallets`).toEqual(before);
  });

  it.each(weakKeys)('refuses a bank onboarded with %s (%s)', async (key, name) => {
    const res = await rawRequest(sys.issuerUrl, 'POST', '/v1/banks', JSON.stringify({ id: 'weak-bank', name: 'Weak', publicKey: key }), { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'body/publicKey', rule: ruleOf(name) })]);
    expect(await sys.db.sql`select id from banks where id = 'weak-bank'`).toHaveLength(0);
  });

  it('still opens a wallet with a valid key', async () => {
    const res = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', JSON.stringify({ publicKey: newCustomerKey().publicKey, customerRef: 'ok', tier: 'IV' }), bank);
    expect(res.status).toBe(201);
  });

  it('refuses to bootstrap an operator with a weak key, before writing anything', async () => {
    const identity = Buffer.from('01' + '00'.repeat(31), 'hex');
    await expect(bootstrapOperators(sys.db.sql, [{ id: 'mallory', publicKey: identity }], signerFromSeed(sys.keys.issuer))).rejects.toThrow(/operator mallory: ed25519_public_key_small_order/);
    expect(await sys.db.sql`select id from operators where id = 'mallory'`).toHaveLength(0);
  });

  it('builds signers only with keys that pass the check', () => {
    expect(signerFromSeed(Buffer.alloc(32, 7)).publicKey).toHaveLength(32);
  });

  it("names issuer and shard signatures made with the identity key's universal forgery (node:crypto accepted them)", async () => {
    const a = (await sys.addBank('bank-b')) as never as { openWallet: Function; fund: Function; transfer: Function };
    await sys.operators.alice.reserve('bank-b', 'deposit', 1_000n, 'dep-forgery');
    await sys.operators.alice.issue('mint', 'bank-b', 1_000n);
    const payerKey = newCustomerKey();
    const payer = (await a.openWallet({ publicKey: payerKey.publicKey, customerRef: 'p', tier: 'IV' })).id;
    const payee = (await a.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'q', tier: 'IV' })).id;
    await a.fund(payer, 500n, 'fund-forgery');
    await a.transfer(signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 100n }, payerKey.privateKey).wire);
    expect((await audit(sys.db.sql)).findings).toEqual([]);

    // Someone with write access re-keys both chains to the identity point and "signs" every entry with R = identity, S = 0.
    const identity = Buffer.from('01' + '00'.repeat(31), 'hex');
    const forgery = Buffer.concat([identity, Buffer.alloc(32)]);
    await sys.db.sql`update issuance_head set public_key = ${identity}`;
    await sys.db.sql`update issuance_chain set signature = ${forgery}`;
    await sys.db.sql`update shards set public_key = ${identity}`;
    await sys.db.sql`update settlement_batches set signature = ${forgery}`;
    const report = await audit(sys.db.sql);
    expect(report.ok).toBe(false);
    const named = report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);
    expect(named).toContain('issuance_chain: issuance entry 1: its issuer signature does not verify');
    expect(named).toContain('settlement_chain: shard 0 batch 1: its shard signature does not verify');
  });
});
