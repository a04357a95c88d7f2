import { describe, expect, it } from 'vitest';
import { describeRedis, redisEnvOf, redisTargetFromEnv, type RedisTarget } from './redis.js';
import { crc16, hashTagOf, keySlot, REDIS_CLUSTER_SLOTS } from './redis-slot.js';
import { SHARD_QUEUE_SLOT_WINDOW, shardQueue, shardQueueTag, shardSlotTarget } from './settlement-job.js';

describe('the Redis configuration', () => {
  const cases: Array<[string, Record<string, string>, RedisTarget]> = [
    ['the default', {}, { mode: 'single', url: 'redis://127.0.0.1:6379' }],
    ['a URL with its password', { REDIS_URL: 'redis://:s3cret@10.0.0.5:6380/2' }, { mode: 'single', url: 'redis://:s3cret@10.0.0.5:6380/2' }],
    ['REDIS_PASSWORD and REDIS_USERNAME over the URL', { REDIS_URL: 'redis://:old@h:6379', REDIS_USERNAME: 'cbdc', REDIS_PASSWORD: 'n/w@' }, { mode: 'single', url: 'redis://cbdc:n%2Fw%40@h:6379' }],
    [
      'seed nodes select a cluster',
      { REDIS_URL: 'redis://ignored:1', REDIS_CLUSTER_NODES: '10.1.0.1:7000,redis-b:7001,[::1]:7002', REDIS_PASSWORD: 'pw' },
      {
        mode: 'cluster',
        nodes: [
          { host: '10.1.0.1', port: 7000 },
          { host: 'redis-b', port: 7001 },
          { host: '::1', port: 7002 },
        ],
        password: 'pw',
      },
    ],
    [
      'an ACL user and a NAT map',
      { REDIS_CLUSTER_NODES: 'a:1', REDIS_USERNAME: 'u', REDIS_PASSWORD: 'p', REDIS_CLUSTER_NAT_MAP: '198.18.0.5:7000=127.0.0.1:7400' },
      { mode: 'cluster', nodes: [{ host: 'a', port: 1 }], username: 'u', password: 'p', natMap: { '198.18.0.5:7000': { host: '127.0.0.1', port: 7400 } } },
    ],
  ];
  for (const [name, env, target] of cases) {
    it(`reads ${name}, and gives it back as the same environment`, () => {
      expect(redisTargetFromEnv(env)).toEqual(target);
      expect(redisTargetFromEnv(redisEnvOf(target))).toEqual(target);
    });
  }

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a node without a port', { REDIS_CLUSTER_NODES: '10.1.0.1' }, /REDIS_CLUSTER_NODES must be "host:port,host:port"/],
    ['a port out of range', { REDIS_CLUSTER_NODES: 'a:70000' }, /"a:70000" is not host:port/],
    ['a URL of another scheme', { REDIS_URL: 'http://h:1' }, /REDIS_URL must start with redis:\/\//],
    ['a NAT map without a cluster', { REDIS_CLUSTER_NAT_MAP: 'a:1=b:2' }, /REDIS_CLUSTER_NAT_MAP is set without REDIS_CLUSTER_NODES/],
    ['a user name with a space', { REDIS_USERNAME: 'a b' }, /REDIS_USERNAME/],
    ['more seeds than the bound', { REDIS_CLUSTER_NODES: Array.from({ length: 65 }, (_, i) => `h:${7000 + i}`).join(',') }, /at most 64/],
  ];
  for (const [name, env, message] of refused) {
    it(`refuses ${name}, naming the variable`, () => expect(() => redisTargetFromEnv(env)).toThrow(message));
  }

  it('describes a target without its credentials', () => {
    expect(describeRedis(redisTargetFromEnv({ REDIS_URL: 'redis://u:secret@h:7' }))).toBe('Redis at h:7');
    expect(describeRedis(redisTargetFromEnv({ REDIS_CLUSTER_NODES: 'a:1,b:2', REDIS_PASSWORD: 'secret' }))).toBe('Redis Cluster (seeds a:1, b:2)');
  });
});

describe('cluster slots', () => {
  it("compute CRC16-XMODEM and the cluster specification's vector", () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('123456789')).toBe(12739);
  });

  it('hash only the tag: the first non-empty {...}', () => {
    expect(hashTagOf('{user1}:a')).toBe('user1');
    expect(hashTagOf('a{}b')).toBe('a{}b');
    expect(hashTagOf('a{b}{c}')).toBe('b');
    expect(keySlot('{cbdc-s0}:settle:wait')).toBe(keySlot('cbdc-s0'));
  });
});

describe("shard queues' hash tags", () => {
  it('spread shards by halving the slot space: 0, 8192, 4096, 12288, ...', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(shardSlotTarget)).toEqual([0, 8192, 4096, 12288, 2048, 10240, 6144, 14336]);
  });

  it('land every shard in its window, for any prefix, with all of a queue in one slot', () => {
    for (const prefix of ['cbdc', 'bench0a1b2c', 't0123456789']) {
      for (let shard = 0; shard < 64; shard++) {
        const tag = shardQueueTag(prefix, shard);
        expect(tag.startsWith(`${prefix}-s${shard}`)).toBe(true);
        expect((keySlot(`{${tag}}`) - shardSlotTarget(shard) + REDIS_CLUSTER_SLOTS) % REDIS_CLUSTER_SLOTS).toBeLessThan(SHARD_QUEUE_SLOT_WINDOW);
        const q = shardQueue(prefix, shard);
        expect(keySlot(`${q.prefix}:${q.name}:wait`)).toBe(keySlot(`${q.prefix}:${q.name}:meta`));
      }
    }
  });

  it('put four shards on three masters holding equal slot ranges on all three', () => {
    const masterOf = (slot: number) => Math.floor(slot / Math.ceil(REDIS_CLUSTER_SLOTS / 3));
    for (const prefix of ['cbdc', 'x', 'bench-9']) expect(new Set([0, 1, 2, 3].map((s) => masterOf(keySlot(shardQueue(prefix, s).prefix)))).size).toBe(3);
  });
});
