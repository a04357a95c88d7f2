/**
 * The contract: the committed documents and client types are what the apps generate; every
 * operation is complete; the reference page and the documents are public; the server reports
 * answers that break its own contract; and the mismatches of issue 14 stay fixed (async batch 202,
 * a funding replay flagged, problems naming their field, 401 before any verdict on the body, a
 * refused batch item documented as `invalid`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { newCustomerKey, signTransfer } from '@cbdc/client';
import { buildBaseApp } from '@cbdc/http/base-app';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import type { ContractViolation } from '@cbdc/http/response-contract';
import { ApiError } from '@cbdc/shared/problem';
import { AUTH_HEADERS } from '@cbdc/shared/request-auth';
import { CONTRACT_FILES, contractFileTexts, REPOSITORY_ROOT } from '../scripts/openapi.js';
import { startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

type Operation = { operationId?: string; tags?: string[]; summary?: string; description?: string; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };

describe('the committed contract', () => {
  let texts: Map<string, string>;
  beforeAll(async () => {
    texts = await contractFileTexts();
  });

  it('is what the apps generate: the documents and the client types (run `npm run openapi` after changing a route)', async () => {
    for (const [path, text] of texts) expect(await readFile(join(REPOSITORY_ROOT, path), 'utf8'), `${path} is stale: run npm run openapi`).toBe(text);
  });

  it('describes every operation completely: id, tags, summary, description, a success schema, problems as application/problem+json', () => {
    for (const files of Object.values(CONTRACT_FILES)) {
      const doc = JSON.parse(texts.get(files.document)!) as { openapi: string; servers: unknown[]; paths: Record<string, Record<string, Operation>> };
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.servers.length).toBeGreaterThan(0);
      const ids = new Set<string>();
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          const where = `${method.toUpperCase()} ${path}`;
          expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
          expect(ids.has(op.operationId!), `${where}: duplicate operationId`).toBe(false);
          ids.add(op.operationId!);
          expect(op.tags?.length, where).toBeGreaterThan(0);
          expect(op.summary, where).toBeTruthy();
          expect(op.description, where).toBeTruthy();
          const statuses = Object.keys(op.responses);
          expect(
            statuses.some((s) => s.startsWith('2') && op.responses[s].content?.['application/json']?.schema),
            `${where}: a success schema`,
          ).toBe(true);
          expect(statuses, `${where}: 500`).toContain('500');
          for (const s of statuses.filter((s) => Number(s) >= 400)) expect(Object.keys(op.responses[s].content ?? {}), `${where} ${s}`).toEqual(['application/problem+json']);
        }
      }
    }
  });
});

describe('response validation in tests', () => {
  it('reports an undeclared status, a body that does not match its schema, and an undeclared field', async () => {
    const violations: ContractViolation[] = [];
    const app = await buildBaseApp({ title: 't', description: 'd', tags: [{ name: 't', description: 't' }], servers: [], bodyBytesMax: 1024, onContractViolation: (v) => violations.push(v) });
    const thing = z.object({ id: z.string() });
    const schema = (operationId: string) => ({ operationId, tags: ['t'], summary: 's', description: 'd', response: { 200: jsonResponse(thing, { description: 'ok' }), ...problemResponses(404) } });
    app.get('/good', { config: { public: true }, schema: schema('good') }, async () => ({ id: 'x' }));
    app.get('/undeclared', { config: { public: true }, schema: schema('undeclared') }, async (_, reply) => reply.code(201 as never).send({ id: 'x' } as never));
    app.get('/wrong', { config: { public: true }, schema: schema('wrong') }, async () => ({ id: 1 }) as never);
    app.get('/extra', { config: { public: true }, schema: schema('extra') }, async () => ({ id: 'x', secret: 'y' }) as never);
    app.get('/no-errors', { config: { public: true }, schema: schema('noErrors') }, async () => {
      throw new ApiError('wallet_not_found', 'no wallet');
    });
    for (const url of ['/good', '/undeclared', '/wrong', '/extra', '/no-errors']) await app.inject({ url });
    await app.close();
    expect(violations.map((v) => [v.url, v.status])).toEqual([
      ['/undeclared', 201],
      ['/wrong', 200],
      ['/extra', 200],
      ['/no-errors', 404],
    ]);
    expect(violations[0].problem).toMatch(/not declared/);
    expect(violations[2].problem).toMatch(/does not declare/);
    expect(violations[3].problem).toMatch(/errors/);
  });
});

describe('the contract, served', () => {
  let sys: TestSystem;
  let bank: { keyId: string; privateKeyHex: string };
  const customer = newCustomerKey();
  let payer: string;
  let payee: string;

  beforeAll(async () => {
    sys = await startTestSystem({ limits: { bankRequestsPerSecondMax: 1000 } });
    const a = await sys.addBank('bank-a');
    bank = { keyId: 'bank-a', privateKeyHex: a.privateKeyHex };
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    payer = (await a.openWallet({ publicKey: customer.publicKey, customerRef: 'c1', tier: 'II' })).id;
    payee = (await a.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'c2', tier: 'II' })).id;
    await a.fund(payer, 100_000n);
  });
  // Fails if any answer of these tests (or any other test on the system) broke the contract.
  afterAll(async () => sys?.close());

  it('serves /openapi.json and the reference page at /docs without credentials, from the package (no CDN)', async () => {
    for (const base of [sys.gatewayUrl, sys.issuerUrl]) {
      const doc = await fetch(`${base}/openapi.json`);
      expect(doc.status).toBe(200);
      expect(((await doc.json()) as { openapi: string }).openapi).toBe('3.1.0');
      const page = await fetch(`${base}/docs`);
      expect(page.status).toBe(200);
      expect(page.url).toBe(`${base}/docs/`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('/openapi.json');
      expect(html).not.toMatch(/https?:\/\/(cdn|fonts)\./);
      const script = await fetch(`${base}/docs/js/scalar.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/javascript/);
    }
  });

  it('answers an async batch 202, each valid item pending and a refused one `invalid` with its problem', async () => {
    const good = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 10n }, customer.privateKey).wire;
    const badSignature = { ...signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 11n }, customer.privateKey).wire, signature: '00'.repeat(64) };
    const answer = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers/batch', JSON.stringify({ transfers: [good, badSignature] }), { ...bank, headers: { prefer: 'respond-async' } });
    expect(answer.status).toBe(202);
    expect(answer.body.results[0]).toMatchObject({ index: 0, status: 'pending' });
    expect(answer.body.results[1]).toMatchObject({ index: 1, status: 'invalid', problem: { code: 'bad_signature', errors: [{ field: 'body/transfers/1/signature', rule: 'ed25519_customer_signature' }] } });
    const waited = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers/batch', JSON.stringify({ transfers: [good] }), bank);
    expect(waited.status).toBe(200);
    expect(waited.body.results[0]).toMatchObject({ index: 0, status: 'settled' });
    const doc = JSON.parse(await readFile(join(REPOSITORY_ROOT, CONTRACT_FILES.gateway.document), 'utf8'));
    expect(doc.paths['/v1/transfers/batch'].post.responses['202']).toBeDefined();
    expect(doc.components.schemas.InvalidBatchItem.properties.status).toEqual({ type: 'string', const: 'invalid' });
  });

  it('flags a funding answered from its recorded transfer as a replay, as it does a stored answer', async () => {
    const body = JSON.stringify({ walletId: payer, amountMinor: '500' });
    const headers = { 'idempotency-key': 'contract-funding-0001' };
    const first = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank, headers });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const stored = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank, headers });
    expect(stored.headers.get('idempotent-replayed')).toBe('true');
    // As after a crash between settling and storing the answer: the retry finds the recorded funding.
    await sys.db.sql`update idempotency_keys set status_code = null, response = null, lease_expires_at_ms = null where key = 'contract-funding-0001'`;
    const fromLedger = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank, headers });
    expect(fromLedger.status).toBe(200);
    expect(fromLedger.headers.get('idempotent-replayed')).toBe('true');
    expect(fromLedger.body).toEqual(first.body);
  });

  it('names the field of every problem about the input, at both services', async () => {
    const cases = [
      await rawRequest(sys.gatewayUrl, 'GET', '/v1/nowhere', undefined, bank),
      await rawRequest(sys.issuerUrl, 'GET', '/v1/banks/no-such-bank', undefined, { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice }),
      await rawRequest(sys.issuerUrl, 'GET', '/v1/approvals/00000000-0000-4000-8000-000000000000', undefined, { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice }),
      await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', JSON.stringify({ kind: 'mint', bankId: 'no-such-bank', amountMinor: '1' }), { keyId: 'alice', privateKeyHex: sys.operatorKeys.alice }),
    ];
    expect(cases.map((c) => [c.status, c.body.code])).toEqual([
      [404, 'route_not_found'],
      [404, 'bank_not_found'],
      [404, 'action_not_found'],
      [404, 'bank_not_found'],
    ]);
    for (const c of cases) expect(c.body.errors?.[0]).toMatchObject({ field: expect.any(String), rule: expect.any(String) });
    const treasury = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets/t_bank-a/close', undefined, bank);
    expect(treasury.status).toBe(422);
    expect(treasury.body).toMatchObject({ code: 'wallet_is_treasury', errors: [{ field: 'params/walletId', rule: 'customer_wallet' }] });
  });

  describe('authentication is decided before the body is judged', () => {
    const unsigned = (body: string, contentType: string) => fetch(`${sys.gatewayUrl}/v1/transfers`, { method: 'POST', headers: { 'content-type': contentType }, body });

    it('an unsigned request is 401 whatever its body: malformed JSON, another media type, too large, invalid', async () => {
      const answers = [
        await unsigned('{"payerWalletId": ', 'application/json'),
        await unsigned('x=1', 'text/plain'),
        await unsigned('x'.repeat(2 * 1024 * 1024), 'application/json'),
        await unsigned(JSON.stringify({ nothing: true }), 'application/json'),
      ];
      for (const a of answers) {
        expect(a.status).toBe(401);
        expect(((await a.json()) as { code: string }).code).toBe('unauthenticated');
      }
    });

    it('a forged signature is 401 before a malformed or mistyped body is reported; a valid one gets the body error', async () => {
      const forged = { ...bank, auth: { signature: 'ab'.repeat(64) } };
      const badJson = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers', '{"payerWalletId": ', forged);
      expect([badJson.status, badJson.body.code]).toEqual([401, 'unauthenticated']);
      expect(badJson.body.errors).toEqual([{ field: `header/${AUTH_HEADERS.signature}`, rule: 'ed25519_request_signature', message: 'does not verify' }]);
      const badType = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers', 'x=1', { ...forged, contentType: 'text/plain' });
      expect([badType.status, badType.body.code]).toEqual([401, 'unauthenticated']);
      const signedBadJson = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers', '{"payerWalletId": ', bank);
      expect([signedBadJson.status, signedBadJson.body.code]).toEqual([400, 'malformed_json']);
      const signedBadType = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers', 'x=1', { ...bank, contentType: 'text/plain' });
      expect([signedBadType.status, signedBadType.body.code]).toEqual([415, 'unsupported_media_type']);
      expect(signedBadType.body.errors).toEqual([{ field: 'header/content-type', rule: 'application_json', message: 'must be application/json' }]);
    });

    it('an unknown key id or a stale timestamp is 401 before a body too large is read', async () => {
      const big = JSON.stringify({ transfers: 'x'.repeat(2 * 1024 * 1024) });
      const unknownKey = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers/batch', big, { ...bank, auth: { keyId: 'no-such-bank' } });
      expect([unknownKey.status, unknownKey.body.code]).toEqual([401, 'unauthenticated']);
      const stale = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers/batch', big, { ...bank, auth: { timestamp: String(Date.now() - 3_600_000) } });
      expect([stale.status, stale.body.code]).toEqual([401, 'request_expired']);
      // Headers that pass every check but the signature itself: too large to verify without reading, so 413.
      const tooLarge = await rawRequest(sys.gatewayUrl, 'POST', '/v1/transfers/batch', big, bank);
      expect([tooLarge.status, tooLarge.body.code]).toEqual([413, 'body_too_large']);
    });
  });
});
