/** What the gateway's routes share: the database, the settlement client, the limits and the clock. */
import type { Sql } from '@cbdc/db/connect';
import type { Limits } from '@cbdc/shared/limits';
import type { SettlementClient } from './transfers/settlement-client.js';

export interface GatewayContext {
  sql: Sql;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  now: () => number;
  /** Whether the ledger database takes writes now (see @cbdc/db/connect watchWritable). */
  ledgerWritable: () => boolean;
}
