/**
 * Money in flight, and the supply report across every database. Between shards: debited at the
 * payer's shard, neither credited at the payee's nor refunded. Between the central database and a
 * group: a mint whose treasury leg is not yet applied, a retire whose treasury debit is applied
 * but whose chain entry is not yet appended (see issuance-legs.ts).
 */
import type { Queryable, Sql } from './connect.js';
import { centralIssuanceInFlight, groupMoney, ISSUANCE_STEP_LOCK } from './issuance-legs.js';
import type { Topology } from './topology.js';

/** Transfers in flight in one database that holds both sides of every transfer (one database). */
export async function moneyInFlightMinor(sql: Queryable): Promise<bigint> {
  const [row] = await sql<{ minor: bigint }[]>`
    select coalesce(sum(t.amount), 0)::bigint as minor from (
      select id, amount_minor as amount from transfers where leg_status = 'debited'
      union all select id, captured_minor from holds where capture_leg_status = 'debited'
    ) t
    where not exists (select 1 from transfer_legs l where l.transfer_id = t.id and ((l.leg = 'credit' and l.status = 'applied') or l.leg = 'refund'))`;
  return row.minor;
}

/**
 * Issuance in flight, given the central side's unfinished requests and the legs the groups hold
 * for them: mints sent whose leg no group applied, plus retires whose debit a group applied.
 */
export function issuanceInFlightMinor(central: Awaited<ReturnType<typeof centralIssuanceInFlight>>, appliedLegs: ReadonlySet<string>): bigint {
  let minor = 0n;
  for (const m of central.mintsSent) if (!appliedLegs.has(m.id)) minor += m.amount;
  for (const r of central.retiring) if (appliedLegs.has(r.id)) minor += r.amount;
  return minor;
}

/** The applied issuance legs, among `ids`, in one group's database. */
export async function appliedIssuanceLegs(q: Queryable, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q<{ request_id: string }[]>`select request_id from issuance_legs where request_id = any(${ids as string[]}) and status = 'applied'`;
  return rows.map((r) => r.request_id);
}

export interface GroupSupply {
  id: number;
  shards: readonly number[];
  walletBalancesMinor: bigint;
  /** Set aside by open holds. */
  heldMinor: bigint;
  transfersInFlightMinor: bigint;
}

export interface SupplyReport {
  supplyMinor: bigint;
  chainSeq: bigint;
  headHash: Buffer;
  issuerPublicKey: Buffer | null;
  freeReserveMinor: bigint;
  walletBalancesMinor: bigint;
  heldMinor: bigint;
  transfersInFlightMinor: bigint;
  issuanceInFlightMinor: bigint;
  groups: GroupSupply[];
}

/**
 * The supply, with the wallet balances and money in flight of every group, read while holding
 * the issuance-step lock shared (no mint or retire step commits meanwhile; transfers may, and the
 * per-group sums stay exact: see groupMoney).
 */
export async function supplyAcrossServers(topology: Pick<Topology, 'central' | 'groups'>): Promise<SupplyReport> {
  return topology.central.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock_shared(${ISSUANCE_STEP_LOCK.toString()}::bigint)`;
    const [head] = await tx<{ seq: bigint; hash: Buffer; supply_minor: bigint; public_key: Buffer | null; free: bigint }[]>`
      select seq, hash, supply_minor, public_key, (select coalesce(sum(free_minor), 0) from bank_reserves)::bigint as free from issuance_head`;
    const unfinished = await centralIssuanceInFlight(tx);
    const ids = [...unfinished.mintsSent, ...unfinished.retiring].map((r) => r.id);
    const groups: GroupSupply[] = [];
    const applied = new Set<string>();
    const seen = new Set<Sql>();
    for (const g of topology.groups) {
      if (seen.has(g.sql)) continue;
      seen.add(g.sql);
      const shards = topology.groups.filter((o) => o.sql === g.sql).flatMap((o) => o.shards);
      const q: Queryable = g.sql === topology.central ? tx : g.sql;
      const money = await groupMoney(q);
      groups.push({ id: g.id, shards, walletBalancesMinor: money.balancesMinor, heldMinor: money.heldMinor, transfersInFlightMinor: money.transfersInFlightMinor });
      for (const id of await appliedIssuanceLegs(q, ids)) applied.add(id);
    }
    return {
      supplyMinor: head.supply_minor,
      chainSeq: head.seq,
      headHash: head.hash,
      issuerPublicKey: head.public_key,
      freeReserveMinor: head.free,
      walletBalancesMinor: groups.reduce((s, g) => s + g.walletBalancesMinor, 0n),
      heldMinor: groups.reduce((s, g) => s + g.heldMinor, 0n),
      transfersInFlightMinor: groups.reduce((s, g) => s + g.transfersInFlightMinor, 0n),
      issuanceInFlightMinor: issuanceInFlightMinor(unfinished, applied),
      groups,
    };
  }) as Promise<SupplyReport>;
}
