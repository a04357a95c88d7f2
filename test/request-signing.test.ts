/**
 * Finding 7 of the security review: headers that change what a request means (Idempotency-Key,
 * Prefer, Content-Type) and the environment it is meant for are signed. A request whose signed
 * parts were changed on the way, or that was signed for another environment, is refused before
 * anything happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

describe('signed requests cover every header that changes their meaning', () => {
  let sys: TestSystem;
  let bank: Awaited<ReturnType<TestSystem['addBank']>>;
  let walletId: string;
  const fundings = async () => (await sys.db.sql<{ n: number }[]>`select count(*)::int as n from transfers where kind = 'funding'`)[0].n;

  beforeAll(async () => {
    sys = await startTestSystem();
    bank = await sys.addBank('bank-sig');
    await sys.operators.alice.reserve('bank-sig', 'deposit', 1_000_000n, 'dep-sig-1');
    await sys.operators.alice.issue('mint', 'bank-sig', 1_000_000n);
    walletId = (await bank.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'sig-1', tier: 'II' })).id;
  });
  afterAll(async () => sys?.close());

  const fund = (o: { key: string; unsigned?: Record<string, string>; audience?: string; headers?: Record<string, string> }) =>
    rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', JSON.stringify({ walletId, amountMinor: '100' }), {
      keyId: bank.bankId,
      privateKeyHex: bank.privateKeyHex,
      headers: { 'idempotency-key': o.key, ...o.headers },
      unsignedHeaders: o.unsigned,
      audience: o.audience,
    });

  it('refuses a funding whose Idempotency-Key was swapped after signing, and funds nothing', async () => {
    const before = await fundings();
    const swapped = await fund({ key: 'signed-key-0001', unsigned: { 'idempotency-key': 'swapped-key-0001' } });
    expect(swapped.status).toBe(401);
    expect(swapped.body.code).toBe('unauthenticated');
    expect(await fundings()).toBe(before);
    // The same request unchanged goes through: the refusal was the swap, not the request.
    expect((await fund({ key: 'signed-key-0001' })).status).toBe(200);
    expect(await fundings()).toBe(before + 1);
  });

  it('refuses a request whose Prefer header was added or changed after signing', async () => {
    const before = await fundings();
    const changed = await fund({ key: 'signed-key-0002', unsigned: { prefer: 'respond-async' } });
    expect(changed.status).toBe(401);
    expect(await fundings()).toBe(before);
  });

  it('refuses a request whose Content-Type was changed after signing', async () => {
    const changed = await fund({ key: 'signed-key-0003', unsigned: { 'content-type': 'application/json; charset=latin1' } });
    expect(changed.status).toBe(401);
  });

  it('refuses a request signed for another environment', async () => {
    const before = await fundings();
    const elsewhere = await fund({ key: 'signed-key-0004', audience: 'cbdc-prod' });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.errors[0].field).toBe('header/x-cbdc-signature');
    expect(await fundings()).toBe(before);
  });
});
