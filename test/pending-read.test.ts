/**
 * A transfer accepted by the gateway is readable by id at once: `pending` between the 202 and the
 * commit of its batch (async submits, batch items, fundings, and a synchronous submit that waited
 * out), to the payer's bank only; then its recorded outcome. An accepted item that is never
 * recorded (its job lost) keeps reading `pending`, and once its expiry has passed `not_settled`.
 * Redis is not trusted: a record moved to another id, or naming another bank, shows nothing.
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { shardQueue, shardQueueTag, type JobItem } from '@cbdc/shared/job';
import { consumerRedis, type RedisConnection } from '@cbdc/shared/redis';
import { acceptedKey, encodeAccepted } from '@cbdc/wallet-gateway/accepted';
import { loseShardQueue, startTestSystem, type TestSystem } from './support/system.js';

const problemOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => (e instanceof CbdcApiError ? e.problem : Promise.reject(e)),
  );

describe('reading a transfer accepted and not yet recorded', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  let redis: RedisConnection;
  let queue: Queue;
  const alice = newCustomerKey();
  const bob = newCustomerKey();
  let aliceWallet: string;
  let bobWallet: string;

  beforeAll(async () => {
    // A short wait, so that a synchronous submit to a paused queue answers 202 quickly.
    sys = await startTestSystem({ limits: { settleWaitMs: 300 } });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await sys.operators.alice.reserve('bank-a', 'deposit', 10_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 10_000_000n);
    aliceWallet = (await bankA.openWallet({ publicKey: alice.publicKey, customerRef: 'alice', tier: 'II' })).id;
    bobWallet = (await bankB.openWallet({ publicKey: bob.publicKey, customerRef: 'bob', tier: 'II' })).id;
    await bankA.fund(aliceWallet, 1_000_000n, 'fund-alice-1');
    redis = consumerRedis(sys.redis);
    const q = shardQueue(sys.queuePrefix, 0);
    queue = new Queue(q.name, { connection: redis, prefix: q.prefix });
  });
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await sys?.close();
  });

  /** Runs `during` while shard 0's workers take no job, then lets them work again. */
  const whilePaused = async <T>(during: () => Promise<T>): Promise<T> => {
    await queue.pause();
    try {
      return await during();
    } finally {
      await queue.resume();
    }
  };
  const pay = (amountMinor: bigint, expiresAtMs?: bigint) => signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor, memo: 'lunch', ...(expiresAtMs ? { expiresAtMs } : {}) }, alice.privateKey);
  const settled = (bank: BankClient, id: string) => expect.poll(async () => (await bank.getTransfer(id).catch(() => null))?.status, { timeout: 15_000 }).toBe('settled');
  const recordOf = (id: string) => redis.get(acceptedKey(shardQueueTag(sys.queuePrefix, 0), id));

  it('answers pending right after a 202, with its fields, to the payer’s bank only; then the settled outcome, to both banks', async () => {
    const t = pay(1_234n);
    const view = await whilePaused(async () => {
      const res = await bankA.transfer(t.wire, true);
      expect(res.status).toBe(202);
      const read = await bankA.getTransfer(t.id);
      // The payee's bank does not learn of a payment that may still be refused.
      expect(await problemOf(bankB.getTransfer(t.id))).toMatchObject({ status: 404, code: 'transfer_not_found' });
      expect(await problemOf(bankA.receipt(t.id))).toMatchObject({ status: 404, code: 'transfer_not_found' });
      return read;
    });
    expect(view).toEqual({
      id: t.id,
      kind: 'transfer',
      status: 'pending',
      code: null,
      payerWalletId: aliceWallet,
      payeeWalletId: bobWallet,
      amountMinor: '1234',
      nonce: t.wire.nonce,
      expiresAtMs: t.wire.expiresAtMs,
      memo: 'lunch',
      shard: 0,
      batchSeq: null,
      submittedAtMs: expect.stringMatching(/^\d+$/),
      settledAtMs: null,
    });
    await settled(bankA, t.id);
    const final = await bankA.getTransfer(t.id);
    expect(final).toMatchObject({ status: 'settled', submittedAtMs: view.submittedAtMs, batchSeq: expect.stringMatching(/^\d+$/) });
    expect((await bankB.getTransfer(t.id)).status).toBe('settled');
    // Once recorded, the row answers and the acceptance record is gone.
    await expect.poll(() => recordOf(t.id)).toBeNull();
  });

  it('answers pending for every item of an async batch', async () => {
    const items = [pay(1n), pay(2n), pay(3n)];
    await whilePaused(async () => {
      const res = await bankA.transferBatch(
        items.map((i) => i.wire),
        true,
      );
      expect(res.body.results.map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);
      for (const i of items) expect(await bankA.getTransfer(i.id)).toMatchObject({ id: i.id, status: 'pending', amountMinor: i.wire.amountMinor });
    });
    for (const i of items) await settled(bankA, i.id);
  });

  it('answers pending for a synchronous submit that waited out, and for an async funding', async () => {
    const t = pay(77n);
    const funding = await whilePaused(async () => {
      const res = await bankA.transfer(t.wire);
      expect(res.status).toBe(202);
      expect((await bankA.getTransfer(t.id)).status).toBe('pending');
      const fund = await bankA.fund(aliceWallet, 500n, 'fund-alice-2', true);
      expect(fund.status).toBe(202);
      expect(await bankA.getTransfer(fund.body.id)).toMatchObject({ kind: 'funding', status: 'pending', payeeWalletId: aliceWallet, amountMinor: '500', expiresAtMs: null });
      return fund.body.id;
    });
    await settled(bankA, t.id);
    await settled(bankA, funding);
  });

  it('keeps reading pending when Redis loses the queued job (never recorded), not 404', async () => {
    const t = pay(5n);
    await whilePaused(async () => {
      expect((await bankA.transfer(t.wire, true)).status).toBe(202);
      await loseShardQueue(sys.queuePrefix, 0, sys.redis);
    });
    expect((await bankA.getTransfer(t.id)).status).toBe('pending');
    // Resubmitting the same signed transfer is the remedy, and it settles once.
    expect((await bankA.transfer(t.wire)).body.status).toBe('settled');
    expect((await bankA.getTransfer(t.id)).status).toBe('settled');
  });

  it('leaves no acceptance record behind once the items are recorded, even when settlement answers as fast as it can', async () => {
    const items = Array.from({ length: 30 }, (_, i) => pay(BigInt(10 + i)));
    for (const chunk of [items.slice(0, 10), items.slice(10, 20), items.slice(20)]) {
      await bankA.transferBatch(
        chunk.map((i) => i.wire),
        true,
      );
    }
    for (const i of items) await settled(bankA, i.id);
    await expect.poll(async () => (await Promise.all(items.map((i) => recordOf(i.id)))).filter((r) => r !== null).length).toBe(0);
  });

  /** Stores an acceptance record as a gateway would have (the item as queued), to stand for one whose job was lost long ago. */
  const storeRecord = (id: string, item: JobItem) => redis.set(acceptedKey(shardQueueTag(sys.queuePrefix, 0), id), encodeAccepted(item), 'PX', 60_000);
  const itemOf = (t: ReturnType<typeof pay>, bankId = 'bank-a'): JobItem => ({ ...t.wire, id: t.id, kind: 'transfer', bankId, submittedAtMs: Date.now() - 200_000, payeeShard: 0 });

  it('answers not_settled (code expired), final, for an accepted transfer never recorded and past its expiry and the clock skew', async () => {
    const t = pay(6n, BigInt(Date.now() - 120_000));
    await storeRecord(t.id, itemOf(t));
    expect(await bankA.getTransfer(t.id)).toMatchObject({ id: t.id, status: 'not_settled', code: 'expired', batchSeq: null, settledAtMs: null });
    expect(await problemOf(bankB.getTransfer(t.id))).toMatchObject({ status: 404 });
  });

  it('shows nothing from a forged record: moved to another id, naming another bank, or unreadable', async () => {
    const real = pay(7n);
    const other = pay(8n);
    // The content of one transfer stored under another's id.
    await storeRecord(other.id, itemOf(real));
    expect(await problemOf(bankA.getTransfer(other.id))).toMatchObject({ status: 404, code: 'transfer_not_found' });
    // Bank B claiming a payment by bank A's customer: neither bank sees it.
    await storeRecord(real.id, itemOf(real, 'bank-b'));
    expect(await problemOf(bankB.getTransfer(real.id))).toMatchObject({ status: 404 });
    expect(await problemOf(bankA.getTransfer(real.id))).toMatchObject({ status: 404 });
    await redis.set(acceptedKey(shardQueueTag(sys.queuePrefix, 0), real.id), '{not json', 'PX', 60_000);
    expect(await problemOf(bankA.getTransfer(real.id))).toMatchObject({ status: 404 });
  });
});
