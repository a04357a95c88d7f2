/**
 * Bad input gets a 4xx RFC 9457 problem naming the field and the rule, and changes nothing.
 * Also: missing, forged, expired and replayed request authentication; Idempotency-Key misuse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

describe('bad input and bad authentication', () => {
  let sys: TestSystem;
  let bank: { keyId: string; privateKeyHex: string };
  let otherBank: { keyId: string; privateKeyHex: string };
  const customer = newCustomerKey();
  const payeeKey = newCustomerKey();
  let payer: string;
  let payee: string;
  let closed: string;

  const send = (method: string, path: string, body?: unknown, extra: Parameters<typeof rawRequest>[4] extends infer O ? Partial<O> : never = {}) =>
    rawRequest(sys.gatewayUrl, method, path, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), { ...bank, ...extra });
  const state = async () => {
    const [w] = await sys.db.sql`select string_agg(id || ':' || status || ':' || balance_minor, '|' order by id) as s from wallets`;
    const [t] = await sys.db.sql`select count(*)::int as n from transfers`;
    const [i] = await sys.db.sql`select count(*)::int as n from idempotency_keys where status_code is not null`;
    return `${w.s}#${t.n}#${i.n}`;
  };
  const transfer = (over: Record<string, unknown> = {}) => ({ ...signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 100n }, customer.privateKey).wire, ...over });

  beforeAll(async () => {
    sys = await startTestSystem({ limits: { transfersPerRequestMax: 50, bankRequestsPerSecondMax: 1000 } });
    const a = await sys.addBank('bank-a');
    const b = await sys.addBank('bank-b');
    bank = { keyId: 'bank-a', privateKeyHex: a.privateKeyHex };
    otherBank = { keyId: 'bank-b', privateKeyHex: b.privateKeyHex };
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    payer = (await a.openWallet({ publicKey: customer.publicKey, customerRef: 'c1', tier: 'II' })).id;
    payee = (await a.openWallet({ publicKey: payeeKey.publicKey, customerRef: 'c2', tier: 'II' })).id;
    closed = (await a.openWallet({ publicKey: payeeKey.publicKey, customerRef: 'c3', tier: 'II' })).id;
    await a.setWalletStatus(closed, 'close');
    await a.fund(payer, 10_000n, 'fund-payer-1');
  });
  afterAll(async () => sys?.close());

  const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string, string?, string?]> = [
    ['malformed JSON', () => send('POST', '/v1/transfers', '{"payerWalletId": '), 400, 'malformed_json', 'body', 'json'],
    ['wrong content type', () => send('POST', '/v1/transfers', 'x=1', { contentType: 'text/plain' }), 415, 'unsupported_media_type', 'header/content-type'],
    ['unknown field', () => send('POST', '/v1/transfers', transfer({ extra: 1 })), 400, 'invalid_request', 'body/extra', 'unknown_field'],
    ['missing field', () => send('POST', '/v1/transfers', { ...transfer(), amountMinor: undefined }), 400, 'invalid_request', 'body/amountMinor'],
    ['zero amount', () => send('POST', '/v1/transfers', transfer({ amountMinor: '0' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['negative amount', () => send('POST', '/v1/transfers', transfer({ amountMinor: '-5' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['fractional amount', () => send('POST', '/v1/transfers', transfer({ amountMinor: '1.5' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['exponent amount', () => send('POST', '/v1/transfers', transfer({ amountMinor: '1e3' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['amount beyond 2^63', () => send('POST', '/v1/transfers', transfer({ amountMinor: '9223372036854775808' })), 400, 'invalid_request', 'body/amountMinor', 'amount_max'],
    ['amount with 20 digits', () => send('POST', '/v1/transfers', transfer({ amountMinor: '99999999999999999999' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['amount as a JSON number', () => send('POST', '/v1/transfers', transfer({ amountMinor: 100 })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['amount NaN', () => send('POST', '/v1/transfers', transfer({ amountMinor: 'NaN' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    ['amount leading zero', () => send('POST', '/v1/transfers', transfer({ amountMinor: '0100' })), 400, 'invalid_request', 'body/amountMinor', 'positive_integer_string'],
    [
      'unknown payee',
      () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: 'w_000000000000000000000000', amountMinor: 1n }, customer.privateKey).wire),
      404,
      'wallet_not_found',
      'body/payeeWalletId',
      'existing_wallet',
    ],
    ['closed payee', () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: closed, amountMinor: 1n }, customer.privateKey).wire), 422, 'wallet_closed', 'body/payeeWalletId', 'open_wallet'],
    ['payer equals payee', () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: payer, amountMinor: 1n }, customer.privateKey).wire), 422, 'same_wallet', 'body/payeeWalletId', 'differs_from_payer'],
    [
      'expired',
      () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 1n, expiresAtMs: BigInt(Date.now() - 1) }, customer.privateKey).wire),
      422,
      'transfer_expired',
      'body/expiresAtMs',
      'in_future',
    ],
    [
      'expiry too far',
      () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 1n, expiresAtMs: BigInt(Date.now() + 3 * 86_400_000) }, customer.privateKey).wire),
      422,
      'expiry_too_far',
      'body/expiresAtMs',
      'expiry_window',
    ],
    [
      'signature by another key',
      () => send('POST', '/v1/transfers', signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 1n }, payeeKey.privateKey).wire),
      422,
      'bad_signature',
      'body/signature',
      'ed25519_customer_signature',
    ],
    ['signature over other content', () => send('POST', '/v1/transfers', transfer({ amountMinor: '101' })), 422, 'bad_signature', 'body/signature'],
    ['signature not hex', () => send('POST', '/v1/transfers', transfer({ signature: 'zz'.repeat(64) })), 400, 'invalid_request', 'body/signature', 'ed25519_signature'],
    ['memo too long', () => send('POST', '/v1/transfers', transfer({ memo: '字'.repeat(50) })), 400, 'invalid_request', 'body/memo', 'memo_max_bytes'],
    ['oversized body', () => send('POST', '/v1/transfers', JSON.stringify({ ...transfer(), memo: 'x'.repeat(1_100_000) })), 413, 'body_too_large', 'body', 'max_bytes'],
    ['oversized batch', () => send('POST', '/v1/transfers/batch', { transfers: Array.from({ length: 51 }, () => transfer()) }), 400, 'invalid_request', 'body/transfers', 'batch_max'],
    ['empty batch', () => send('POST', '/v1/transfers/batch', { transfers: [] }), 400, 'invalid_request', 'body/transfers', 'batch_min'],
    ['page size too large', () => send('GET', '/v1/wallets?limit=201'), 400, 'invalid_request', 'querystring/limit', 'page_size_max'],
    ['page size zero', () => send('GET', '/v1/wallets?limit=0'), 400, 'invalid_request', 'querystring/limit', 'page_size_min'],
    ['bad cursor', () => send('GET', '/v1/wallets?cursor=%24%24'), 400, 'invalid_request', 'querystring/cursor', 'cursor'],
    ['bad wallet id in path', () => send('GET', '/v1/wallets/nope'), 400, 'invalid_request', 'params/walletId', 'wallet_id'],
    ['bad tier', () => send('POST', '/v1/wallets', { publicKey: customer.publicKey, customerRef: 'x', tier: 'V' }), 400, 'invalid_request', 'body/tier', 'tier'],
    ['funding without Idempotency-Key', () => send('POST', '/v1/fundings', { walletId: payer, amountMinor: '1' }), 400, 'idempotency_key_required', 'header/idempotency-key', 'required'],
    ['closing a wallet with money', () => send('POST', `/v1/wallets/${payer}/close`), 409, 'wallet_not_empty'],
    ['unknown route', () => send('GET', '/v1/nothing'), 404, 'route_not_found'],
    ['missing authentication', () => send('GET', '/v1/wallets', undefined, { auth: { signature: null } }), 401, 'unauthenticated', 'header/x-cbdc-signature', 'required'],
    ['forged signature', () => send('GET', '/v1/wallets', undefined, { auth: { signature: 'ab'.repeat(64) } }), 401, 'unauthenticated', 'header/x-cbdc-signature', 'ed25519_request_signature'],
    ['unknown bank', () => send('GET', '/v1/wallets', undefined, { auth: { keyId: 'bank-zz' } }), 401, 'unauthenticated'],
    ['expired request timestamp', () => send('GET', '/v1/wallets', undefined, { auth: { timestamp: String(Date.now() - 120_000) } }), 401, 'request_expired', 'header/x-cbdc-timestamp', 'clock_window'],
    ['another bank signing as this one', () => send('GET', '/v1/wallets', undefined, { privateKeyHex: otherBank.privateKeyHex }), 401, 'unauthenticated'],
  ];

  for (const [name, call, status, code, field, rule] of cases) {
    it(`${name}: ${status} ${code}${field ? ` naming ${field}` : ''}, nothing changed`, async () => {
      const before = await state();
      const res = await call();
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ status, code, type: `urn:cbdc:error:${code}` });
      if (field) expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      if (rule) expect(res.body.errors.find((e: { field: string }) => e.field === field).rule).toBe(rule);
      expect(await state()).toBe(before);
    });
  }

  it('a replayed request (same nonce) is refused, even though its signature is valid', async () => {
    const first = await send('GET', '/v1/wallets');
    expect(first.status).toBe(200);
    const replay = await send('GET', '/v1/wallets', undefined, { auth: { nonce: first.nonce, timestamp: first.timestamp } });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('request_replayed');
  });

  it('a transfer replayed verbatim settles once; the same nonce with other content is rejected as nonce_reused', async () => {
    const t = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 7n, nonce: 424242n }, customer.privateKey);
    const first = await send('POST', '/v1/transfers', t.wire);
    const again = await send('POST', '/v1/transfers', t.wire);
    expect(first.body.status).toBe('settled');
    expect(again.body).toEqual(first.body);
    const sameNonce = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 8n, nonce: 424242n }, customer.privateKey);
    const reused = await send('POST', '/v1/transfers', sameNonce.wire);
    expect(reused.body).toMatchObject({ status: 'rejected', code: 'nonce_reused' });
    const [row] = await sys.db.sql`select count(*)::int as n from transfers where payer_wallet_id = ${payer} and nonce = 424242 and status = 'settled'`;
    expect(row.n).toBe(1);
  });

  it('a transfer replayed after its expiry answers its recorded outcome and settles nothing again', async () => {
    const t = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 9n, expiresAtMs: BigInt(Date.now() + 1500) }, customer.privateKey);
    const first = await send('POST', '/v1/transfers', t.wire);
    expect(first.body.status).toBe('settled');
    await new Promise((r) => setTimeout(r, 1600));
    const before = await state();
    const late = await send('POST', '/v1/transfers', t.wire);
    expect(late.status).toBe(200);
    expect(late.body).toEqual(first.body);
    expect(await state()).toBe(before);
    // Never recorded and expired: refused, naming the field.
    const unsent = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 10n, expiresAtMs: BigInt(Date.now() - 1) }, customer.privateKey);
    const refused = await send('POST', '/v1/transfers', unsent.wire);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'transfer_expired', errors: [{ field: 'body/expiresAtMs', rule: 'in_future' }] });
    expect(await state()).toBe(before);
  });

  it('after a gateway restart, a replayed request is still refused and a replayed transfer answers its recorded outcome', async () => {
    const t = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 11n }, customer.privateKey);
    const first = await send('POST', '/v1/transfers', t.wire);
    expect(first.body.status).toBe('settled');
    await sys.restartGateway();
    const before = await state();
    const replayedRequest = await send('POST', '/v1/transfers', t.wire, { auth: { nonce: first.nonce, timestamp: first.timestamp } });
    expect(replayedRequest.status).toBe(401);
    expect(replayedRequest.body.code).toBe('request_replayed');
    const again = await send('POST', '/v1/transfers', t.wire);
    expect(again.body).toEqual(first.body);
    expect(await state()).toBe(before);
  });

  it('Idempotency-Key: same key and body replays, another body is refused, keys are scoped per bank', async () => {
    const body = { publicKey: customer.publicKey, customerRef: 'idem-1', tier: 'IV' };
    const headers = { 'idempotency-key': 'open-wallet-0001' };
    const first = await send('POST', '/v1/wallets', body, { headers });
    const replay = await send('POST', '/v1/wallets', body, { headers });
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.body.id).toBe(first.body.id);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const misuse = await send('POST', '/v1/wallets', { ...body, tier: 'III' }, { headers });
    expect(misuse.status).toBe(422);
    expect(misuse.body.code).toBe('idempotency_key_reused');
    const other = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', JSON.stringify(body), { ...otherBank, headers });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    expect(other.body.bankId).toBe('bank-b');
  });

  it('Idempotency-Key used concurrently opens one wallet', async () => {
    const body = JSON.stringify({ publicKey: customer.publicKey, customerRef: 'idem-2', tier: 'IV' });
    const results = await Promise.all(Array.from({ length: 5 }, () => rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', body, { ...bank, headers: { 'idempotency-key': 'open-wallet-0002' } })));
    const created = new Set(results.filter((r) => r.status === 201).map((r) => r.body.id));
    expect(created.size).toBe(1);
    expect(results.every((r) => r.status === 201 || (r.status === 409 && r.body.code === 'idempotency_key_in_use'))).toBe(true);
    const [row] = await sys.db.sql`select count(*)::int as n from wallets where customer_ref = 'idem-2'`;
    expect(row.n).toBe(1);
  });
});
