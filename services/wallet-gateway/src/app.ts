/** Builds the wallet gateway: base app, bank authentication, per-bank rate limits, routes. */
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { FastifyServerOptions } from 'fastify';
import { watchWritable, type Sql } from '@cbdc/db/connect';
import { buildBaseApp } from '@cbdc/http/base-app';
import { installSignedAuth } from '@cbdc/http/signed-auth';
import type { Signer } from '@cbdc/shared/crypto';
import type { Limits } from '@cbdc/shared/limits';
import type { GatewayContext } from './context.js';
import type { SettlementClient } from './transfers/settlement-client.js';
import { transferRoutes } from './transfers/routes.js';
import { walletRoutes } from './wallets/routes.js';
import { WalletFactsCache } from './wallets/facts-cache.js';

export interface GatewayDeps {
  sql: Sql;
  /** Fail-fast Redis connection for request nonces. */
  redis: Redis;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  queuePrefix: string;
  /** The gateway's registry key (server.ts: registrySignerOfAttestationKey). */
  registrySigner: Signer;
  now?: () => number;
  logger?: FastifyServerOptions['logger'];
}

export async function buildGatewayApp(deps: GatewayDeps) {
  const now = deps.now ?? Date.now;
  const app = await buildBaseApp({
    title: 'CBDC wallet gateway',
    description: 'The commercial banks\' API: wallets, fundings, redemptions and customer-signed transfers. Every request is signed with the bank\'s Ed25519 key (docs/api.md).',
    bodyBytesMax: deps.limits.bodyBytesMax,
    logger: deps.logger,
  });

  const bankKeys = new LRUCache<string, { key: Buffer | null }>({ max: 10_000, ttl: 30_000 });
  installSignedAuth(app, {
    clockSkewMs: deps.limits.requestClockSkewMs,
    now,
    async lookupKey(bankId) {
      const cached = bankKeys.get(bankId);
      if (cached) return cached.key;
      const [row] = await deps.sql<{ public_key: Buffer }[]>`select public_key from banks where id = ${bankId}`;
      const entry = { key: row ? row.public_key : null };
      bankKeys.set(bankId, entry);
      return entry.key;
    },
    async claimNonce(bankId, nonce, ttlMs) {
      return (await deps.redis.set(`${deps.queuePrefix}:request-nonce:bank:${bankId}:${nonce}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  });

  // One bank flooding a gateway is limited alone; others keep their own budget.
  await app.register(rateLimit, {
    hook: 'preHandler',
    max: deps.limits.bankRequestsPerSecondMax,
    timeWindow: 1000,
    keyGenerator: (req) => req.principal || req.ip,
    allowList: (req) => req.routeOptions.config?.public === true,
  });

  const writable = watchWritable(deps.sql);
  app.addHook('onClose', async () => writable.stop());
  const walletFacts = new WalletFactsCache(deps.sql, { ttlMs: deps.limits.walletFactsTtlMs, capacity: deps.limits.walletFactsHeldMax, now });
  const ctx: GatewayContext = { sql: deps.sql, settlement: deps.settlement, shardCount: deps.shardCount, limits: deps.limits, now, walletFacts, ledgerWritable: () => writable.writable, registry: { role: 'gateway', signer: deps.registrySigner } };
  await app.register(async (scoped) => {
    await walletRoutes(scoped, ctx);
    await transferRoutes(scoped, ctx);
  });
  return app;
}
