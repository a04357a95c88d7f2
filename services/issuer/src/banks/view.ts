/** Reading banks with their reserve position and treasury balance. */
import type { Sql } from '@cbdc/db/connect';

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

export function bankView(b: BankRow) {
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

/** Every bank, or one; `sql` may be a transaction, which then sees its own writes. */
export async function loadBanks(sql: Sql, id?: string): Promise<BankRow[]> {
  return sql<BankRow[]>`
    select b.id, b.name, b.public_key, b.treasury_wallet_id, b.created_at, r.free_minor, r.minted_minor, r.retired_minor, w.balance_minor as treasury_balance_minor
    from banks b join bank_reserves r on r.bank_id = b.id join wallets w on w.id = b.treasury_wallet_id
    ${id ? sql`where b.id = ${id}` : sql``} order by b.id`;
}
