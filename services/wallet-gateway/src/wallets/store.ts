/**
 * Wallet reads and writes. Every query that a bank can reach is scoped by that bank's id; each runs
 * on the shard-group database of the wallets it reads (see ../ledger.ts).
 */
import type { Sql } from '@cbdc/db/connect';
import { freezesView, type WalletFreezeColumns } from '@cbdc/db/wallet-freezes';
import { dayOf } from '@cbdc/shared/ledger';
import { limitsOf, type Tier } from '@cbdc/shared/tiers';
import type { Ledger } from '../ledger.js';
import type { Wallet } from './schemas.js';

export interface WalletRow extends WalletFreezeColumns {
  id: string;
  bank_id: string;
  shard: number;
  kind: 'customer' | 'treasury';
  tier: Tier | null;
  public_key: Buffer | null;
  customer_ref: string | null;
  status: 'active' | 'frozen' | 'closed';
  balance_minor: bigint;
  daily_spent_minor: bigint;
  daily_spent_day: number;
  in_flight_out_minor: bigint;
  held_minor: bigint;
  created_at: Date;
}

/** The wire form of a wallet. */
export function walletView(w: WalletRow, nowMs: number): Wallet {
  const limits = limitsOf(w.kind, w.tier);
  const str = (v: bigint | null) => (v === null ? null : v.toString());
  return {
    id: w.id,
    bankId: w.bank_id,
    kind: w.kind,
    tier: w.tier,
    status: w.status,
    /** Who froze it and why: the central bank's freeze and the bank's own, each or both. */
    freezes: freezesView(w, false),
    balanceMinor: w.balance_minor.toString(),
    inFlightOutMinor: w.in_flight_out_minor.toString(),
    /** Set aside by the wallet's open holds: not available, not gone (see docs/api.md, "Holds"). */
    heldMinor: w.held_minor.toString(),
    dailyOutflowMinor: (w.daily_spent_day === dayOf(nowMs) ? w.daily_spent_minor : 0n).toString(),
    limits: { balanceMaxMinor: str(limits.balanceMaxMinor), paymentMaxMinor: str(limits.paymentMaxMinor), dailyOutflowMaxMinor: str(limits.dailyOutflowMaxMinor) },
    publicKey: w.public_key ? w.public_key.toString('hex') : null,
    customerRef: w.customer_ref,
    shard: w.shard,
    createdAt: w.created_at.toISOString(),
  };
}

export async function getOwnWallet(sql: Sql, bankId: string, id: string): Promise<WalletRow | null> {
  const [row] = await sql<WalletRow[]>`select * from wallets where id = ${id} and bank_id = ${bankId}`;
  return row ?? null;
}

export async function listOwnWallets(sql: Sql, bankId: string, limit: number, after: string | null): Promise<WalletRow[]> {
  return sql<WalletRow[]>`
    select * from wallets where bank_id = ${bankId} ${after ? sql`and id > ${after}` : sql``}
    order by id limit ${limit}`;
}

/**
 * The first `limit` of a bank's wallets after `after` in id order, over every shard group: each
 * group's first `limit`, merged. Comparing ids as JavaScript strings agrees with each database's
 * `order by id`: one bank's ids are its treasury `t_<bank>` and `w_` followed by hex digits, which
 * sort the same under the C collation and the usual locale ones (that ignore the punctuation).
 */
export async function listOwnWalletsAcross(ledger: Ledger, bankId: string, limit: number, after: string | null): Promise<WalletRow[]> {
  const pages = await ledger.readAll((sql) => listOwnWallets(sql, bankId, limit, after));
  return pages
    .flat()
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, limit);
}

/** What the gateway needs to route and verify a transfer; immutable once a wallet exists, but for status and key. */
export interface WalletFacts {
  id: string;
  bankId: string;
  kind: 'customer' | 'treasury';
  status: WalletRow['status'];
  shard: number;
  publicKey: Buffer | null;
}

export async function walletFacts(sql: Sql, ids: string[]): Promise<Map<string, WalletFacts>> {
  const rows = await sql<WalletRow[]>`select id, bank_id, kind, status, shard, public_key from wallets where id = any(${ids})`;
  return new Map(rows.map((r) => [r.id, { id: r.id, bankId: r.bank_id, kind: r.kind, status: r.status, shard: r.shard, publicKey: r.public_key }]));
}

/** The facts of those of `ids` that exist, each read from its wallet's shard-group database (503 if one is down). */
export async function walletFactsAcross(ledger: Ledger, ids: string[]): Promise<Map<string, WalletFacts>> {
  const parts = await Promise.all([...ledger.byDatabase(ids, (id) => id)].map(([db, some]) => ledger.read(db, (sql) => walletFacts(sql, some))));
  return new Map(parts.flatMap((m) => [...m]));
}
