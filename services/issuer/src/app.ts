/** Builds the issuer's admin API: operator authentication, then banks, reserves, issuance, wallet controls. */
import type { Redis } from 'ioredis';
import type { FastifyServerOptions } from 'fastify';
import type { Sql } from '@cbdc/db/connect';
import { buildBaseApp } from '@cbdc/http/base-app';
import { installSignedAuth } from '@cbdc/http/signed-auth';
import type { Signer } from '@cbdc/shared/crypto';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';
import { LIMITS } from '@cbdc/shared/limits';
import { approvalRoutes } from './approvals/routes.js';
import { bankRoutes } from './banks/routes.js';
import type { IssuerContext } from './context.js';
import { issuanceRoutes } from './issuance/routes.js';
import { operatorRoutes } from './operators/routes.js';
import { reserveRoutes } from './reserves/routes.js';
import { walletControlRoutes } from './wallet-controls.js';

export interface IssuerDeps {
  sql: Sql;
  redis: Redis;
  signer: Signer;
  shardCount: number;
  dualControl: DualControlPolicy;
  queuePrefix: string;
  now?: () => number;
  logger?: FastifyServerOptions['logger'];
}

export async function buildIssuerApp(deps: IssuerDeps) {
  const now = deps.now ?? Date.now;
  const app = await buildBaseApp({
    title: 'CBDC issuer (central bank admin API)',
    description: 'Banks, reserve accounts, mint and retire with dual control, supply. Every request is signed with an operator\'s Ed25519 key.',
    bodyBytesMax: 64 * 1024,
    logger: deps.logger,
  });
  installSignedAuth(app, {
    clockSkewMs: LIMITS.requestClockSkewMs,
    now,
    async lookupKey(operatorId) {
      const [row] = await deps.sql<{ public_key: Buffer }[]>`select public_key from operators where id = ${operatorId}`;
      return row ? row.public_key : null;
    },
    async claimNonce(operatorId, nonce, ttlMs) {
      return (await deps.redis.set(`${deps.queuePrefix}:request-nonce:operator:${operatorId}:${nonce}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  });
  app.get('/v1/issuer-key', { config: { public: true }, schema: { tags: ['issuance'], summary: 'The issuer\'s public key, for verifying the issuance chain' } }, async () => ({ publicKey: deps.signer.publicKey.toString('hex') }));

  const ctx: IssuerContext = { sql: deps.sql, signer: deps.signer, shardCount: deps.shardCount, dualControl: deps.dualControl, now };
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

/** Registers operators named in configuration if they are not there yet. */
export async function bootstrapOperators(sql: Sql, operators: Array<{ id: string; publicKey: Buffer }>): Promise<void> {
  for (const o of operators) await sql`insert into operators (id, name, public_key) values (${o.id}, ${o.id}, ${o.publicKey}) on conflict (id) do nothing`;
}
