/** Redis connections for producers (fail fast) and consumers (retry forever), and the reachability check. */
import { Redis } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A connection for request paths: commands fail at once while Redis is down instead of
 * queueing in memory, so the gateway can answer 503 rather than hang. A command unanswered after
 * `producerCommandTimeoutMs` fails too: cut off from Redis by a partition, the connection still
 * looks open and a job add waited until the partition healed (F11: 6.8 s, answered 202 pending).
 */
export function producerRedis(url: string): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3000, commandTimeout: producerCommandTimeoutMs, lazyConnect: false });
}

/** How long a request path waits for Redis to answer one command. */
export const producerCommandTimeoutMs = 1500;

/** A connection for BullMQ workers and event listeners, which must reconnect and wait. */
export function consumerRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectTimeout: 3000 });
}

/** Checks Redis answers; throws an Error with a one-line message saying what to start. */
export async function assertRedisReachable(url: string): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    const u = new URL(url);
    throw new Error(`cannot reach Redis at ${u.hostname}:${u.port || '6379'} (${(error as Error).message}); start redis-server or set REDIS_URL`);
  } finally {
    probe.disconnect();
  }
}
