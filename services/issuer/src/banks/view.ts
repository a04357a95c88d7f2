/** Reading banks with their reserve position (central) and treasury balance (the treasury's group). */
import type { BankWire } from '../schemas.js';
import type { Sql } from '@cbdc/db/connect';
import { treasuryBalances } from '@cbdc/db/issuance-legs';
import type { IssuerContext } from '../context.js';

export interface BankRow {
  id: string;
  name: string;
  public_key: Buffer;
  treasury_wallet_id: string;
  created_at: Date;
  free_minor: bigint;
  minted_minor: bigint;
  retired_minor: bigint;
  treasury_balance_minor: bigint;
}

export function bankView(b: BankRow): BankWire {
  return {
    id: b.id,
    name: b.name,
    publicKey: b.public_key.toString('hex'),
    treasuryWalletId: b.treasury_wallet_id,
    freeReserveMinor: b.free_minor.toString(),
    mintedMinor: b.minted_minor.toString(),
    retiredMinor: b.retired_minor.toString(),
    treasuryBalanceMinor: b.treasury_balance_minor.toString(),
    createdAt: b.created_at.toISOString(),
  };
}

/**
 * Every bank, or one; `sql` may be a central transaction, which then sees its own writes. The
 * treasury balances are read from the groups as committed (a treasury not yet created reads 0).
 */
export async function loadBanks(sql: Sql, ctx: Pick<IssuerContext, 'topology' | 'shardCount'>, id?: string): Promise<BankRow[]> {
  const banks = await sql<Omit<BankRow, 'treasury_balance_minor'>[]>`
    select b.id, b.name, b.public_key, b.treasury_wallet_id, b.created_at, r.free_minor, r.minted_minor, r.retired_minor
    from banks b join bank_reserves r on r.bank_id = b.id
    ${id ? sql`where b.id = ${id}` : sql``} order by b.id`;
  const balances = await treasuryBalances(
    ctx.topology,
    ctx.shardCount,
    banks.map((b) => b.id),
  );
  return banks.map((b) => ({ ...b, treasury_balance_minor: balances.get(b.treasury_wallet_id) ?? 0n }));
}
