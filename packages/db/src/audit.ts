/**
 * The audit: recomputes, from the stored data alone, both hash chains with their signatures,
 * every batch's Merkle root, every customer signature and transfer id, every balance from its
 * history, and the conservation law. It reads one consistent snapshot and names the first entry
 * that does not verify in each check.
 *
 * Keys: pass the issuer's and shards' public keys from a trusted source (configuration, not this
 * database); someone able to rewrite the database could otherwise re-sign it with their own key.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { batchHeaderHash, GENESIS_HASH, issuanceEntryHash } from '@cbdc/shared/chains';
import { ed25519Verify } from '@cbdc/shared/crypto';
import { merkleRoot } from '@cbdc/shared/merkle';
import { limitsOf, type Tier } from '@cbdc/shared/tiers';
import type { Sql } from './connect.js';
import { moneyInFlightMinor } from './in-flight.js';
import { loadBatchLeaves, storedLeafHash } from './leaves.js';

export interface AuditFinding {
  check: 'issuance_chain' | 'settlement_chain' | 'transfer' | 'balance' | 'reserve' | 'conservation' | 'limits';
  /** What failed, e.g. "issuance entry 7", "shard 0 batch 12", "transfer 3fa2...", "wallet w_...". */
  subject: string;
  message: string;
}

export interface AuditReport {
  ok: boolean;
  findings: AuditFinding[];
  stats: { issuanceEntries: number; batches: number; transfers: number; wallets: number; supplyMinor: string; walletBalancesMinor: string; inFlightMinor: string; freeReserveMinor: string };
}

export interface AuditOptions {
  trustedIssuerPublicKey?: Buffer;
  trustedShardPublicKeys?: Map<number, Buffer>;
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Findings kept per check before the rest are counted only. */
  findingsPerCheckMax?: number;
}

const PAGE = 2000;

