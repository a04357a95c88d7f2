/**
 * How outcomes reach the gateways: each gateway process hears the answers to its own jobs on a
 * reply stream of its own, and none of another's, including the final outcome of a transfer
 * between shards (the gateway's id goes with the credit and back); only the result of a credit the
 * sweeper sent again, which has lost that id, comes on the stream every gateway reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { producerRedis } from '@cbdc/shared/redis';
import { finalsStream, replyStream } from '@cbdc/shared/job';
import { shardOf } from '@cbdc/shared/ids';
import { LIMITS } from '@cbdc/shared/limits';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { shardPublicKeys } from '@cbdc/wallet-gateway/transfers-store';
import { signerFromSeed } from '@cbdc/shared/crypto';
import { loseShardQueue, REDIS, startTestSystem, TEST_GATEWAY_KEY_ID, type TestSystem } from './support/system.js';

describe('replies to gateways', () => {
  let sys: TestSystem;
  let bank: BankClient;
  let other: SettlementClient;
  const redis = producerRedis(REDIS);
  const key = newCustomerKey();
  const byShard: string[][] = [[], []];

  beforeAll(async () => {
    sys = await startTestSystem({ shards: 2 });
    bank = await sys.addBank('bank-a');
    await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_000n, 'RTGS-1');
    await sys.operators.alice.issue('mint', 'bank-a', 1_000_000n);
    // Two wallets on each shard.
    while (byShard[0].length < 2 || byShard[1].length < 2) {
      const id = (await bank.openWallet({ publicKey: key.publicKey, customerRef: `c-${byShard.flat().length}`, tier: 'IV' })).id;
      if (byShard[shardOf(id, 2)].length < 2) byShard[shardOf(id, 2)].push(id);
    }
    for (const id of byShard.flat()) await bank.fund(id, 10_000n, `fund-${id}`);
    // A second gateway process on the same queues, submitting nothing.
    other = new SettlementClient({
      redis: REDIS,
      queuePrefix: sys.queuePrefix,
      shardCount: 2,
      signer: signerFromSeed(sys.keys.attestation),
      keyId: TEST_GATEWAY_KEY_ID,
      gatewayId: 'other-gw',
      limits: LIMITS,
      loadShardKeys: () => shardPublicKeys(sys.db.sql),
    });
    await other.start();
  });
  afterAll(async () => {
    await other?.close();
    redis.disconnect();
    await sys?.close();
  });

  it("answers a gateway on its own stream and leaves the other gateway's empty", async () => {
    const before = await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'));
    const { wire } = signTransfer({ payerWalletId: byShard[0][0], payeeWalletId: byShard[0][1], amountMinor: 5n }, key.privateKey);
    expect((await bank.transfer(wire)).body).toMatchObject({ status: 'settled' });
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'))).toBeGreaterThan(before);
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'other-gw'))).toBe(0);
    // Bounded, and removed some time after its gateway is gone.
    expect(await redis.pttl(replyStream(sys.queuePrefix, 'test-gw'))).toBeGreaterThan(0);
  });

  it("answers a transfer between shards with its final outcome on the gateway's own stream: its id goes with the credit and back", async () => {
    const finalsBefore = await redis.xlen(finalsStream(sys.queuePrefix));
    const ownBefore = await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'));
    const { wire } = signTransfer({ payerWalletId: byShard[0][0], payeeWalletId: byShard[1][0], amountMinor: 7n }, key.privateKey);
    expect((await bank.transfer(wire)).body).toMatchObject({ status: 'settled' });
    // The debit's answer (in flight) and the final one.
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'))).toBeGreaterThanOrEqual(ownBefore + 2);
    expect(await redis.xlen(finalsStream(sys.queuePrefix))).toBe(finalsBefore);
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'other-gw'))).toBe(0);
  });

  it("sends the final outcome of a credit sent again by the sweeper (which has lost the gateway's id) to every gateway", async () => {
    const before = await redis.xlen(finalsStream(sys.queuePrefix));
    await sys.workers[1].close();
    const { id, wire } = signTransfer({ payerWalletId: byShard[0][1], payeeWalletId: byShard[1][1], amountMinor: 3n }, key.privateKey);
    expect((await bank.transfer(wire, true)).status).toBe(202);
    await expect.poll(async () => (await sys.operators.alice.supply()).inFlightMinor, { timeout: 10_000 }).toBe('3');
    // Redis loses shard 1's queue, the credit with it; the payer's shard sends it again.
    await loseShardQueue(sys.queuePrefix, 1);
    await sys.restartWorkers();
    await expect.poll(async () => (await bank.getTransfer(id)).status, { timeout: 15_000 }).toBe('settled');
    await expect.poll(async () => redis.xlen(finalsStream(sys.queuePrefix)), { timeout: 5_000 }).toBeGreaterThan(before);
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'other-gw'))).toBe(0);
  });
});
