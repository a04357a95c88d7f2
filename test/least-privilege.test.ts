/**
 * Least privilege: each service's Postgres role can write only what that service owns. A
 * compromised gateway host, holding the gateway's connection, cannot set a balance, write a
 * transfer row or a chain link, or change a wallet's key or owner; settlement cannot write the
 * issuance chain or a key; the issuer cannot write the settlement ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Sql } from '@cbdc/db/connect';
import { urlForService, type ServiceName } from '@cbdc/db/roles';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';

const REFUSED: Record<Exclude<ServiceName, 'auditor'> | 'auditor', string[]> = {
  gateway: [
    `update wallets set balance_minor = 1`,
    `update wallets set public_key = null`,
    `update wallets set bank_id = 'x', tier = 'II'`,
    `insert into transfers (id) values ('x')`,
    `update transfers set status = 'settled'`,
    `insert into settlement_batches (shard) values (0)`,
    `update shards set head_seq = 1`,
    `update issuance_head set supply_minor = 1`,
    `insert into operators (id) values ('x')`,
    `update banks set public_key = null`,
    `delete from transfers`,
    `insert into events (bank_id) values ('x')`,
    `delete from events`,
    `update webhook_cursors set seq = 1`,
  ],
  settlement: [
    `insert into issuance_chain (seq) values (1)`,
    `update issuance_head set supply_minor = 1`,
    `update wallets set public_key = null`,
    `update wallets set status = 'active'`,
    `update banks set public_key = null`,
    `insert into operators (id) values ('x')`,
    `update bank_reserves set free_minor = 1`,
    `delete from transfers`,
  ],
  issuer: [
    `insert into transfers (id) values ('x')`,
    `update transfers set status = 'settled'`,
    `insert into settlement_batches (shard) values (0)`,
    `update shards set head_seq = 1`,
    `update wallets set public_key = null`,
    `delete from issuance_chain`,
  ],
  webhooks: [
    `insert into events (bank_id) values ('x')`,
    `update events set type = 'transfer.settled'`,
    `update event_heads set seq = 1`,
    `insert into webhook_endpoints (id) values ('x')`,
    `update webhook_endpoints set url = 'https://evil.example'`,
    `update wallets set balance_minor = 1`,
    `insert into transfers (id) values ('x')`,
  ],
  auditor: [`update wallets set balance_minor = 1`, `insert into operators (id) values ('x')`, `delete from idempotency_keys`],
};

describe("each service's database role holds only the grants it needs", () => {
  let db: TestDatabase;
  const connections: Sql[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.end({ timeout: 5 })));
    await db?.drop();
  });

  for (const [service, statements] of Object.entries(REFUSED) as Array<[ServiceName, string[]]>) {
    it(`${service}: refused ${statements.length} writes it does not own`, async () => {
      const sql = connectPostgres(urlForService(db.url, service), { max: 1 });
      connections.push(sql);
      for (const statement of statements) {
        const error = await sql.unsafe(statement).then(
          () => null,
          (e: { code?: string }) => e,
        );
        expect(error?.code, statement).toBe('42501'); // insufficient_privilege
      }
      // And it can read (the audit, the gateway's views, settlement's prefetch).
      expect((await sql`select count(*)::int as n from wallets`)[0].n).toBe(0);
    });
  }
});
