/** What the gateway's routes share: the databases, the settlement client, the limits and the clock. */
import type { Sql } from '@cbdc/db/connect';
import type { IdempotencyKeys } from '@cbdc/http/idempotency';
import type { RegistrySigner } from '@cbdc/db/registry';
import type { Limits } from '@cbdc/shared/limits';
import type { Ledger } from './ledger.js';
import type { SettlementClient } from './transfers/settlement-client.js';
import type { WalletFactsCache } from './wallets/facts-cache.js';
import type { GatewayWebhooks } from './webhooks/routes.js';

export interface GatewayContext {
  /** The central database: banks and their keys, request nonces. */
  sql: Sql;
  /** The shard-group databases, where every wallet and transfer row is read and written by its shard. */
  ledger: Ledger;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  now: () => number;
  /** Owner, kind, shard, key and status of wallets, cached (see WalletFactsCache). */
  walletFacts: WalletFactsCache;
  /** Idempotency-Key claims, scoped gateway/bank/<id>, each in the database of the rows it guards. */
  idempotency: IdempotencyKeys;
  /** Signs the registry events of wallet openings and status changes (see docs/registry.md). */
  registry: RegistrySigner;
  /** Webhook endpoints: the delivery service's sealing key for their secrets, and the URL rule. */
  webhooks: GatewayWebhooks;
}
