/**
 * Every string and number on the wire is checked for what the store can hold (issue 12, findings
 * 3 and 13): a value Postgres would refuse is answered 400 naming the field and the rule, and
 * nothing is queued or written. Never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { shardQueue } from '@cbdc/shared/job';
import { consumerRedis } from '@cbdc/shared/redis';
import { REDIS, startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

type Reply = { status: number; body: any };

describe('wire strings and numbers are bounded by what the store holds', () => {
  let sys: TestSystem;
  let bank: { keyId: string; privateKeyHex: string };
  let operator: { keyId: string; privateKeyHex: string };
  const customer = newCustomerKey();
  const payeeKey = newCustomerKey();
  let payer: string;
  let payee: string;
  let queue: Queue;
  let queueConnection: ReturnType<typeof consumerRedis>;

  const gateway = (method: string, path: string, body?: unknown, extra: { headers?: Record<string, string>; auth?: Record<string, string> } = {}) =>
    rawRequest(sys.gatewayUrl, method, path, body === undefined ? undefined : JSON.stringify(body), { ...bank, ...extra });
  const issuer = (method: string, path: string, body?: unknown) => rawRequest(sys.issuerUrl, method, path, body === undefined ? undefined : JSON.stringify(body), operator);
  const signed = (memo: string) => signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 1n, memo }, customer.privateKey).wire;
  const cursorOf = (value: string) => Buffer.from(value, 'utf8').toString('base64url');
  /** Everything a refused request must leave as it was: rows, balances, queued jobs. */
  const state = async () => {
    const [w] = await sys.db.sql`select string_agg(id || ':' || status || ':' || balance_minor, '|' order by id) as s from wallets`;
    const [t] = await sys.db.sql`select count(*)::int as n from transfers`;
    const [b] = await sys.db.sql`select string_agg(id || ':' || name, '|' order by id) as s from banks`;
    const [r] = await sys.db.sql`select count(*)::int as n from reserve_entries`;
    const jobs = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return JSON.stringify([w.s, t.n, b.s, r.n, jobs]);
  };

  beforeAll(async () => {
    sys = await startTestSystem({ limits: { bankRequestsPerSecondMax: 1000 } });
    const a = await sys.addBank('bank-a');
    bank = { keyId: 'bank-a', privateKeyHex: a.privateKeyHex };
    operator = { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice };
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    payer = (await a.openWallet({ publicKey: customer.publicKey, customerRef: 'c1', tier: 'II' })).id;
    payee = (await a.openWallet({ publicKey: payeeKey.publicKey, customerRef: 'c2', tier: 'II' })).id;
    await a.fund(payer, 10_000n, 'fund-payer-1');
    const q = shardQueue(sys.queuePrefix, 0);
    queueConnection = consumerRedis(REDIS);
    queue = new Queue(q.name, { connection: queueConnection, prefix: q.prefix });
  });
  afterAll(async () => {
    await queue?.close();
    queueConnection?.disconnect();
    await sys?.close();
  });

  const cases: Array<[string, () => Promise<Reply>, number, string, string, string?]> = [
    // Finding 3: a memo Postgres cannot hold, or that is not the printable NFC text the docs promise.
    ['memo with NUL', () => gateway('POST', '/v1/transfers', signed('lunch\u0000')), 400, 'invalid_request', 'body/memo', 'memo_printable'],
    ['memo with a C0 control', () => gateway('POST', '/v1/transfers', signed('a\u001bb')), 400, 'invalid_request', 'body/memo', 'memo_printable'],
    ['memo with a C1 control', () => gateway('POST', '/v1/transfers', signed('a\u0085b')), 400, 'invalid_request', 'body/memo', 'memo_printable'],
    ['memo with a lone surrogate', () => gateway('POST', '/v1/transfers', signed('a\ud800b')), 400, 'invalid_request', 'body/memo', 'memo_unicode'],
    ['memo with a noncharacter', () => gateway('POST', '/v1/transfers', signed('a\uffffb')), 400, 'invalid_request', 'body/memo', 'memo_printable'],
    ['memo with a right-to-left override', () => gateway('POST', '/v1/transfers', signed('pay \u202eevil')), 400, 'invalid_request', 'body/memo', 'memo_printable'],
    ['memo not in NFC', () => gateway('POST', '/v1/transfers', signed('cafe\u0301')), 400, 'invalid_request', 'body/memo', 'memo_nfc'],
    ['memo of 141 bytes', () => gateway('POST', '/v1/transfers', signed('x'.repeat(141))), 400, 'invalid_request', 'body/memo', 'memo_max_bytes'],
    ['memo as a number', () => gateway('POST', '/v1/transfers', { ...signed(''), memo: 5 }), 400, 'invalid_request', 'body/memo', 'memo_type'],
    ['one NUL memo in a batch refuses the batch', () => gateway('POST', '/v1/transfers/batch', { transfers: [signed('ok'), signed('a\u0000')] }), 400, 'invalid_request', 'body/transfers/1/memo', 'memo_printable'],
    [
      'a redemption with a NUL memo',
      () => gateway('POST', '/v1/redemptions', { ...signTransfer({ payerWalletId: payer, payeeWalletId: 't_bank-a', amountMinor: 1n, memo: '\u0000' }, customer.privateKey).wire }),
      400,
      'invalid_request',
      'body/memo',
      'memo_printable',
    ],
    // Other strings stored by the gateway.
    ['customerRef with NUL', () => gateway('POST', '/v1/wallets', { publicKey: customer.publicKey, customerRef: 'a\u0000b', tier: 'II' }), 400, 'invalid_request', 'body/customerRef'],
    ['wallet id with NUL in the path', () => gateway('GET', '/v1/wallets/w_%00'), 400, 'invalid_request', 'params/walletId', 'wallet_id'],
    ['transfer id too long in the path', () => gateway('GET', `/v1/transfers/${'a'.repeat(100)}`), 400, 'invalid_request', 'params/transferId', 'transfer_id'],
    [
      'Idempotency-Key of 129 characters',
      () => gateway('POST', '/v1/fundings', { walletId: payer, amountMinor: '1' }, { headers: { 'idempotency-key': 'k'.repeat(129) } }),
      400,
      'invalid_request',
      'header/idempotency-key',
      'idempotency_key_format',
    ],
    ['a key id no bank can have', () => gateway('GET', '/v1/wallets', undefined, { auth: { keyId: 'Bank A; drop table banks' } }), 401, 'unauthenticated', 'header/x-cbdc-signature'],
    ['a key id of 5,000 characters', () => gateway('GET', '/v1/wallets', undefined, { auth: { keyId: 'b'.repeat(5000) } }), 401, 'unauthenticated', 'header/x-cbdc-signature'],
    // Finding 13: cursors, page sizes and other numbers answer 400, never 500.
    ['history cursor 2^63', () => gateway('GET', `/v1/wallets/${payer}/transfers?cursor=${cursorOf('9223372036854775808')}`), 400, 'invalid_request', 'querystring/cursor', 'cursor'],
    ['history cursor 20 nines', () => gateway('GET', `/v1/wallets/${payer}/transfers?cursor=${cursorOf('99999999999999999999')}`), 400, 'invalid_request', 'querystring/cursor', 'cursor'],
    ['history cursor negative', () => gateway('GET', `/v1/wallets/${payer}/transfers?cursor=${cursorOf('-1')}`), 400, 'invalid_request', 'querystring/cursor', 'cursor'],
    ['history cursor of 201 characters', () => gateway('GET', `/v1/wallets/${payer}/transfers?cursor=${'A'.repeat(201)}`), 400, 'invalid_request', 'querystring/cursor', 'cursor_max'],
    ['wallet list cursor with NUL', () => gateway('GET', `/v1/wallets?cursor=${cursorOf('w_\u0000')}`), 400, 'invalid_request', 'querystring/cursor', 'cursor'],
    ['page size 1e400', () => gateway('GET', '/v1/wallets?limit=1e400'), 400, 'invalid_request', 'querystring/limit'],
    ['page size 2^63', () => gateway('GET', '/v1/wallets?limit=9223372036854775808'), 400, 'invalid_request', 'querystring/limit'],
    ['page size negative', () => gateway('GET', '/v1/wallets?limit=-1'), 400, 'invalid_request', 'querystring/limit', 'page_size_min'],
    ['page size fractional', () => gateway('GET', '/v1/wallets?limit=1.5'), 400, 'invalid_request', 'querystring/limit', 'integer'],
    ['page size text', () => gateway('GET', '/v1/wallets?limit=abc'), 400, 'invalid_request', 'querystring/limit'],
    ['page size twice', () => gateway('GET', '/v1/wallets?limit=1&limit=2'), 400, 'invalid_request', 'querystring/limit'],
    ['nonce 2^63', () => gateway('POST', '/v1/transfers', { ...signed(''), nonce: '9223372036854775808' }), 400, 'invalid_request', 'body/nonce', 'integer_max'],
    ['expiry 2^63', () => gateway('POST', '/v1/transfers', { ...signed(''), expiresAtMs: '9223372036854775808' }), 400, 'invalid_request', 'body/expiresAtMs', 'integer_max'],
    ['request timestamp of 17 digits', () => gateway('GET', '/v1/wallets', undefined, { auth: { timestamp: '1'.repeat(17) } }), 401, 'unauthenticated', 'header/x-cbdc-timestamp', 'unix_ms'],
    // The issuer's strings.
    ['bank name with NUL', () => issuer('POST', '/v1/banks', { id: 'bank-n', name: 'Bank\u0000N', publicKey: customer.publicKey }), 400, 'invalid_request', 'body/name', 'name_printable'],
    ['bank name not in NFC', () => issuer('POST', '/v1/banks', { id: 'bank-n', name: 'Banque Ame\u0301lie', publicKey: customer.publicKey }), 400, 'invalid_request', 'body/name', 'name_nfc'],
    ['bank name of 201 bytes', () => issuer('POST', '/v1/banks', { id: 'bank-n', name: 'n'.repeat(201), publicKey: customer.publicKey }), 400, 'invalid_request', 'body/name', 'name_max_bytes'],
    ['empty bank name', () => issuer('POST', '/v1/banks', { id: 'bank-n', name: '', publicKey: customer.publicKey }), 400, 'invalid_request', 'body/name', 'name_required'],
    ['reserve reference with NUL', () => issuer('POST', '/v1/banks/bank-a/reserve/deposits', { amountMinor: '1', reference: 'RTGS\u00001' }), 400, 'invalid_request', 'body/reference', 'reference_printable'],
    ['reserve reference with a newline', () => issuer('POST', '/v1/banks/bank-a/reserve/withdrawals', { amountMinor: '1', reference: 'RTGS\n1' }), 400, 'invalid_request', 'body/reference', 'reference_printable'],
    ['reserve reference of 65 bytes', () => issuer('POST', '/v1/banks/bank-a/reserve/deposits', { amountMinor: '1', reference: 'r'.repeat(65) }), 400, 'invalid_request', 'body/reference', 'reference_max_bytes'],
    ['bank id with NUL in the path', () => issuer('GET', '/v1/banks/bank%00a'), 400, 'invalid_request', 'params/bankId', 'bank_id'],
    ['issuance id that is not a uuid', () => issuer('POST', `/v1/issuances/${'9'.repeat(40)}/approve`), 400, 'invalid_request', 'params/issuanceId'],
    ['issuance page size 1e400', () => issuer('GET', '/v1/issuances?limit=1e400'), 400, 'invalid_request', 'querystring/limit'],
  ];

  for (const [name, call, status, code, field, rule] of cases) {
    it(`${name}: ${status} ${code} naming ${field}${rule ? ` and ${rule}` : ''}, nothing queued or written`, async () => {
      const before = await state();
      const res = await call();
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ status, code });
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      if (rule) expect(res.body.errors.find((e: { field: string }) => e.field === field).rule).toBe(rule);
      await new Promise((r) => setTimeout(r, 20));
      expect(await state()).toBe(before);
    });
  }

  it('a printable NFC memo with CJK and emoji settles and is stored as signed', async () => {
    const memo = '午饭 👩🏽‍💻 café';
    const res = await gateway('POST', '/v1/transfers', signed(memo));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'settled', memo });
    const [row] = await sys.db.sql`select memo from transfers where id = ${res.body.id}`;
    expect(row.memo).toBe(memo);
  });

  it('a history cursor of exactly 2^63-1 is accepted', async () => {
    const res = await gateway('GET', `/v1/wallets/${payer}/transfers?cursor=${cursorOf('9223372036854775807')}`);
    expect(res.status).toBe(200);
  });
});
