/**
 * Replay protection and Idempotency-Key you can trust (issue #12, findings 6, 8 and 9): a captured
 * request replayed after Redis lost its data is refused; a crash between claiming a key and
 * recording its answer leaves the key retryable; the same key with another request is refused,
 * never told it succeeded; concurrent same-key fundings are answered truthfully; keys expire;
 * a bank and an operator of the same name never share a key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, type BankClient } from '@cbdc/client';
import { IdempotencyKeys, requestHashOf } from '@cbdc/http/idempotency';
import { pruneExpiredRows } from '@cbdc/http/pruner';
import { DurableNonceClaims } from '@cbdc/http/request-nonces';
import { fundingIdOf } from '@cbdc/shared/ids';
import { LIMITS } from '@cbdc/shared/limits';
import { redisEnvOf } from '@cbdc/shared/redis';
import { deleteKeys, REDIS, startTestSystem, type TestSystem } from './support/system.js';
import { rawRequest } from './support/raw.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('replay protection and idempotency', () => {
  let sys: TestSystem;
  let bankA: BankClient & { privateKeyHex: string };
  let walletId: string;
  const customer = newCustomerKey();
  const bank = () => ({ keyId: 'bank-a', privateKeyHex: bankA.privateKeyHex });
  const alice = () => ({ keyId: 'alice', privateKeyHex: sys.operatorKeys.alice });
  const count = async (table: 'wallets' | 'transfers' | 'issuance_requests') => (await sys.db.sql`select count(*)::int as n from ${sys.db.sql(table)}`)[0].n as number;
  const balanceOf = async (id: string) => (await sys.db.sql`select balance_minor from wallets where id = ${id}`)[0].balance_minor as bigint;
  const supply = async () => (await sys.db.sql`select supply_minor from issuance_head`)[0].supply_minor as bigint;

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: 10_000_000n });
    bankA = await sys.addBank('bank-a');
    await sys.operators.alice.reserve('bank-a', 'deposit', 5_000_000n, 'dep-idem-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    walletId = (await bankA.openWallet({ publicKey: customer.publicKey, customerRef: 'idem-c1', tier: 'I' })).id;
  });
  afterAll(async () => sys?.close());

  describe('a captured request replayed after Redis lost its data', () => {
    it('opening a wallet, replayed byte for byte after the Redis prefix is deleted: request_replayed, nothing changed', async () => {
      const body = JSON.stringify({ publicKey: customer.publicKey, customerRef: 'replay-1', tier: 'IV' });
      const first = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', body, bank());
      expect(first.status).toBe(201);
      await deleteKeys(sys.queuePrefix);
      const wallets = await count('wallets');
      const replay = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', body, { ...bank(), auth: { nonce: first.nonce, timestamp: first.timestamp } });
      expect(replay.status).toBe(401);
      expect(replay.body).toMatchObject({ code: 'request_replayed', errors: [{ field: 'header/x-cbdc-nonce', rule: 'unique' }] });
      expect(await count('wallets')).toBe(wallets);
    });

    it('a refused mint, replayed once the reserve would cover it and Redis lost its data: still request_replayed', async () => {
      await sys.addBank('bank-r');
      const mint = JSON.stringify({ kind: 'mint', bankId: 'bank-r', amountMinor: '5000' });
      const refused = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', mint, alice());
      expect(refused.body.code).toBe('insufficient_reserve');
      await sys.operators.alice.reserve('bank-r', 'deposit', 5000n, 'dep-r-1');
      await deleteKeys(sys.queuePrefix);
      const replay = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', mint, { ...alice(), auth: { nonce: refused.nonce, timestamp: refused.timestamp } });
      expect(replay.body.code).toBe('request_replayed');
      expect((await sys.db.sql`select minted_minor from bank_reserves where bank_id = 'bank-r'`)[0].minted_minor).toBe(0n);
    });

    it('one signed request sent several times at once is done once; the others are request_replayed', async () => {
      const body = JSON.stringify({ publicKey: customer.publicKey, customerRef: 'replay-burst', tier: 'IV' });
      const auth = { nonce: 'burst-nonce-000000000001', timestamp: Date.now().toString() };
      const answers = await Promise.all(Array.from({ length: 6 }, () => rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', body, { ...bank(), auth })));
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 401 && a.body.code === 'request_replayed')).toHaveLength(5);
      expect((await sys.db.sql`select count(*)::int as n from wallets where customer_ref = 'replay-burst'`)[0].n).toBe(1);
    });

    it('a funding and a mint, replayed after the Redis prefix is deleted: request_replayed, no money moved', async () => {
      const funding = JSON.stringify({ walletId, amountMinor: '700' });
      const headers = { 'idempotency-key': 'replay-funding-0001' };
      const funded = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', funding, { ...bank(), headers });
      expect(funded.body).toMatchObject({ status: 'settled', amountMinor: '700' });
      const mint = JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '300' });
      const minted = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', mint, alice());
      expect(minted.status).toBe(201);
      await deleteKeys(sys.queuePrefix);
      const before = { balance: await balanceOf(walletId), supply: await supply(), transfers: await count('transfers'), requests: await count('issuance_requests') };

      // The funding is replayed with the captured key, and with the key removed (finding 7 is the
      // signed string's; the nonce alone already refuses it).
      for (const h of [headers, {}]) {
        const replay = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', funding, { ...bank(), headers: h, auth: { nonce: funded.nonce, timestamp: funded.timestamp } });
        expect(replay.status).toBe(401);
        expect(replay.body.code).toBe('request_replayed');
      }
      const replayedMint = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', mint, { ...alice(), auth: { nonce: minted.nonce, timestamp: minted.timestamp } });
      expect(replayedMint.status).toBe(401);
      expect(replayedMint.body.code).toBe('request_replayed');
      expect({ balance: await balanceOf(walletId), supply: await supply(), transfers: await count('transfers'), requests: await count('issuance_requests') }).toEqual(before);
    });

    it('nonces are held for the clock window, then pruned; an expired one no longer holds', async () => {
      const now = Date.now();
      let clock = now;
      const claims = new DurableNonceClaims(sys.db.sql, () => clock);
      expect(await claims.claim('gateway/bank', 'bank-z', 'n0000000000000001', 1_000)).toBe(true);
      clock = now + 999;
      expect(await claims.claim('gateway/bank', 'bank-z', 'n0000000000000001', 1_000)).toBe(false);
      // Another scope (the issuer's operators) or key id does not collide.
      expect(await claims.claim('issuer/operator', 'bank-z', 'n0000000000000001', 1_000)).toBe(true);
      expect(await claims.claim('gateway/bank', 'bank-y', 'n0000000000000001', 1_000)).toBe(true);
      clock = now + 1_000;
      expect(await claims.claim('gateway/bank', 'bank-z', 'n0000000000000001', 1_000)).toBe(true);
      const [held] = await sys.db.sql`select expires_at_ms from request_nonces where scope = 'gateway/bank' and key_id = 'bank-z'`;
      expect(held.expires_at_ms).toBe(BigInt(now + 2_000));
      // Claims made together are grouped into one statement; of one nonce claimed twice, one wins.
      const together = await Promise.all(['a', 'b', 'a', 'c', 'b', 'a'].map((n) => claims.claim('gateway/bank', 'bank-w', `together-nonce-${n}`, 1_000)));
      expect(together.filter(Boolean)).toHaveLength(3);
      expect([together[0], together[1], together[3]]).toEqual([true, true, true]);
      // A signed POST's nonce is kept for twice the clock skew (a request outside it is refused by its timestamp).
      const signed = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', JSON.stringify({ publicKey: customer.publicKey, customerRef: 'nonce-ttl', tier: 'IV' }), bank());
      const [row] = await sys.db.sql`select expires_at_ms from request_nonces where scope = 'gateway/bank' and key_id = 'bank-a' and nonce = ${signed.nonce}`;
      expect(Number(row.expires_at_ms) - Date.now()).toBeGreaterThan(2 * LIMITS.requestClockSkewMs - 10_000);
      // Pruning drains every expired row in batches, and keeps the live ones.
      await sys.db.sql`update request_nonces set expires_at_ms = ${now - 1} where key_id = 'bank-y'`;
      await sys.db.sql`insert into request_nonces (scope, key_id, nonce, expires_at_ms) select 'gateway/bank', 'bank-x', 'n' || lpad(i::text, 16, '0'), ${now - 1} from generate_series(1, 25) i`;
      const live = (await sys.db.sql`select count(*)::int as n from request_nonces where expires_at_ms > ${Date.now()}`)[0].n;
      const store = new IdempotencyKeys({ sql: sys.db.sql, scope: { service: 'gateway', principalKind: 'bank' }, retentionMs: LIMITS.idempotencyKeyRetentionMs, leaseMs: LIMITS.idempotencyLeaseMs, now: Date.now });
      const pruned = await pruneExpiredRows({ sql: sys.db.sql, idempotency: store, now: Date.now, intervalMs: 60_000, rowsMax: 10 });
      expect(pruned.requestNonces).toBeGreaterThanOrEqual(26);
      expect((await sys.db.sql`select count(*)::int as n from request_nonces`)[0].n).toBe(live);
    });
  });

  describe('a crash between claiming a key and recording its answer leaves the key retryable', () => {
    const fundingBody = (amount: string) => JSON.stringify({ walletId, amountMinor: amount });
    const leaveClaim = async (key: string, body: string, leaseMs: number) => {
      const now = Date.now();
      await sys.db.sql`
        insert into idempotency_keys (service, principal_kind, principal_id, key, request_hash, lease_expires_at_ms, created_at_ms, expires_at_ms)
        values ('gateway', 'bank', 'bank-a', ${key}, ${requestHashOf('POST', '/v1/fundings', Buffer.from(body))}, ${now + leaseMs}, ${now}, ${now + LIMITS.idempotencyKeyRetentionMs})`;
    };

    it('a funding claimed by a process that died before queuing it: 409 while the lease holds, then the retry funds once', async () => {
      const body = fundingBody('1234');
      await leaveClaim('crashed-funding-0001', body, 1_500);
      const before = await balanceOf(walletId);
      const headers = { 'idempotency-key': 'crashed-funding-0001' };
      const early = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers });
      expect(early.status).toBe(409);
      expect(early.body.code).toBe('idempotency_key_in_use');
      expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const misuse = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', fundingBody('99'), { ...bank(), headers });
      expect(misuse.status).toBe(422);
      expect(misuse.body).toMatchObject({ code: 'idempotency_key_reused', errors: [{ field: 'header/idempotency-key', rule: 'same_request' }] });
      await sleep(1_600);
      const retry = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers });
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ status: 'settled', kind: 'funding', amountMinor: '1234', payeeWalletId: walletId });
      expect(await balanceOf(walletId)).toBe(before + 1234n);
      const again = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(retry.body);
      expect(await balanceOf(walletId)).toBe(before + 1234n);
    });

    it('a funding that settled before its process died: the retry after the lease answers the recorded transfer, funding nothing again', async () => {
      const body = fundingBody('4321');
      const headers = { 'idempotency-key': 'crashed-funding-0002' };
      const first = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers });
      expect(first.body.status).toBe('settled');
      const after = await balanceOf(walletId);
      // As the row looks had the process died after settlement and before storing the answer.
      await sys.db.sql`update idempotency_keys set status_code = null, response = null, lease_expires_at_ms = ${Date.now() + 1_000} where key = 'crashed-funding-0002'`;
      expect((await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers })).status).toBe(409);
      await sleep(1_100);
      const retry = await rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', body, { ...bank(), headers });
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(await balanceOf(walletId)).toBe(after);
    });

    it('a mint whose issuer process is killed mid-transaction leaves no claim: the retry with the same key mints once', async () => {
      const port = await freePort();
      const issuer = await startIssuerProcess(sys, port);
      const url = `http://127.0.0.1:${port}`;
      const body = JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '555' });
      const headers = { 'idempotency-key': 'killed-mint-0001' };
      const supplyBefore = await supply();
      // Hold the issuance head so that the issuer's mint waits inside its transaction, claim included.
      const holder = await sys.db.sql.reserve();
      try {
        await holder`begin`;
        await holder`select seq from issuance_head for update`;
        const stuck = rawRequest(url, 'POST', '/v1/issuances', body, { ...alice(), headers }).catch((error: Error) => error);
        await until(async () => (await sys.db.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'cbdc-issuer' and wait_event_type = 'Lock'`)[0].n === 1);
        issuer.kill('SIGKILL');
        expect(await stuck).toBeInstanceOf(Error);
      } finally {
        await holder`rollback`;
        holder.release();
      }
      // The orphaned backend finds its client gone and rolls back.
      await until(async () => (await sys.db.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'cbdc-issuer'`)[0].n === 0);
      expect((await sys.db.sql`select count(*)::int as n from idempotency_keys where key = 'killed-mint-0001'`)[0].n).toBe(0);
      const retry = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', body, { ...alice(), headers });
      expect(retry.status).toBe(201);
      expect(retry.body).toMatchObject({ status: 'executed', amountMinor: '555' });
      const again = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', body, { ...alice(), headers });
      expect(again.body.id).toBe(retry.body.id);
      expect(await supply()).toBe(supplyBefore + 555n);
    }, 60_000);
  });

  it('the same key with another request is refused naming the header, at the issuer too, and changes nothing', async () => {
    const headers = { 'idempotency-key': 'mint-misuse-0001' };
    const first = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '100' }), { ...alice(), headers });
    expect(first.status).toBe(201);
    const before = await supply();
    const other = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '100000' }), { ...alice(), headers });
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: 'idempotency_key_reused', errors: [{ field: 'header/idempotency-key', rule: 'same_request' }] });
    const otherRoute = await rawRequest(sys.issuerUrl, 'POST', '/v1/banks/bank-a/reserve/deposits', JSON.stringify({ amountMinor: '100', reference: 'x' }), { ...alice(), headers });
    expect(otherRoute.status).toBe(422);
    expect(await supply()).toBe(before);
  });

  it('keys expire after the retention: the key is then new again, and expired keys are pruned', async () => {
    const headers = { 'idempotency-key': 'expiring-key-0001' };
    const body = JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '10' });
    const first = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', body, { ...alice(), headers });
    const [row] = await sys.db.sql`select created_at_ms, expires_at_ms from idempotency_keys where service = 'issuer' and principal_kind = 'operator' and principal_id = 'alice' and key = 'expiring-key-0001'`;
    expect(Number(row.expires_at_ms - row.created_at_ms)).toBe(LIMITS.idempotencyKeyRetentionMs);
    const replay = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', body, { ...alice(), headers });
    expect(replay.body.id).toBe(first.body.id);
    // The retention passes.
    await sys.db.sql`update idempotency_keys set expires_at_ms = ${Date.now() - 1} where key = 'expiring-key-0001'`;
    const fresh = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', body, { ...alice(), headers });
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(fresh.body.id).not.toBe(first.body.id);
    // Pruning deletes expired keys only.
    await sys.db.sql`update idempotency_keys set expires_at_ms = ${Date.now() - 1} where key = 'expiring-key-0001'`;
    const store = new IdempotencyKeys({ sql: sys.db.sql, scope: { service: 'issuer', principalKind: 'operator' }, retentionMs: LIMITS.idempotencyKeyRetentionMs, leaseMs: LIMITS.idempotencyLeaseMs, now: Date.now });
    const kept = (await sys.db.sql`select count(*)::int as n from idempotency_keys where expires_at_ms > ${Date.now()}`)[0].n;
    expect(await store.prune(1_000)).toBe(1);
    expect((await sys.db.sql`select count(*)::int as n from idempotency_keys`)[0].n).toBe(kept);
  });

  it('a bank and an operator of the same name do not share keys', async () => {
    const bankAlice = await sys.addBank('alice');
    const headers = { 'idempotency-key': 'shared-name-0001' };
    const minted = await rawRequest(sys.issuerUrl, 'POST', '/v1/issuances', JSON.stringify({ kind: 'mint', bankId: 'bank-a', amountMinor: '1' }), { ...alice(), headers });
    expect(minted.status).toBe(201);
    const opened = await rawRequest(sys.gatewayUrl, 'POST', '/v1/wallets', JSON.stringify({ publicKey: customer.publicKey, customerRef: 'alice-c1', tier: 'IV' }), { keyId: 'alice', privateKeyHex: bankAlice.privateKeyHex, headers });
    expect(opened.status).toBe(201);
    expect(opened.body.bankId).toBe('alice');
    const scopes = await sys.db.sql`select service, principal_kind from idempotency_keys where key = 'shared-name-0001' order by service`;
    expect(scopes.map((s) => `${s.service}/${s.principal_kind}`)).toEqual(['gateway/bank', 'issuer/operator']);
  });

  it('the client library sends a fresh key with each mutating call unless given one', async () => {
    const keysOfBank = async () => (await sys.db.sql`select count(*)::int as n from idempotency_keys where service = 'gateway' and principal_kind = 'bank' and principal_id = 'bank-a'`)[0].n as number;
    const keysBefore = await keysOfBank();
    const input = { publicKey: customer.publicKey, customerRef: 'client-key', tier: 'IV' as const };
    const one = await bankA.openWallet(input);
    const two = await bankA.openWallet(input);
    expect(two.id).not.toBe(one.id);
    expect(await keysOfBank()).toBe(keysBefore + 2);
    const given = await bankA.openWallet(input, 'client-given-0001');
    expect(await bankA.openWallet(input, 'client-given-0001')).toEqual(given);
    await bankA.setWalletStatus(given.id, 'freeze', 'lost phone');
    const funded = await bankA.fund(walletId, 5n);
    expect(funded.body.status).toBe('settled');
    expect(await keysOfBank()).toBe(keysBefore + 5);
  });

  it('concurrent fundings with one key and different amounts: one is recorded, and no answer claims another amount settled', async () => {
    for (let round = 0; round < 5; round++) {
      const key = `concurrent-funding-${round}-0001`;
      const amounts = ['100', '100', '101', '102', '103', '104'].map((a) => String(Number(a) + round * 10));
      const before = await balanceOf(walletId);
      const answers = await Promise.all(amounts.map((amountMinor) => rawRequest(sys.gatewayUrl, 'POST', '/v1/fundings', JSON.stringify({ walletId, amountMinor }), { ...bank(), headers: { 'idempotency-key': key } })));
      const recorded = await sys.db.sql`select amount_minor, status from transfers where id = ${fundingIdOf('bank-a', key)}`;
      expect(recorded).toHaveLength(1);
      const settled = answers.filter((a) => a.status === 200);
      expect(settled.length).toBeGreaterThanOrEqual(1);
      const amount = settled[0].body.amountMinor as string;
      expect(recorded[0].amount_minor.toString()).toBe(amount);
      expect(await balanceOf(walletId)).toBe(before + BigInt(amount));
      for (const [i, a] of answers.entries()) {
        if (a.status === 200) {
          expect(a.body).toMatchObject({ status: 'settled', amountMinor: amount });
          expect(amounts[i]).toBe(amount);
        } else if (a.status === 409) {
          expect(a.body.code).toBe('idempotency_key_in_use');
          expect(amounts[i]).toBe(amount);
        } else {
          expect(a.status).toBe(422);
          expect(a.body).toMatchObject({ code: 'idempotency_key_reused', errors: [{ field: 'header/idempotency-key' }] });
          expect(amounts[i]).not.toBe(amount);
        }
      }
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** The issuer as its own process on the test database, to be killed. */
async function startIssuerProcess(sys: TestSystem, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/issuer/src/server.ts'], {
    env: { PATH: process.env.PATH, DATABASE_URL: sys.db.url, ...redisEnvOf(REDIS), QUEUE_PREFIX: sys.queuePrefix, ISSUER_SIGNING_KEY: sys.keys.issuer.toString('hex'), PORT: String(port), LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`the issuer process exited with ${child.exitCode}`);
    return fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  }, 30_000);
  return child;
}
