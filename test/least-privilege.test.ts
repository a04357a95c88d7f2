/**
 * Least privilege: each service's Postgres role can write only what that service owns. A
 * compromised gateway host, holding the gateway's connection, cannot set a balance, write a
 * transfer row or a settlement link, move a wallet to another bank, or tell a bank that money
 * moved (row-level security lets it insert only the wallet events it causes); a tier or key it
 * changes without the bank's signed request is named by the audit (docs/registry.md). Settlement
 * cannot write the issuance chain or a key; the issuer cannot write the settlement ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Sql } from '@cbdc/db/connect';
import { urlForService, type ServiceName } from '@cbdc/db/roles';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';

const REFUSED: Record<Exclude<ServiceName, 'auditor'> | 'auditor', string[]> = {
  gateway: [
    `update wallets set balance_minor = 1`,
    `update wallets set bank_id = 'x'`,
    `update wallets set customer_ref = 'x', kind = 'treasury', shard = 1`,
    `update wallets set daily_spent_minor = 0, in_flight_out_minor = 0`,
    `insert into transfers (id) values ('x')`,
    `update transfers set status = 'settled'`,
    `insert into settlement_batches (shard) values (0)`,
    `update shards set head_seq = 1`,
    `update issuance_head set supply_minor = 1`,
    `insert into operators (id) values ('x')`,
    `update banks set public_key = null`,
    `delete from transfers`,
    // Outcomes come from settlement only: the gateway cannot tell a bank that money arrived.
    `insert into events (bank_id, shard, seq, type, subject_id, wallet_id, amount_minor, at_ms) values ('bank-a', 0, 1, 'payment.received', 't', 'w', 100, 0)`,
    `insert into events (bank_id, shard, seq, type, subject_id, at_ms) values ('bank-a', 0, 1, 'transfer.settled', 't', 0)`,
    `update events set type = 'payment.received'`,
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

  it('the gateway inserts the wallet events it causes, and settlement any event', async () => {
    const gateway = connectPostgres(urlForService(db.url, 'gateway'), { max: 1 });
    const settlement = connectPostgres(urlForService(db.url, 'settlement'), { max: 1 });
    connections.push(gateway, settlement);
    await gateway`insert into events (bank_id, shard, seq, type, subject_id, wallet_id, data, at_ms) values ('bank-a', 0, 1, 'wallet.tier_changed', 'w_1', 'w_1', ${gateway.json({ tier: 'III' })}, 0)`;
    await gateway`insert into events (bank_id, shard, seq, type, subject_id, wallet_id, at_ms) values ('bank-a', 0, 2, 'wallet.key_replaced', 'w_1', 'w_1', 0)`;
    await settlement`insert into events (bank_id, shard, seq, type, subject_id, wallet_id, amount_minor, at_ms) values ('bank-a', 0, 3, 'payment.received', 't', 'w_1', 100, 0)`;
    // Every role reads them all (the feed, the audit).
    expect((await gateway`select type from events order by seq`).map((e) => e.type)).toEqual(['wallet.tier_changed', 'wallet.key_replaced', 'payment.received']);
    await db.sql`delete from events`;
  });
});
