/** Builds the issuer's admin API: operator authentication, then banks, reserves, issuance, wallet controls. */
import type { RedisConnection } from '@cbdc/shared/redis';
import type { FastifyServerOptions } from 'fastify';
import type { Sql } from '@cbdc/db/connect';
import type { Topology } from '@cbdc/db/topology';
import { appendRegistryEvent, CENTRAL_CHAIN } from '@cbdc/db/registry';
import { buildBaseApp } from '@cbdc/http/base-app';
import { SIGNING_DESCRIPTION } from '@cbdc/http/openapi';
import type { ContractViolation } from '@cbdc/http/response-contract';
import { IdempotencyKeys } from '@cbdc/http/idempotency';
import { installExpiredRowsPruner } from '@cbdc/http/pruner';
import { DurableNonceClaims } from '@cbdc/http/request-nonces';
import { installRateLimits } from '@cbdc/http/rate-limit';
import { installSignedAuth } from '@cbdc/http/signed-auth';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { assertEd25519PublicKey, type Signer } from '@cbdc/shared/crypto';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';
import { LIMITS, type Limits } from '@cbdc/shared/limits';
import { approvalRoutes } from './approvals/routes.js';
import { bankRoutes } from './banks/routes.js';
import type { IssuerContext } from './context.js';
import { recoverIssuances, type IssuanceHooks } from './issuance/execute.js';
import { issuanceRoutes } from './issuance/routes.js';
import { operatorRoutes } from './operators/routes.js';
import { reserveRoutes } from './reserves/routes.js';
import { issuerKeySchema } from './schemas.js';
import { walletControlRoutes } from './wallet-controls.js';

export interface IssuerDeps {
  /** The central database and every shard group's (SHARD_DATABASES); as the issuer's role. */
  topology: Topology;
  redis: RedisConnection;
  signer: Signer;
  shardCount: number;
  dualControl: DualControlPolicy;
  queuePrefix: string;
  /** This environment's id, signed into every request (CBDC_AUDIENCE). */
  audience?: string;
  /** Bounds (idempotency retention, pruning); LIMITS by default. */
  limits?: Limits;
  now?: () => number;
  /** The clock of the treasury legs' times (mints and retires in the banks' statements); `now` if absent. Tests move it apart from the request clock. */
  ledgerNow?: () => number;
  logger?: FastifyServerOptions['logger'];
  /** Test hooks between the steps of a mint or retire. */
  issuanceHooks?: IssuanceHooks;
  /** Run the recovery pass of unfinished mints and retires (default true). */
  issuanceRecovery?: boolean;
  /** Tests: check every answer against the contract and report each breach (@cbdc/http/response-contract). */
  onContractViolation?: (violation: ContractViolation) => void;
}

