/** Builds the wallet gateway: base app, bank authentication, per-bank rate limits, routes. */
import type { RedisConnection } from '@cbdc/shared/redis';
import { LRUCache } from 'lru-cache';
import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Sql } from '@cbdc/db/connect';
import type { Topology } from '@cbdc/db/topology';
import { buildBaseApp } from '@cbdc/http/base-app';
import { SIGNING_DESCRIPTION } from '@cbdc/http/openapi';
import type { ContractViolation } from '@cbdc/http/response-contract';
import { IdempotencyKeys } from '@cbdc/http/idempotency';
import { installExpiredRowsPruner } from '@cbdc/http/pruner';
import { DurableNonceClaims } from '@cbdc/http/request-nonces';
import { installRateLimits } from '@cbdc/http/rate-limit';
import { installSignedAuth } from '@cbdc/http/signed-auth';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import type { Signer } from '@cbdc/shared/crypto';
import type { Limits } from '@cbdc/shared/limits';
import { ApiError } from '@cbdc/shared/problem';
import type { GatewayContext } from './context.js';
import { Ledger, singleDatabaseTopology } from './ledger.js';
import { reconciliationRoutes } from './reconciliation/routes.js';
import type { SettlementClient } from './transfers/settlement-client.js';
import { paymentRequestRoutes } from './requests/routes.js';
import { transferRoutes } from './transfers/routes.js';
import { holdRoutes } from './holds/routes.js';
import { walletRoutes } from './wallets/routes.js';
import { walletLifecycleRoutes } from './wallets/lifecycle.js';
import { eventRoutes } from './events/routes.js';
import { webhookRoutes } from './webhooks/routes.js';
import { WalletFactsCache } from './wallets/facts-cache.js';
import { walletFactsAcross } from './wallets/store.js';

export interface GatewayDeps {
  /** The central database and the shard groups' (see @cbdc/db/topology). */
  topology?: Topology;
  /** Instead of `topology`: one database holding everything (the default deployment). */
  sql?: Sql;
  /** Fail-fast Redis connection for request nonces. */
  redis: RedisConnection;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  queuePrefix: string;
  /** This environment's id, signed into every request (CBDC_AUDIENCE). */
  audience?: string;
  /** The gateway's registry key (server.ts: registrySignerOfAttestationKey). */
  registrySigner: Signer;
  /** Webhooks: the delivery service's sealing public key (WEBHOOK_SEALING_PUBLIC_KEY; absent: endpoints cannot be created) and hosts allowed over http and at private addresses. */
  webhooks?: { sealingPublicKey: Buffer | null; allowedHosts: readonly string[] };
  now?: () => number;
  logger?: FastifyServerOptions['logger'];
  /** Tests: check every answer against the contract and report each breach (@cbdc/http/response-contract). */
  onContractViolation?: (violation: ContractViolation) => void;
}

/** The customer signatures a request asks the gateway to verify: one per transfer it carries, counted before validation. */
function transfersToVerify(req: FastifyRequest): number {
  if (req.method !== 'POST') return 0;
  const transfers = (req.body as { transfers?: unknown } | undefined)?.transfers;
  if (Array.isArray(transfers)) return transfers.length;
  return req.routeOptions.url === '/v1/transfers' || req.routeOptions.url === '/v1/redemptions' || req.routeOptions.url === '/v1/holds' ? 1 : 0;
}

