/** What the gateway's routes share: the database, the settlement client, the limits and the clock. */
import type { Sql } from '@cbdc/db/connect';
import type { IdempotencyKeys } from '@cbdc/http/idempotency';
import type { RegistrySigner } from '@cbdc/db/registry';
import type { Limits } from '@cbdc/shared/limits';
import type { SettlementClient } from './transfers/settlement-client.js';
import type { WalletFactsCache } from './wallets/facts-cache.js';

export interface GatewayContext {
  sql: Sql;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  now: () => number;
  /** Owner, kind, shard, key and status of wallets, cached (see WalletFactsCache). */
  walletFacts: WalletFactsCache;
  /** Whether the ledger database takes writes now (see @cbdc/db/connect watchWritable). */
  ledgerWritable: () => boolean;
  /** Idempotency-Key claims, scoped gateway/bank/<id>. */
  idempotency: IdempotencyKeys;
  /** Signs the registry events of wallet openings and status changes (see docs/registry.md). */
  registry: RegistrySigner;
}
