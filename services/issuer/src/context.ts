/** What the issuer's routes share. */
import type { Sql } from '@cbdc/db/connect';
import type { IdempotencyKeys } from '@cbdc/http/idempotency';
import type { RegistrySigner } from '@cbdc/db/registry';
import type { Signer } from '@cbdc/shared/crypto';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';

export interface IssuerContext {
  sql: Sql;
  signer: Signer;
  shardCount: number;
  dualControl: DualControlPolicy;
  now: () => number;
  /** Idempotency-Key claims, scoped issuer/operator/<id>. */
  idempotency: IdempotencyKeys;
}

/** The issuer signs its registry events with the issuer key. */
export function issuerRegistrySigner(ctx: IssuerContext): RegistrySigner {
  return { role: 'issuer', signer: ctx.signer };
}