export async function buildGatewayApp(deps: GatewayDeps) {
  const now = deps.now ?? Date.now;
  const app = await buildBaseApp({
    title: 'CBDC wallet gateway',
    description: `The commercial banks' API: wallets, fundings, redemptions and customer-signed transfers, their outcomes, history and receipts. A bank sees and acts on its own wallets only: another bank's wallet is indistinguishable from one that does not exist (404).\n\n${SIGNING_DESCRIPTION}`,
    tags: [
      { name: 'wallets', description: "Open, read, list, freeze, unfreeze and close customer wallets; change a wallet's tier or key; a wallet's history" },
      { name: 'transfers', description: 'Customer-signed transfers, redemptions and fundings; outcomes, receipts and shard keys' },
      { name: 'holds', description: 'Customer-signed holds: place, read, capture, void; their receipts' },
      { name: 'payment requests', description: "A payee's request for a payment: create, read, cancel; the transfer that pays it names it" },
      { name: 'events', description: "The bank's events feed: every change it cares about, in order per shard" },
      { name: 'webhooks', description: 'Webhook endpoints: register, read, change, delete, test; their deliveries' },
      { name: 'reconciliation', description: "A bank's entries by settlement time; the treasury's end-of-day statement (JSON, camt.053)" },
    ],
    servers: [{ url: 'http://localhost:4100', description: 'A gateway on a development machine (`npm start`; PORT)' }],
    bodyBytesMax: deps.limits.bodyBytesMax,
    logger: deps.logger,
    onContractViolation: deps.onContractViolation,
  });

  const topology = deps.topology ?? (deps.sql ? singleDatabaseTopology(deps.sql, deps.shardCount) : null);
  if (!topology) throw new Error('buildGatewayApp: pass the topology (or one database as sql)');
  const sql = topology.central;
  const ledger = new Ledger(topology, deps.shardCount);
  app.addHook('onClose', async () => ledger.stop());
  const bankKeys = new LRUCache<string, { key: Buffer | null }>({ max: 10_000, ttl: 30_000 });
  const durableNonces = new DurableNonceClaims(sql, now);
  installSignedAuth(app, {
    audience: deps.audience ?? DEFAULT_AUDIENCE,
    clockSkewMs: deps.limits.requestClockSkewMs,
    now,
    async lookupKey(bankId) {
      const cached = bankKeys.get(bankId);
      if (cached) return cached.key;
      const [row] = await sql<{ public_key: Buffer }[]>`select public_key from banks where id = ${bankId}`;
      const entry = { key: row ? row.public_key : null };
      bankKeys.set(bankId, entry);
      return entry.key;
    },
    async claimNonce(bankId, nonce, ttlMs) {
      return (await deps.redis.set(`${deps.queuePrefix}:request-nonce:bank:${bankId}:${nonce}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
    async claimNonceDurably(bankId, nonce, ttlMs) {
      // While the central database takes no writes, answer 503 at once rather than wait for a connection.
      if (!ledger.central.writable) throw new ApiError('dependency_unavailable', 'the central database is not accepting writes; nothing was done', { headers: { 'retry-after': '1' } });
      return durableNonces.claim('gateway/bank', bankId, nonce, ttlMs);
    },
  });
  // Keys live with the rows they guard, in the shard groups' databases; the nonces in the central one.
  const idempotency = new IdempotencyKeys({
    sql,
    databases: ledger.databases.map((db) => db.sql),
    scope: { service: 'gateway', principalKind: 'bank' },
    retentionMs: deps.limits.idempotencyKeyRetentionMs,
    leaseMs: deps.limits.idempotencyLeaseMs,
    now,
  });
  installExpiredRowsPruner(app, { sql, idempotency, now, intervalMs: deps.limits.expiredRowsPruneIntervalMs, rowsMax: deps.limits.expiredRowsPrunedPerRunMax });

  // One bank flooding the gateways is limited alone, before its requests cost verification;
  // others keep their own budget. The counters live in Redis, shared by every gateway process.
  installRateLimits(app, {
    redis: deps.redis,
    prefix: `${deps.queuePrefix}-gateway`,
    windowMs: deps.limits.rateLimitWindowMs,
    keyRequestsMax: deps.limits.bankRequestsPerSecondMax,
    ipFailuresMax: deps.limits.clientIpAuthFailuresPerSecondMax,
    work: { of: transfersToVerify, max: deps.limits.bankTransfersPerSecondMax, field: 'body/transfers', rule: 'transfers_per_window' },
  });

  const walletFacts = new WalletFactsCache((ids) => walletFactsAcross(ledger, ids), { ttlMs: deps.limits.walletFactsTtlMs, capacity: deps.limits.walletFactsHeldMax, now });
  const ctx: GatewayContext = {
    sql,
    ledger,
    settlement: deps.settlement,
    shardCount: deps.shardCount,
    limits: deps.limits,
    now,
    walletFacts,
    idempotency,
    registry: { role: 'gateway', signer: deps.registrySigner },
    webhooks: {
      sealingPublicKey: deps.webhooks?.sealingPublicKey ?? null,
      urlPolicy: { allowedHosts: new Set((deps.webhooks?.allowedHosts ?? []).map((h) => h.toLowerCase())), urlBytesMax: deps.limits.webhookUrlBytesMax },
    },
  };
  await app.register(async (scoped) => {
    await walletRoutes(scoped, ctx);
    await walletLifecycleRoutes(scoped, ctx);
    await transferRoutes(scoped, ctx);
    await holdRoutes(scoped, ctx);
    await paymentRequestRoutes(scoped, ctx);
    await eventRoutes(scoped, ctx);
    await webhookRoutes(scoped, ctx);
    await reconciliationRoutes(scoped, ctx);
  });
  return app;
}