export async function audit(sql: Sql, options: AuditOptions = {}): Promise<AuditReport> {
  const findings: AuditFinding[] = [];
  const perCheck = new Map<string, number>();
  const cap = options.findingsPerCheckMax ?? 20;
  const find = (f: AuditFinding) => {
    const n = (perCheck.get(f.check) ?? 0) + 1;
    perCheck.set(f.check, n);
    if (n <= cap) findings.push(f);
  };
  const progress = options.onProgress ?? (() => {});

  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const [counts] = await tx<{ entries: number; batches: number; transfers: number; wallets: number }[]>`
      select (select count(*) from issuance_chain)::int as entries, (select count(*) from settlement_batches)::int as batches,
             (select count(*) from transfers)::int as transfers, (select count(*) from wallets)::int as wallets`;

    // 1. The issuance chain.
    const [head] = await tx<{ seq: bigint; hash: Buffer; supply_minor: bigint; public_key: Buffer | null }[]>`select seq, hash, supply_minor, public_key from issuance_head`;
    const issuerRaw = options.trustedIssuerPublicKey ?? head.public_key;
    if (options.trustedIssuerPublicKey && head.public_key && !head.public_key.equals(options.trustedIssuerPublicKey)) {
      find({ check: 'issuance_chain', subject: 'issuer key', message: 'the stored issuer public key is not the trusted one' });
    }
    const issuerKey = issuerRaw ?? null;
    let prevHash: Buffer = GENESIS_HASH;
    let expectedSeq = 1n;
    let supply = 0n;
    const mintedByBank = new Map<string, bigint>();
    const retiredByBank = new Map<string, bigint>();
    let done = 0;
    for (let after = 0n; ; ) {
      const rows = await tx<{ seq: bigint; prev_hash: Buffer; kind: 'mint' | 'retire'; bank_id: string; amount_minor: bigint; supply_after_minor: bigint; time_ms: bigint; hash: Buffer; signature: Buffer }[]>`
        select seq, prev_hash, kind, bank_id, amount_minor, supply_after_minor, time_ms, hash, signature from issuance_chain where seq > ${after.toString()} order by seq limit ${PAGE}`;
      if (rows.length === 0) break;
      for (const e of rows) {
        const subject = `issuance entry ${e.seq}`;
        if (e.seq !== expectedSeq) find({ check: 'issuance_chain', subject, message: `expected entry ${expectedSeq} here; an entry is missing or out of order` });
        if (!e.prev_hash.equals(prevHash)) find({ check: 'issuance_chain', subject, message: 'its previous hash is not the hash of the entry before it' });
        const entry = { seq: e.seq, prevHash: e.prev_hash, kind: e.kind, bankId: e.bank_id, amountMinor: e.amount_minor, supplyAfterMinor: e.supply_after_minor, timeMs: e.time_ms };
        const hash = issuanceEntryHash(entry);
        if (!hash.equals(e.hash)) find({ check: 'issuance_chain', subject, message: 'its content does not hash to its stored hash (the entry was altered)' });
        if (!issuerKey || !ed25519Verify(issuerKey, e.hash, e.signature)) find({ check: 'issuance_chain', subject, message: 'its issuer signature does not verify' });
        supply += e.kind === 'mint' ? e.amount_minor : -e.amount_minor;
        if (supply !== e.supply_after_minor) find({ check: 'issuance_chain', subject, message: `supply after is ${e.supply_after_minor}, but the entries so far give ${supply}` });
        const book = e.kind === 'mint' ? mintedByBank : retiredByBank;
        book.set(e.bank_id, (book.get(e.bank_id) ?? 0n) + e.amount_minor);
        prevHash = e.hash;
        expectedSeq = e.seq + 1n;
        after = e.seq;
      }
      done += rows.length;
      progress('issuance chain', done, counts.entries);
    }
    if (head.seq !== expectedSeq - 1n || !head.hash.equals(prevHash)) find({ check: 'issuance_chain', subject: 'issuance head', message: `the head (entry ${head.seq}) is not the last entry of the chain (${expectedSeq - 1n})` });
    if (head.supply_minor !== supply) find({ check: 'conservation', subject: 'issuance head', message: `recorded supply ${head.supply_minor} differs from the chain's ${supply}` });

    // 2. Settlement chains, Merkle roots, transfer ids and customer signatures.
    const keyRows = await tx<{ id: string; public_key: Buffer | null }[]>`select id, public_key from wallets where public_key is not null`;
    const walletKeyBytes = new Map(keyRows.map((r) => [r.id, r.public_key!]));
    const shards = await tx<{ shard: number; public_key: Buffer; head_seq: bigint; head_hash: Buffer }[]>`select shard, public_key, head_seq, head_hash from shards order by shard`;
    let batchesDone = 0;
    let transfersDone = 0;
    for (const s of shards) {
      const trusted = options.trustedShardPublicKeys?.get(s.shard);
      if (trusted && !trusted.equals(s.public_key)) find({ check: 'settlement_chain', subject: `shard ${s.shard} key`, message: 'the stored shard public key is not the trusted one' });
      const shardKey = trusted ?? s.public_key;
      let prev: Buffer = GENESIS_HASH;
      let expected = 1n;
      for (let after = 0n; ; ) {
        const batches = await tx<{ seq: bigint; prev_hash: Buffer; merkle_root: Buffer; transfer_count: number; time_ms: bigint; hash: Buffer; signature: Buffer }[]>`
          select seq, prev_hash, merkle_root, transfer_count, time_ms, hash, signature from settlement_batches where shard = ${s.shard} and seq > ${after.toString()} order by seq limit 200`;
        if (batches.length === 0) break;
        const last = batches[batches.length - 1].seq;
        const byBatch = await loadBatchLeaves(tx as never, s.shard, after, last);
        for (const b of batches) {
          const subject = `shard ${s.shard} batch ${b.seq}`;
          if (b.seq !== expected) find({ check: 'settlement_chain', subject, message: `expected batch ${expected} here; a batch is missing or out of order` });
          if (!b.prev_hash.equals(prev)) find({ check: 'settlement_chain', subject, message: 'its previous hash is not the hash of the batch before it' });
          const list = byBatch.get(b.seq) ?? [];
          const leaves = list.map((m, i) => {
            const ts = m.type === 'transfer' ? `transfer ${m.id}` : `${m.leg} leg of transfer ${m.transferId}`;
            if (m.leafIndex !== i) find({ check: 'settlement_chain', subject: ts, message: `leaf index ${m.leafIndex} where ${i} was expected in ${subject}` });
            if (m.type === 'transfer' && m.kind === 'transfer') {
              const bytes = encodeTransfer({ payerWalletId: m.payerWalletId, payeeWalletId: m.payeeWalletId, amountMinor: m.amountMinor, nonce: m.nonce ?? 0n, expiresAtMs: m.expiresAtMs ?? 0n, memo: m.memo });
              if (transferIdOf(bytes) !== m.id) find({ check: 'transfer', subject: ts, message: 'its stored content does not hash to its id (the row was altered)' });
              const key = walletKeyBytes.get(m.payerWalletId);
              if (!key || !m.signature || !ed25519Verify(key, bytes, m.signature)) find({ check: 'transfer', subject: ts, message: 'the payer\'s signature does not verify over its stored content' });
            }
            return storedLeafHash(m);
          });
          if (list.length !== b.transfer_count) find({ check: 'settlement_chain', subject, message: `it commits to ${b.transfer_count} transfers but ${list.length} are stored` });
          if (!merkleRoot(leaves).equals(b.merkle_root)) find({ check: 'settlement_chain', subject, message: 'the Merkle root of its stored transfers is not its recorded root (a transfer or outcome was altered)' });
          const hash = batchHeaderHash({ shard: s.shard, seq: b.seq, prevHash: b.prev_hash, merkleRoot: b.merkle_root, count: b.transfer_count, timeMs: b.time_ms });
          if (!hash.equals(b.hash)) find({ check: 'settlement_chain', subject, message: 'its header does not hash to its stored hash (the header was altered)' });
          if (!ed25519Verify(shardKey, b.hash, b.signature)) find({ check: 'settlement_chain', subject, message: 'its shard signature does not verify' });
          prev = b.hash;
          expected = b.seq + 1n;
          transfersDone += list.length;
        }
        after = last;
        batchesDone += batches.length;
        progress('settlement chains', batchesDone, counts.batches);
      }
      if (s.head_seq !== expected - 1n || !s.head_hash.equals(prev)) find({ check: 'settlement_chain', subject: `shard ${s.shard} head`, message: `the head (batch ${s.head_seq}) is not the last batch of the chain (${expected - 1n})` });
    }
    const [orphans] = await tx<{ n: number }[]>`
      select (select count(*) from transfers t where not exists (select 1 from settlement_batches b where b.shard = t.shard and b.seq = t.batch_seq))::int
           + (select count(*) from transfer_legs l where not exists (select 1 from settlement_batches b where b.shard = l.shard and b.seq = l.batch_seq))::int as n`;
    if (orphans.n > 0) find({ check: 'settlement_chain', subject: 'transfers', message: `${orphans.n} transfer or leg rows belong to no committed batch` });

    // Cross-shard transfers: the final status agrees with the legs.
    const inconsistent = await tx<{ id: string; status: string }[]>`
      select t.id, t.status from transfers t
      left join transfer_legs c on c.transfer_id = t.id and c.leg = 'credit'
      left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund'
      where (t.leg_status <> 'debited' and (c.transfer_id is not null or r.transfer_id is not null))
         or (t.leg_status = 'debited' and t.status = 'settled' and (c.status is distinct from 'applied' or r.transfer_id is not null))
         or (t.leg_status = 'debited' and t.status = 'rejected' and (c.status is distinct from 'rejected' or r.transfer_id is null or r.code is distinct from t.code))
         or (t.leg_status = 'debited' and t.status = 'in_flight' and r.transfer_id is not null)
      order by t.id limit 100`;
    for (const t of inconsistent) find({ check: 'transfer', subject: `transfer ${t.id}`, message: `its final status ${t.status} does not agree with its recorded legs` });

    // 3. Every balance from its history, and the tier caps.
    progress('balances', 0, counts.wallets);
    // Aggregate the history per wallet first, then join: one hash join, not a scan per wallet.
    const wrong = await tx<{ id: string; balance_minor: bigint; expected: bigint }[]>`
      with flows as (
        select payee_wallet_id as id, amount_minor as delta from transfers where leg_status = 'settled'
        union all select payer_wallet_id, -amount_minor from transfers where leg_status in ('settled', 'debited')
        union all select wallet_id, amount_minor from transfer_legs where status = 'applied'
        union all select 't_' || bank_id, case kind when 'mint' then amount_minor else -amount_minor end from issuance_chain
      ), totals as (select id, sum(delta)::bigint as expected from flows group by id)
      select w.id, w.balance_minor, coalesce(t.expected, 0)::bigint as expected
      from wallets w left join totals t on t.id = w.id
      where w.balance_minor <> coalesce(t.expected, 0)
      order by w.id limit 100`;
    for (const w of wrong) find({ check: 'balance', subject: `wallet ${w.id}`, message: `stored balance ${w.balance_minor} but its history gives ${w.expected}` });
    const wrongFlight = await tx<{ id: string; in_flight_out_minor: bigint; expected: bigint }[]>`
      with open as (select payer_wallet_id as id, sum(amount_minor)::bigint as expected from transfers where status = 'in_flight' group by payer_wallet_id)
      select w.id, w.in_flight_out_minor, coalesce(o.expected, 0)::bigint as expected
      from wallets w left join open o on o.id = w.id
      where w.in_flight_out_minor <> coalesce(o.expected, 0)
      order by w.id limit 100`;
    for (const w of wrongFlight) find({ check: 'balance', subject: `wallet ${w.id}`, message: `stored money in flight out ${w.in_flight_out_minor} but its in-flight transfers add up to ${w.expected}` });
    const capped = await tx<{ id: string; kind: 'customer' | 'treasury'; tier: Tier | null; balance_minor: bigint }[]>`select id, kind, tier, balance_minor from wallets where kind = 'customer'`;
    for (const w of capped) {
      const max = limitsOf(w.kind, w.tier).balanceMaxMinor;
      if (max !== null && w.balance_minor > max) find({ check: 'limits', subject: `wallet ${w.id}`, message: `balance ${w.balance_minor} is above the tier ${w.tier} cap ${max}` });
    }
    progress('balances', counts.wallets, counts.wallets);

    // 4. Reserves per bank, and the conservation law.
    const reserves = await tx<{ bank_id: string; free_minor: bigint; minted_minor: bigint; retired_minor: bigint; deposits: bigint; withdrawals: bigint }[]>`
      select r.bank_id, r.free_minor, r.minted_minor, r.retired_minor,
        coalesce((select sum(amount_minor) from reserve_entries e where e.bank_id = r.bank_id and e.kind = 'deposit'), 0)::bigint as deposits,
        coalesce((select sum(amount_minor) from reserve_entries e where e.bank_id = r.bank_id and e.kind = 'withdrawal'), 0)::bigint as withdrawals
      from bank_reserves r order by r.bank_id`;
    let freeTotal = 0n;
    for (const r of reserves) {
      const minted = mintedByBank.get(r.bank_id) ?? 0n;
      const retired = retiredByBank.get(r.bank_id) ?? 0n;
      const expectedFree = r.deposits - r.withdrawals - minted + retired;
      if (r.free_minor !== expectedFree) find({ check: 'reserve', subject: `bank ${r.bank_id}`, message: `free reserve ${r.free_minor} but deposits - withdrawals - mints + retirements give ${expectedFree}` });
      if (r.minted_minor !== minted || r.retired_minor !== retired) find({ check: 'reserve', subject: `bank ${r.bank_id}`, message: `recorded minted/retired ${r.minted_minor}/${r.retired_minor} differ from the chain's ${minted}/${retired}` });
      freeTotal += r.free_minor;
    }
    const [sums] = await tx<{ balances: bigint }[]>`select coalesce(sum(balance_minor), 0)::bigint as balances from wallets`;
    const inFlight = await moneyInFlightMinor(tx as never);
    if (sums.balances + inFlight !== supply) find({ check: 'conservation', subject: 'supply', message: `wallet balances ${sums.balances} + in flight ${inFlight} differ from mints - retirements ${supply}` });

    const ordered = findings.sort((a, b) => order(a.check) - order(b.check));
    return {
      ok: findings.length === 0 && [...perCheck.values()].every((n) => n === 0),
      findings: ordered,
      stats: { issuanceEntries: counts.entries, batches: batchesDone, transfers: transfersDone, wallets: counts.wallets, supplyMinor: supply.toString(), walletBalancesMinor: sums.balances.toString(), inFlightMinor: inFlight.toString(), freeReserveMinor: freeTotal.toString() },
    };
  });
}

const ORDER = ['issuance_chain', 'settlement_chain', 'transfer', 'balance', 'limits', 'reserve', 'conservation'];
function order(check: string): number {
  return ORDER.indexOf(check);
}