export async function buildIssuerApp(deps: IssuerDeps) {
  const now = deps.now ?? Date.now;
  const limits = deps.limits ?? LIMITS;
  const app = await buildBaseApp({
    title: 'CBDC issuer (central bank admin API)',
    description: `The central bank's operators: banks, reserve accounts, mint and retire, wallet controls, operators. Every action that creates money or authority is under dual control: it executes at once within the limits, or waits (202) for a second, different operator's approval.\n\n${SIGNING_DESCRIPTION}`,
    tags: [
      { name: 'banks', description: 'Onboarding commercial banks and reading their positions' },
      { name: 'reserves', description: 'Reserve deposits and withdrawals, as RTGS reports them' },
      { name: 'issuance', description: 'Mint and retire, supply, and the issuer key that signs the issuance chain' },
      { name: 'approvals', description: 'Operator actions under dual control and their approval by a second operator' },
      { name: 'operators', description: 'Registering operators and changing their keys' },
      { name: 'wallets', description: "The central bank's freeze of any wallet" },
    ],
    servers: [{ url: 'http://localhost:4000', description: 'An issuer on a development machine (`npm start`; PORT)' }],
    bodyBytesMax: 64 * 1024,
    logger: deps.logger,
    onContractViolation: deps.onContractViolation,
  });
  const sql = deps.topology.central;
  const durableNonces = new DurableNonceClaims(sql, now);
  installSignedAuth(app, {
    audience: deps.audience ?? DEFAULT_AUDIENCE,
    clockSkewMs: limits.requestClockSkewMs,
    now,
    async lookupKey(operatorId) {
      const [row] = await sql<{ public_key: Buffer }[]>`select public_key from operators where id = ${operatorId}`;
      return row ? row.public_key : null;
    },
    async claimNonce(operatorId, nonce, ttlMs) {
      return (await deps.redis.set(`${deps.queuePrefix}:request-nonce:operator:${operatorId}:${nonce}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
    claimNonceDurably: (operatorId, nonce, ttlMs) => durableNonces.claim('issuer/operator', operatorId, nonce, ttlMs),
  });
  const idempotencyOf = (db: Sql) => new IdempotencyKeys({ sql: db, scope: { service: 'issuer', principalKind: 'operator' }, retentionMs: limits.idempotencyKeyRetentionMs, leaseMs: limits.idempotencyLeaseMs, now });
  const idempotency = idempotencyOf(sql);
  const groupKeys = new Map(deps.topology.groups.map((g) => [g.id, g.sql === sql ? idempotency : idempotencyOf(g.sql)]));
  installExpiredRowsPruner(app, { sql, idempotency, now, intervalMs: limits.expiredRowsPruneIntervalMs, rowsMax: limits.expiredRowsPrunedPerRunMax });
  for (const g of deps.topology.groups) {
    if (g.sql !== sql) installExpiredRowsPruner(app, { sql: g.sql, idempotency: groupKeys.get(g.id)!, now, intervalMs: limits.expiredRowsPruneIntervalMs, rowsMax: limits.expiredRowsPrunedPerRunMax });
  }
  // Operators are limited too, before their requests cost verification, shared through Redis.
  installRateLimits(app, {
    redis: deps.redis,
    prefix: `${deps.queuePrefix}-issuer`,
    windowMs: limits.rateLimitWindowMs,
    keyRequestsMax: limits.operatorRequestsPerSecondMax,
    ipFailuresMax: limits.clientIpAuthFailuresPerSecondMax,
  });
  app.get(
    '/v1/issuer-key',
    {
      config: { public: true },
      schema: {
        operationId: 'getIssuerKey',
        tags: ['issuance'],
        summary: "The issuer's public key, for verifying the issuance chain",
        description: 'Public: no signature needed. Pin it out of band to verify the chain offline.',
        response: { 200: issuerKeySchema },
      },
    },
    async () => ({ publicKey: deps.signer.publicKey.toString('hex') }),
  );

  const ctx: IssuerContext = {
    sql,
    topology: deps.topology,
    signer: deps.signer,
    shardCount: deps.shardCount,
    dualControl: deps.dualControl,
    now,
    ledgerNow: deps.ledgerNow,
    idempotency,
    idempotencyOfGroup: (id) => groupKeys.get(id)!,
    issuanceHooks: deps.issuanceHooks,
  };
  if (deps.issuanceRecovery !== false) installIssuanceRecovery(app, ctx, limits);
  await app.register(async (scoped) => {
    await bankRoutes(scoped, ctx);
    await reserveRoutes(scoped, ctx);
    await issuanceRoutes(scoped, ctx);
    await walletControlRoutes(scoped, ctx);
    await operatorRoutes(scoped, ctx);
    await approvalRoutes(scoped, ctx);
  });
  return app;
}

/**
 * Completes mints and retires left unfinished between the central database and a group (a crash,
 * a group unreachable for a while), and creates treasuries missing from their group: once when
 * the app is ready, then every `issuanceRecoveryIntervalMs`, at most `issuanceRecoveredPerPassMax`
 * requests a pass. A failed pass is logged; the next one tries again.
 */
function installIssuanceRecovery(app: Awaited<ReturnType<typeof buildBaseApp>>, ctx: IssuerContext, limits: Limits): void {
  let running: Promise<unknown> | null = null;
  const pass = () => {
    if (running) return;
    running = recoverIssuances(ctx, limits.issuanceRecoveredPerPassMax, (id, err) => app.log.warn({ err, issuance: id }, 'an unfinished issuance could not be completed yet'))
      .catch((err: unknown) => app.log.warn({ err }, 'the issuance recovery pass failed'))
      .finally(() => (running = null));
  };
  const timer = setInterval(pass, limits.issuanceRecoveryIntervalMs);
  timer.unref();
  app.addHook('onReady', async () => {
    pass();
    await running;
  });
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
}

/** Registers operators named in configuration if they are not there yet, each with its registry event signed by the issuer. */
export async function bootstrapOperators(sql: Sql, operators: Array<{ id: string; publicKey: Buffer }>, signer: Signer, nowMs = Date.now()): Promise<void> {
  for (const o of operators) assertEd25519PublicKey(`operator ${o.id}`, o.publicKey);
  for (const o of operators) {
    await sql.begin(async (tx) => {
      const inserted = await tx`insert into operators (id, name, public_key) values (${o.id}, ${o.id}, ${o.publicKey}) on conflict (id) do nothing returning id`;
      if (inserted.length === 0) return;
      await appendRegistryEvent(
        tx as never,
        { role: 'issuer', signer },
        {
          chain: CENTRAL_CHAIN,
          kind: 'operator_registered',
          subject: o.id,
          facts: { name: o.id, publicKey: o.publicKey.toString('hex') },
          actorKind: 'system',
          actorId: 'bootstrap',
          authority: null,
          timeMs: nowMs,
        },
      );
    });
  }
}
