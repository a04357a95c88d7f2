/** Money in flight between shards: debited at the payer's shard, neither credited at the payee's nor refunded. */
import type { Sql } from './connect.js';

export async function moneyInFlightMinor(sql: Sql): Promise<bigint> {
  const [row] = await sql<{ minor: bigint }[]>`
    select coalesce(sum(t.amount_minor), 0)::bigint as minor from transfers t
    where t.leg_status = 'debited'
      and not exists (select 1 from transfer_legs l where l.transfer_id = t.id and ((l.leg = 'credit' and l.status = 'applied') or l.leg = 'refund'))`;
  return row.minor;
}
