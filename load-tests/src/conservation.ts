/**
 * Conservation across servers, checked from the outside: the wallets of every shard-group database
 * (balances and money held by open holds) plus the money in flight between shards equal the central issuance head's supply (all mints
 * minus all retirements). Money in flight is computed across databases: a transfer debited at the
 * payer's shard (its row in the payer's group) that no applied credit leg (in the payee's group)
 * and no refund leg (in the payer's group) has closed. Read after the system has drained; the
 * databases are read one after another, so a read under load would not be one consistent point.
 */
import type { Sql } from '@cbdc/db/connect';

export interface Conservation {
  ok: boolean;
  supplyMinor: bigint;
  walletBalancesMinor: bigint;
  heldMinor: bigint;
  inFlightMinor: bigint;
  negativeBalances: number;
}

export async function checkConservation(central: Sql, ledgers: readonly { sql: Sql }[]): Promise<Conservation> {
  const [head] = await central<{ supply: bigint }[]>`select supply_minor as supply from issuance_head`;
  let balances = 0n;
  let held = 0n;
  let negative = 0;
  const debited = new Map<string, bigint>();
  const closed = new Set<string>();
  for (const { sql } of ledgers) {
    const [sums] = await sql<{ balances: bigint | null; held: bigint | null; negative: number }[]>`
      select sum(balance_minor)::bigint as balances, sum(held_minor)::bigint as held, count(*) filter (where balance_minor < 0 or in_flight_out_minor < 0 or held_minor < 0)::int as negative from wallets`;
    balances += sums.balances ?? 0n;
    held += sums.held ?? 0n;
    negative += sums.negative;
    for (const row of await sql<{ id: string; amount: bigint }[]>`select id, amount_minor as amount from transfers where leg_status = 'debited'`) debited.set(row.id, row.amount);
    // Captured holds whose money went to another shard travel as credits under the hold's id.
    for (const row of await sql<{ id: string; amount: bigint }[]>`select id, captured_minor as amount from holds where capture_leg_status = 'debited'`) debited.set(row.id, row.amount);
    for (const row of await sql<{ id: string }[]>`select transfer_id as id from transfer_legs where (leg = 'credit' and status = 'applied') or leg = 'refund'`) closed.add(row.id);
  }
  let inFlight = 0n;
  for (const [id, amount] of debited) if (!closed.has(id)) inFlight += amount;
  return { ok: negative === 0 && balances + held + inFlight === head.supply, supplyMinor: head.supply, walletBalancesMinor: balances, heldMinor: held, inFlightMinor: inFlight, negativeBalances: negative };
}
