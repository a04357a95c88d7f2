/** What the gateway's routes share: the database, the settlement client, the limits and the clock. */
import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Sql } from '@cbdc/db/connect';
import type { Limits } from '@cbdc/shared/limits';
import type { SettlementClient } from './transfers/settlement-client.js';

export interface GatewayContext {
  sql: Sql;
  settlement: SettlementClient;
  shardCount: number;
  limits: Limits;
  now: () => number;
  /** Customer public keys as node:crypto KeyObjects; building one costs as much as a verify. */
  customerKeys: LRUCache<string, KeyObject>;
}

export function newCustomerKeyCache(): LRUCache<string, KeyObject> {
  return new LRUCache<string, KeyObject>({ max: 200_000 });
}
