/**
 * Finding 6 of the security review (first half): anyone who can write to Redis could append an
 * entry to a gateway's reply stream and make the gateway answer "200 settled" for a transfer that
 * is not recorded. Replies are now signed by the shard's key over the stream they are meant for;
 * the gateway drops every entry that does not verify, and the request answers pending until the
 * real outcome is committed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { replyStream } from '@cbdc/shared/job';
import { producerRedis } from '@cbdc/shared/redis';
import { replyEntryMessage } from '@cbdc/shared/reply';
import { REDIS, startTestSystem, type TestSystem } from './support/system.js';

describe('Redis is not a trust channel for outcomes', () => {
  let sys: TestSystem;
  let bank: BankClient;
  const redis = producerRedis(REDIS);
  const key = newCustomerKey();
  let payer: string;
  let payee: string;

  beforeAll(async () => {
    sys = await startTestSystem({ limits: { settleWaitMs: 2_000 } });
    bank = await sys.addBank('bank-r');
    await sys.operators.alice.reserve('bank-r', 'deposit', 1_000_000n, 'RTGS-R1');
    await sys.operators.alice.issue('mint', 'bank-r', 1_000_000n);
    payer = (await bank.openWallet({ publicKey: key.publicKey, customerRef: 'r-1', tier: 'II' })).id;
    payee = (await bank.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'r-2', tier: 'II' })).id;
    await bank.fund(payer, 10_000n, 'fund-r-000001');
  });
  afterAll(async () => {
    redis.disconnect();
    await sys?.close();
  });

  it('never answers settled on a forged reply, and answers the real outcome once it is committed', async () => {
    await Promise.all(sys.workers.map((w) => w.close()));
    const { id, wire } = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 25n }, key.privateKey);
    const answer = bank.transfer(wire);
    const stream = replyStream(sys.queuePrefix, 'test-gw');
    const forged = JSON.stringify({ shard: 0, batchSeq: '999', timeMs: Date.now(), outcomes: [{ id, type: 'origin', status: 'settled' }] });
    await new Promise((r) => setTimeout(r, 300));
    // Unsigned, as the old format was; signed by a key that is not shard 0's; shard 0's real
    // key is nowhere near Redis, so these are all a Redis writer can do.
    await redis.xadd(stream, '*', 'result', forged);
    await redis.xadd(stream, '*', 'result', forged, 'shard', '0', 'signature', signerFromSeed(randomBytes(32)).sign(replyEntryMessage(stream, forged)).toString('hex'));
    await redis.xadd(stream, '*', 'result', forged, 'shard', '7', 'signature', 'ab'.repeat(64));
    const res = await answer;
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('pending');
    expect((await sys.db.sql`select count(*)::int as n from transfers where id = ${id}`)[0].n).toBe(0);

    await sys.restartWorkers();
    // The bank resubmits the same signed transfer, as it should after a 202; now it settles for real.
    await expect.poll(async () => (await bank.transfer(wire)).body.status, { timeout: 15_000 }).toBe('settled');
    expect((await bank.wallet(payee)).balanceMinor).toBe('25');
  });

  it('answers settled on a reply that the shard signed', async () => {
    const { wire } = signTransfer({ payerWalletId: payer, payeeWalletId: payee, amountMinor: 5n }, key.privateKey);
    const res = await bank.transfer(wire);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('settled');
  });
});
