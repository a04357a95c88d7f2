/**
 * How outcomes reach the gateways: each gateway process hears the answers to its own jobs on a
 * reply stream of its own, and none of another's; the final outcome of a transfer between shards
 * comes on the stream every gateway reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { producerRedis } from '@cbdc/shared/redis';
import { finalsStream, replyStream } from '@cbdc/shared/job';
import { shardOf } from '@cbdc/shared/ids';
import { LIMITS } from '@cbdc/shared/limits';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { REDIS_URL, startTestSystem, type TestSystem } from './support/system.js';

describe('replies to gateways', () => {
  let sys: TestSystem;
  let bank: BankClient;
  let other: SettlementClient;
  const redis = producerRedis(REDIS_URL);
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
    other = new SettlementClient({ redisUrl: REDIS_URL, queuePrefix: sys.queuePrefix, shardCount: 2, attestationKey: sys.keys.attestation, gatewayId: 'other-gw', limits: LIMITS });
    await other.start();
  });
  afterAll(async () => {
    await other?.close();
    redis.disconnect();
    await sys?.close();
  });

  it('answers a gateway on its own stream and leaves the other gateway\'s empty', async () => {
    const before = await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'));
    const { wire } = signTransfer({ payerWalletId: byShard[0][0], payeeWalletId: byShard[0][1], amountMinor: 5n }, key.privateKey);
    expect((await bank.transfer(wire)).body).toMatchObject({ status: 'settled' });
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'test-gw'))).toBeGreaterThan(before);
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'other-gw'))).toBe(0);
    // Bounded, and removed some time after its gateway is gone.
    expect(await redis.pttl(replyStream(sys.queuePrefix, 'test-gw'))).toBeGreaterThan(0);
  });

  it('answers a transfer between shards with its final outcome, from the shared stream', async () => {
    const before = await redis.xlen(finalsStream(sys.queuePrefix));
    const { wire } = signTransfer({ payerWalletId: byShard[0][0], payeeWalletId: byShard[1][0], amountMinor: 7n }, key.privateKey);
    expect((await bank.transfer(wire)).body).toMatchObject({ status: 'settled' });
    expect(await redis.xlen(finalsStream(sys.queuePrefix))).toBeGreaterThan(before);
    expect(await redis.xlen(replyStream(sys.queuePrefix, 'other-gw'))).toBe(0);
  });
});
