/**
 * Rate limits run before the expensive work, count what a request costs, and hold across
 * processes (issue 12, finding 10). Each case starts gateways (or an issuer) of its own with a
 * counter prefix of its own and small budgets, over the test system's database and one Redis;
 * the windows are long, so that a slow machine cannot reset a counter in the middle of a case.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { buildGatewayApp } from '@cbdc/wallet-gateway/app';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { buildIssuerApp } from '@cbdc/issuer/app';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { registrySignerOfAttestationKey } from '@cbdc/shared/registry';
import { dualControlPolicy } from '@cbdc/issuer/config';
import { LIMITS, type Limits } from '@cbdc/shared/limits';
import { producerRedis } from '@cbdc/shared/redis';
import { deleteKeys, REDIS, startTestSystem, TEST_GATEWAY_KEY_ID, type TestSystem } from './support/system.js';
import { shardPublicKeys } from '@cbdc/wallet-gateway/transfers-store';
import { rawRequest } from './support/raw.js';

type Caller = { keyId: string; privateKeyHex: string };

describe('rate limits', () => {
  let sys: TestSystem;
  let redis: ReturnType<typeof producerRedis>;
  let bankA: Caller;
  let bankB: Caller;
  const customer = newCustomerKey();
  const stranger = newCustomerKey();
  const wallets: Record<string, { payer: string; payee: string }> = {};
  const closers: Array<() => Promise<unknown>> = [];
  const prefixes: string[] = [];

  const urlOf = (app: { server: { address(): unknown } }) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  /** A gateway of its own; gateways given the same prefix share their counters through Redis. */
  const gateway = async (prefix: string, limits: Partial<Limits>) => {
    const all: Limits = { ...LIMITS, rateLimitWindowMs: 60_000, ...limits };
    const settlement = new SettlementClient({
      redis: REDIS,
      queuePrefix: prefix,
      shardCount: 1,
      signer: signerFromSeed(sys.keys.attestation),
      keyId: TEST_GATEWAY_KEY_ID,
      gatewayId: `rl-${randomBytes(3).toString('hex')}`,
      limits: all,
      loadShardKeys: () => shardPublicKeys(sys.db.sql),
    });
    await settlement.start();
    const app = await buildGatewayApp({ sql: sys.db.sql, redis, settlement, shardCount: 1, limits: all, queuePrefix: prefix, registrySigner: registrySignerOfAttestationKey(sys.keys.attestation) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    closers.push(
      async () => app.close(),
      async () => settlement.close(),
    );
    return urlOf(app);
  };
  const freshPrefix = () => {
    const p = `t${randomBytes(5).toString('hex')}`;
    prefixes.push(p);
    return p;
  };
  const get = (url: string, caller: Caller, auth: Record<string, string> = {}) => rawRequest(url, 'GET', '/v1/wallets', undefined, { ...caller, auth });
  const post = (url: string, caller: Caller, path: string, body: unknown) => rawRequest(url, 'POST', path, JSON.stringify(body), caller);
  /** A batch of transfers whose customer signatures do not verify (signed by a stranger's key). */
  const badBatch = (bank: 'bank-a' | 'bank-b', n: number) => ({
    transfers: Array.from({ length: n }, () => signTransfer({ payerWalletId: wallets[bank].payer, payeeWalletId: wallets[bank].payee, amountMinor: 1n }, stranger.privateKey).wire),
  });
  const expectLimited = (res: { status: number; body: any; headers: Headers }, field: string, rule: string, limit: number) => {
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ code: 'rate_limited', errors: [{ field, rule }] });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
  };

  beforeAll(async () => {
    sys = await startTestSystem();
    redis = producerRedis(REDIS);
    redis.on('error', () => {});
    for (const id of ['bank-a', 'bank-b'] as const) {
      const bank = await sys.addBank(id);
      const payer = (await bank.openWallet({ publicKey: customer.publicKey, customerRef: 'c1', tier: 'II' })).id;
      const payee = (await bank.openWallet({ publicKey: customer.publicKey, customerRef: 'c2', tier: 'II' })).id;
      wallets[id] = { payer, payee };
      if (id === 'bank-a') bankA = { keyId: id, privateKeyHex: bank.privateKeyHex };
      else bankB = { keyId: id, privateKeyHex: bank.privateKeyHex };
    }
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    for (const p of prefixes) await deleteKeys(p);
    redis?.disconnect();
    await sys?.close();
  });

  it('counts requests with a bad signature: 429 after the bound, before verification, with Retry-After and RateLimit headers; another bank is unaffected', async () => {
    const url = await gateway(freshPrefix(), { bankRequestsPerSecondMax: 5 });
    for (let i = 0; i < 5; i++) expect((await get(url, bankA, { signature: 'ab'.repeat(64) })).status).toBe(401);
    expectLimited(await get(url, bankA, { signature: 'ab'.repeat(64) }), 'header/x-cbdc-key-id', 'requests_per_window', 5);
    // The budget is the key id's: bank A's own well-signed requests wait for the next window too.
    expectLimited(await get(url, bankA), 'header/x-cbdc-key-id', 'requests_per_window', 5);
    const other = await get(url, bankB);
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-limit')).toBe('5');
    expect(other.headers.get('ratelimit-remaining')).toBe('4');
  });

  it('counts schema-invalid requests', async () => {
    const url = await gateway(freshPrefix(), { bankRequestsPerSecondMax: 4 });
    for (let i = 0; i < 4; i++) expect((await post(url, bankA, '/v1/transfers', { nonsense: true })).status).toBe(400);
    expectLimited(await post(url, bankA, '/v1/transfers', { nonsense: true }), 'header/x-cbdc-key-id', 'requests_per_window', 4);
    expect((await post(url, bankB, '/v1/transfers', { nonsense: true })).status).toBe(400);
  });

  it('counts a batch as its transfers, before their signatures are verified; another bank keeps its budget', async () => {
    const url = await gateway(freshPrefix(), { bankRequestsPerSecondMax: 1000, bankTransfersPerSecondMax: 100 });
    const first = await post(url, bankA, '/v1/transfers/batch', badBatch('bank-a', 60));
    expect(first.status).toBe(200);
    expect(first.body.results.every((r: { problem?: { code: string } }) => r.problem?.code === 'bad_signature')).toBe(true);
    // 60 + 60 > 100: the second batch is refused whole, none of its signatures verified.
    expectLimited(await post(url, bankA, '/v1/transfers/batch', badBatch('bank-a', 60)), 'body/transfers', 'transfers_per_window', 100);
    // A batch of schema-invalid transfers costs as much.
    expectLimited(await post(url, bankA, '/v1/transfers/batch', { transfers: Array.from({ length: 50 }, () => ({})) }), 'body/transfers', 'transfers_per_window', 100);
    const other = await post(url, bankB, '/v1/transfers/batch', badBatch('bank-b', 60));
    expect(other.status).toBe(200);
    expect(other.body.results).toHaveLength(60);
    // Requests that carry no transfers are not held back by the spent transfer budget.
    expect((await get(url, bankA)).status).toBe(200);
  });

  it('two gateway processes sharing one Redis share the counter', async () => {
    const prefix = freshPrefix();
    const [one, two] = [await gateway(prefix, { bankRequestsPerSecondMax: 6 }), await gateway(prefix, { bankRequestsPerSecondMax: 6 })];
    for (let i = 0; i < 3; i++) {
      expect((await get(one, bankA)).status).toBe(200);
      expect((await get(two, bankA)).status).toBe(200);
    }
    expectLimited(await get(one, bankA), 'header/x-cbdc-key-id', 'requests_per_window', 6);
    expectLimited(await get(two, bankA), 'header/x-cbdc-key-id', 'requests_per_window', 6);
  });

  it("refuses a client address past its failed authentications unread, without spending the claimed bank's budget", async () => {
    const prefix = freshPrefix();
    const url = await gateway(prefix, { bankRequestsPerSecondMax: 10, clientIpAuthFailuresPerSecondMax: 3 });
    for (let i = 0; i < 3; i++) expect((await get(url, bankA, { signature: 'cd'.repeat(64) })).status).toBe(401);
    for (let i = 0; i < 20; i++) expectLimited(await get(url, bankA, { signature: 'cd'.repeat(64) }), 'client', 'failed_authentications_per_window', 3);
    // Unknown and ill-formed key ids are refused the same way.
    expect((await get(url, bankA, { keyId: 'Not A Bank' })).status).toBe(429);
    // Bank A's request budget holds only the three requests that reached verification.
    expect(await redis.get(`{${prefix}-gateway-rate}:key:bank-a`)).toBe('3');
  });

  it("the issuer answers 429 past an operator's budget", async () => {
    const prefix = freshPrefix();
    const issuer = await buildIssuerApp({
      topology: sys.topology.admin,
      redis,
      signer: signerFromSeed(sys.keys.issuer),
      shardCount: 1,
      dualControl: dualControlPolicy(100_000_000n),
      queuePrefix: prefix,
      limits: { ...LIMITS, operatorRequestsPerSecondMax: 3, rateLimitWindowMs: 60_000 },
    });
    await issuer.listen({ host: '127.0.0.1', port: 0 });
    closers.push(async () => issuer.close());
    const url = urlOf(issuer);
    const alice = { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice };
    for (let i = 0; i < 3; i++) expect((await rawRequest(url, 'GET', '/v1/banks', undefined, alice)).status).toBe(200);
    expectLimited(await rawRequest(url, 'GET', '/v1/banks', undefined, alice), 'header/x-cbdc-key-id', 'requests_per_window', 3);
    expect((await rawRequest(url, 'GET', '/v1/banks', undefined, { keyId: 'bob', privateKeyHex: sys.operatorKeys.bob })).status).toBe(200);
  });
});
