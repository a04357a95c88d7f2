/** What the issuer's routes share. */
import type { Sql } from '@cbdc/db/connect';
import type { Signer } from '@cbdc/shared/crypto';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';

export interface IssuerContext {
  sql: Sql;
  signer: Signer;
  shardCount: number;
  dualControl: DualControlPolicy;
  now: () => number;
}
