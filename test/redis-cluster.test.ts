/**
 * The whole system (issuer, gateway, four shard workers, in this process) on a real Redis Cluster
 * of three masters and three replicas with a password: fundings and transfers settle on their own
 * shard and across shards, replies reach the gateway, rate limits and read nonces hold, the shard
 * queues sit on different masters, and a wrong password or a cluster configured as one server is
 * refused at start in one line. The same against services as processes, and a master killed under
 * load, are in test/cluster/ (npm run test:cluster).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, signTransfer, type BankClient } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import { shardQueue } from '@cbdc/shared/job';
import { assertRedisReachable, producerRedis, untilReady, type RedisTarget } from '@cbdc/shared/redis';
import { keySlot } from '@cbdc/shared/redis-slot';
import { parseClusterNodes, startRedisCluster, type RedisCluster } from '../infra/cluster/redis-cluster.js';
import { rawRequest } from './support/raw.js';
import { startTestSystem, type TestSystem } from './support/system.js';

const SHARDS = 4;

describe('on a Redis Cluster of 3 masters and 3 replicas, with a password', () => {
  let cluster: RedisCluster;
  let sys: TestSystem;
  let bank: BankClient & { privateKeyHex: string };
  const customer = newCustomerKey();
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);

  /** A connection straight to one node (no redirection), authenticated. */
  const direct = async <T>(host: string, port: number, use: (r: Redis) => Promise<T>, auth: { username?: string; password?: string } = { password: cluster.password }) => {
    const r = new Redis({ host, port, ...auth, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let refused: Error | null = null;
    r.on('error', (error: Error) => (refused ??= error));
    try {
      await r.connect();
      return await use(r);
    } catch (error) {
      throw refused ?? error;
    } finally {
      r.disconnect();
    }
  };
  const pay = (from: string, to: string, amountMinor: bigint) => bank.transfer(signTransfer({ payerWalletId: from, payeeWalletId: to, amountMinor }, customer.privateKey).wire);

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, password: randomBytes(8).toString('hex') });
    sys = await startTestSystem({ shards: SHARDS, redis: cluster.target, limits: { rateLimitWindowMs: 60_000, clientIpAuthFailuresPerSecondMax: 5 } });
    bank = await sys.addBank('bank-a');
    await sys.operators.alice.reserve('bank-a', 'deposit', 10_000_000n, 'dep-1');
    await sys.operators.alice.issue('mint', 'bank-a', 10_000_000n);
    for (let i = 0; byShard.some((ids) => ids.length < 2) && i < 200; i++) {
      const w = await bank.openWallet({ publicKey: customer.publicKey, customerRef: `c${i}`, tier: 'IV' });
      byShard[w.shard].push(w.id);
    }
  }, 120_000);
  afterAll(async () => {
    await sys?.close();
    await cluster?.stop();
  });

  it('funds wallets on every shard through the treasury shard', async () => {
    for (const ids of byShard) for (const id of ids.slice(0, 2)) expect((await bank.fund(id, 100_000n, `fund-${id}`)).body).toMatchObject({ status: 'settled' });
    for (const ids of byShard) expect((await bank.wallet(ids[0])).balanceMinor).toBe('100000');
  });

  it('settles transfers on one shard and across shards, answered by the gateway as settled (the replies reached it)', async () => {
    for (let s = 0; s < SHARDS; s++) {
      const same = await pay(byShard[s][0], byShard[s][1], 100n);
      expect(same.body).toMatchObject({ status: 'settled', code: null });
      const across = await pay(byShard[s][0], byShard[(s + 1) % SHARDS][1], 250n);
      expect(across.body).toMatchObject({ status: 'settled', code: null });
    }
    const report = await audit(sys.db.sql);
    expect(report.findings).toEqual([]);
    expect(report.stats.inFlightMinor).toBe('0');
    expect(BigInt(report.stats.walletBalancesMinor)).toBe(BigInt(report.stats.supplyMinor));
  });

  it("puts the four shards' queues on all three masters, each queue in one slot that the server computes as we do", async () => {
    const masters = new Set<string>();
    for (let s = 0; s < SHARDS; s++) {
      const tag = shardQueue(sys.queuePrefix, s).prefix;
      const slot = keySlot(tag);
      const master = await cluster.masterOfSlot(slot);
      masters.add(master.id);
      await direct(master.host, master.port, async (r) => {
        expect(await r.cluster('KEYSLOT', `${tag}:settle:meta`)).toBe(slot);
        // The queue's keys are really there, on that master: its meta, its event stream, its completed jobs.
        expect(await r.cluster('COUNTKEYSINSLOT', slot)).toBeGreaterThan(0);
        const [, keys] = await r.scan('0', 'MATCH', `${tag}:*`, 'COUNT', 10_000);
        expect(keys.length).toBeGreaterThan(0);
        expect(keys.every((k) => keySlot(k) === slot)).toBe(true);
      });
    }
    expect(masters.size).toBe(3);
    const view = await cluster.nodes();
    expect(view.filter((n) => n.role === 'replica').every((n) => view.some((m) => m.id === n.masterId && m.role === 'master'))).toBe(true);
  });

  it("counts rate limits and read nonces in the cluster: a replayed read is refused, a bank's budget shows in its counter", async () => {
    const first = await rawRequest(sys.gatewayUrl, 'GET', '/v1/wallets', undefined, { keyId: 'bank-a', privateKeyHex: bank.privateKeyHex });
    expect(first.status).toBe(200);
    const remaining = Number(first.headers.get('ratelimit-remaining'));
    const replay = await rawRequest(sys.gatewayUrl, 'GET', '/v1/wallets', undefined, { keyId: 'bank-a', privateKeyHex: bank.privateKeyHex, auth: { nonce: first.nonce, timestamp: first.timestamp } });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('request_replayed');
    expect(Number(replay.headers.get('ratelimit-remaining'))).toBe(remaining - 1);
    const redis = producerRedis(cluster.target);
    redis.on('error', () => {});
    try {
      await untilReady(redis);
      expect(await redis.exists(`${sys.queuePrefix}:request-nonce:bank:bank-a:${first.nonce}`)).toBe(1);
      expect(Number(await redis.get(`{${sys.queuePrefix}-gateway-rate}:key:bank-a`))).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a wrong password, a missing one, and a cluster configured as one server, each in one line', async () => {
    const wrong: RedisTarget = { ...cluster.target, mode: 'cluster', password: 'not-the-password' } as RedisTarget;
    await expect(assertRedisReachable(wrong)).rejects.toThrow(/^Redis Cluster \(seeds .*\) refused the credentials at 127\.0\.0\.1:\d+ \(WRONGPASS[^\n]*\); check REDIS_PASSWORD and REDIS_USERNAME$/);
    const none = { mode: 'cluster', nodes: cluster.target.mode === 'cluster' ? cluster.target.nodes : [] } as RedisTarget;
    await expect(assertRedisReachable(none)).rejects.toThrow(/^[^\n]*refused the credentials[^\n]*NOAUTH[^\n]*; check REDIS_PASSWORD and REDIS_USERNAME$/);
    const [node] = cluster.members;
    await expect(assertRedisReachable({ mode: 'single', url: `redis://:${cluster.password}@${node.host}:${node.port}` })).rejects.toThrow(/^Redis at 127\.0\.0\.1:\d+ is a Redis Cluster node; set REDIS_CLUSTER_NODES/);
    await expect(assertRedisReachable(cluster.target)).resolves.toBeUndefined();
  });

  it('authenticates as an ACL user (REDIS_USERNAME) on every node', async () => {
    const password = randomBytes(8).toString('hex');
    for (const m of cluster.members) await direct(m.host, m.port, (r) => r.call('ACL', 'SETUSER', 'cbdc-test', 'on', `>${password}`, '~*', '&*', '+@all'));
    const asUser = { ...cluster.target, username: 'cbdc-test', password } as RedisTarget;
    await assertRedisReachable(asUser);
    const redis = producerRedis(asUser);
    redis.on('error', () => {});
    try {
      await untilReady(redis);
      const key = `${sys.queuePrefix}:acl-probe`;
      await redis.set(key, 'ok', 'PX', 60_000);
      expect(await redis.get(key)).toBe('ok');
    } finally {
      redis.disconnect();
    }
    const [m] = cluster.members;
    await expect(direct(m.host, m.port, (r) => r.ping(), { username: 'cbdc-test', password: 'wrong' })).rejects.toThrow(/WRONGPASS/);
  });

  it('refuses a client IP past its failed-authentication budget with 429 (the last case: it locks this address out)', async () => {
    // The replayed read above was this address's first failed authentication; four more reach the budget of five.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await rawRequest(sys.gatewayUrl, 'GET', '/v1/wallets', undefined, { keyId: 'bank-a', privateKeyHex: customer.privateKey })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
  });
});

describe('CLUSTER NODES, parsed', () => {
  it('reads roles, masters, failure flags and slot ranges, leaving out slots in migration', () => {
    const text = ['a1 127.0.0.1:7400@17400 myself,master - 0 0 1 connected 0-5460 [5461->-b2]', 'b2 127.0.0.1:7401@17401,host-b master,fail - 0 0 2 connected 5461-10922 16000', 'c3 127.0.0.1:7403@17403 slave a1 0 0 1 connected'].join('\n');
    expect(parseClusterNodes(text)).toEqual([
      { id: 'a1', host: '127.0.0.1', port: 7400, role: 'master', masterId: null, failing: false, slots: [[0, 5460]] },
      {
        id: 'b2',
        host: '127.0.0.1',
        port: 7401,
        role: 'master',
        masterId: null,
        failing: true,
        slots: [
          [5461, 10922],
          [16000, 16000],
        ],
      },
      { id: 'c3', host: '127.0.0.1', port: 7403, role: 'replica', masterId: 'a1', failing: false, slots: [] },
    ]);
  });
});
