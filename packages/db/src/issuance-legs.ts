/**
 * Issuance across servers: what the issuer and the audit share about the treasury side of a mint
 * or retire (see docs/architecture.md, "Issuance across servers").
 *
 * A bank's treasury wallet lives in the database of its shard's group; its bank, reserve account
 * and the issuance chain live in the central database. No transaction spans the two: a mint is
 * recorded centrally first and its treasury credit follows as a leg (`issuance_legs`, written in
 * the treasury's group under the shard lock, once per request); a retire's treasury debit is
 * applied (or refused) in the group first and its chain entry follows centrally.
 *
 * Every issuance step that commits (in either database) holds an exclusive advisory lock on the
 * central database for its transaction; the audit holds the same lock shared while it opens its
 * snapshots of the central database and of every group, so no step lands between them.
 */
import { shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import type { Queryable, Sql } from './connect.js';
import type { Topology } from './topology.js';

/** The advisory lock key of issuance steps ("CBDC" and 1). */
export const ISSUANCE_STEP_LOCK = 0x4342_4443_0000_0001n;

/** Takes the issuance-step lock for the rest of `tx` (a central transaction). */
export async function lockIssuanceSteps(tx: Queryable): Promise<void> {
  await tx`select pg_advisory_xact_lock(${ISSUANCE_STEP_LOCK.toString()}::bigint)`;
}

/** Where a bank's treasury wallet is: its id and shard. */
export function treasuryPlaceOf(bankId: string, shardCount: number): { walletId: string; shard: number } {
  const walletId = treasuryWalletId(bankId);
  return { walletId, shard: shardOf(walletId, shardCount) };
}

/**
 * Creates the treasury wallet row of each bank in its shard's group where it is missing
 * (insert … on conflict do nothing): after onboarding, at the issuer's start and before any
 * issuance leg. Returns how many rows it created.
 */
export async function ensureTreasuries(topology: Pick<Topology, 'groupOf'>, shardCount: number, bankIds: readonly string[]): Promise<number> {
  const byGroup = new Map<Sql, { ids: string[]; banks: string[]; shards: number[] }>();
  for (const bankId of bankIds) {
    const place = treasuryPlaceOf(bankId, shardCount);
    const sql = topology.groupOf(place.shard).sql;
    const rows = byGroup.get(sql) ?? { ids: [], banks: [], shards: [] };
    rows.ids.push(place.walletId);
    rows.banks.push(bankId);
    rows.shards.push(place.shard);
    byGroup.set(sql, rows);
  }
  let created = 0;
  for (const [sql, rows] of byGroup) {
    const inserted = await sql`
      insert into wallets (id, bank_id, shard, kind)
      select * from unnest(${rows.ids}::text[], ${rows.banks}::text[], ${rows.shards}::int[], array_fill('treasury'::text, array[${rows.ids.length}::int]))
      on conflict (id) do nothing returning id`;
    created += inserted.length;
  }
  return created;
}

/** Every bank's treasury, created where missing (the issuer's start and its recovery passes). */
export async function reconcileTreasuries(topology: Pick<Topology, 'central' | 'groupOf'>, shardCount: number): Promise<number> {
  const banks = await topology.central<{ id: string }[]>`select id from banks order by id`;
  return ensureTreasuries(
    topology,
    shardCount,
    banks.map((b) => b.id),
  );
}

/** Treasury balances by wallet id, read from each wallet's group (a missing row reads as absent). */
export async function treasuryBalances(topology: Pick<Topology, 'groupOf'>, shardCount: number, bankIds: readonly string[]): Promise<Map<string, bigint>> {
  const byGroup = new Map<Sql, string[]>();
  for (const bankId of bankIds) {
    const place = treasuryPlaceOf(bankId, shardCount);
    const sql = topology.groupOf(place.shard).sql;
    byGroup.set(sql, [...(byGroup.get(sql) ?? []), place.walletId]);
  }
  const out = new Map<string, bigint>();
  for (const [sql, ids] of byGroup) {
    const rows = await sql<{ id: string; balance_minor: bigint }[]>`select id, balance_minor from wallets where id = any(${ids})`;
    for (const r of rows) out.set(r.id, r.balance_minor);
  }
  return out;
}

/**
 * One group's share of the conservation law, from its own rows: wallet balances, and transfers in
 * flight as debited - credited - refunded over its legs (a debit is recorded at the payer's group,
 * its credit at the payee's, its refund at the payer's). Each group's balances move with its own
 * legs in the same transaction, so the sum over groups is exact even when the groups are read at
 * slightly different moments.
 */
export async function groupMoney(q: Queryable): Promise<{ balancesMinor: bigint; heldMinor: bigint; transfersInFlightMinor: bigint; mintLegsMinor: bigint; retireLegsMinor: bigint }> {
  // Money in flight between shards: debited by transfers and by captures of holds whose payee is on
  // another shard (their credits and refunds are legs too), less what was credited or refunded.
  const [row] = await q<{ balances: bigint; held: bigint; debited: bigint; credited: bigint; refunded: bigint; minted: bigint; retired: bigint }[]>`
    select (select coalesce(sum(balance_minor), 0) from wallets)::bigint as balances,
           (select coalesce(sum(held_minor), 0) from wallets)::bigint as held,
           ((select coalesce(sum(amount_minor), 0) from transfers where leg_status = 'debited')
             + (select coalesce(sum(captured_minor), 0) from holds where capture_leg_status = 'debited'))::bigint as debited,
           (select coalesce(sum(amount_minor), 0) from transfer_legs where leg = 'credit' and status = 'applied')::bigint as credited,
           (select coalesce(sum(amount_minor), 0) from transfer_legs where leg = 'refund')::bigint as refunded,
           (select coalesce(sum(amount_minor), 0) from issuance_legs where kind = 'mint' and status = 'applied')::bigint as minted,
           (select coalesce(sum(amount_minor), 0) from issuance_legs where kind = 'retire' and status = 'applied')::bigint as retired`;
  return { balancesMinor: row.balances, heldMinor: row.held, transfersInFlightMinor: row.debited - row.credited - row.refunded, mintLegsMinor: row.minted, retireLegsMinor: row.retired };
}

/**
 * Issuance in flight between the central database and the groups, from the central side:
 * executed mints whose leg is not yet delivered, and retires whose treasury debit may be applied
 * but whose chain entry is not yet appended (the groups say which of those were debited).
 */
export async function centralIssuanceInFlight(central: Queryable): Promise<{ mintsSent: Array<{ id: string; amount: bigint }>; retiring: Array<{ id: string; amount: bigint }> }> {
  const rows = await central<{ id: string; kind: 'mint' | 'retire'; amount_minor: bigint }[]>`
    select id, kind, amount_minor from issuance_requests where leg_status = 'sent' or status = 'retiring'`;
  return {
    mintsSent: rows.filter((r) => r.kind === 'mint').map((r) => ({ id: r.id, amount: r.amount_minor })),
    retiring: rows.filter((r) => r.kind === 'retire').map((r) => ({ id: r.id, amount: r.amount_minor })),
  };
}
