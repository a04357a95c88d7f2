/** What the issuer's routes share. */
import type { Sql } from '@cbdc/db/connect';
import type { Topology } from '@cbdc/db/topology';
import type { IdempotencyKeys } from '@cbdc/http/idempotency';
import type { RegistrySigner } from '@cbdc/db/registry';
import type { Signer } from '@cbdc/shared/crypto';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';
import type { IssuanceHooks } from './issuance/execute.js';

export interface IssuerContext {
  /** The central database (`topology.central`): operators, banks, reserves, issuance, operator actions. */
  sql: Sql;
  /** Every database: the central one and each shard group's (treasury and customer wallets). */
  topology: Topology;
  signer: Signer;
  shardCount: number;
  dualControl: DualControlPolicy;
  now: () => number;
  /** The clock of the treasury legs' times (see IssuancePlaces); `now` if absent. */
  ledgerNow?: () => number;
  /** Idempotency-Key claims, scoped issuer/operator/<id>, in the central database. */
  idempotency: IdempotencyKeys;
  /** Idempotency-Key claims of wallet controls, kept in the wallet's group database with their effect. */
  idempotencyOfGroup: (groupId: number) => IdempotencyKeys;
  /** Test hooks between the steps of a mint or retire. */
  issuanceHooks?: IssuanceHooks;
}

/** The issuer signs its registry events with the issuer key. */
export function issuerRegistrySigner(ctx: IssuerContext): RegistrySigner {
  return { role: 'issuer', signer: ctx.signer };
}
