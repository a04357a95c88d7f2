/**
 * Registry events for rows written directly rather than through the services: the load-test
 * fixture and the model test seed operators, banks, reserve entries and wallets in bulk, and
 * record them here, signed by the issuer key (the root of trust, which may attest facts on its
 * own), so that their audits replay them like any other. Services never call these.
 */
import type { Signer } from '@cbdc/shared/crypto';
import { bankChainOf, CENTRAL_CHAIN, walletOpenedFacts, walletStatusFacts } from '@cbdc/shared/registry';
import type { Sql } from './connect.js';
import { appendRegistryEvents, type NewRegistryEvent } from './registry.js';

const system = { actorKind: 'system', actorId: 'seed', authority: null } as const;

/** Records operators registered directly. */
export async function recordSeededOperators(tx: Sql, issuer: Signer, operators: Array<{ id: string; name: string; publicKey: Buffer }>, nowMs = Date.now()): Promise<void> {
  await appendRegistryEvents(
    tx,
    { role: 'issuer', signer: issuer },
    operators.map((o) => ({ ...system, chain: CENTRAL_CHAIN, kind: 'operator_registered', subject: o.id, facts: { name: o.name, publicKey: o.publicKey.toString('hex') }, timeMs: nowMs })),
  );
}

/** Records a bank (and its treasury wallet) onboarded directly by `operatorId`. */
export async function recordSeededBank(tx: Sql, issuer: Signer, bank: { id: string; name: string; publicKey: Buffer; treasuryWalletId: string; treasuryShard: number; operatorId: string }, nowMs = Date.now()): Promise<void> {
  await appendRegistryEvents(tx, { role: 'issuer', signer: issuer }, [
    {
      chain: CENTRAL_CHAIN,
      kind: 'bank_onboarded',
      subject: bank.id,
      actorKind: 'operator',
      actorId: bank.operatorId,
      authority: null,
      timeMs: nowMs,
      facts: { name: bank.name, publicKey: bank.publicKey.toString('hex'), treasuryWalletId: bank.treasuryWalletId, treasuryShard: String(bank.treasuryShard) },
    },
  ]);
}

/** Records a reserve entry inserted directly (its row id, as stored). */
export async function recordSeededReserveEntry(
  tx: Sql,
  issuer: Signer,
  entry: { id: bigint | string; bankId: string; kind: 'deposit' | 'withdrawal'; amountMinor: bigint; reference: string; operatorId: string },
  nowMs = Date.now(),
): Promise<void> {
  await appendRegistryEvents(tx, { role: 'issuer', signer: issuer }, [
    {
      chain: CENTRAL_CHAIN,
      kind: 'reserve_entry',
      subject: entry.bankId,
      actorKind: 'operator',
      actorId: entry.operatorId,
      authority: null,
      timeMs: nowMs,
      facts: { entryId: String(entry.id), kind: entry.kind, amountMinor: entry.amountMinor.toString(), reference: entry.reference },
    },
  ]);
}

export interface SeededWallet {
  id: string;
  tier: string;
  publicKey: Buffer;
  customerRef: string | null;
  shard: number;
}

/**
 * Records customer wallets of one bank inserted directly, in bulk, in their shards' chains. `tx`
 * must be the database of every shard named (one shard group's).
 */
export async function recordSeededWallets(tx: Sql, issuer: Signer, bankId: string, wallets: readonly SeededWallet[], nowMs = Date.now()): Promise<void> {
  for (const shard of new Set(wallets.map((w) => w.shard)))
    await appendRegistryEvents(
      tx,
      { role: 'issuer', signer: issuer },
      seededOpenings(
        bankId,
        wallets.filter((w) => w.shard === shard),
        nowMs,
      ),
    );
}

function seededOpenings(bankId: string, wallets: readonly SeededWallet[], nowMs: number): NewRegistryEvent[] {
  return wallets.map((w) => ({
    ...system,
    chain: bankChainOf(bankId, w.shard),
    kind: 'wallet_opened',
    subject: w.id,
    timeMs: nowMs,
    facts: walletOpenedFacts({ bankId, kind: 'customer', tier: w.tier, publicKey: w.publicKey, customerRef: w.customerRef, shard: w.shard }),
  }));
}

/** Records a central-bank status change made directly. */
export async function recordSeededStatus(tx: Sql, issuer: Signer, bankId: string, walletId: string, shard: number, status: 'active' | 'frozen' | 'closed', nowMs = Date.now()): Promise<void> {
  await appendRegistryEvents(tx, { role: 'issuer', signer: issuer }, [{ ...system, chain: bankChainOf(bankId, shard), kind: 'wallet_status_changed', subject: walletId, facts: walletStatusFacts(status, 'central'), timeMs: nowMs }]);
}
