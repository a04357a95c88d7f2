/**
 * The audit: recomputes, from the stored data alone, the issuance and settlement hash chains with
 * their signatures, every batch's Merkle root, every customer signature (against the key the
 * registry says was in force) and transfer id, every balance and daily outflow from its history,
 * the registry chains of governing facts with every row they account for (operators, banks,
 * wallets, reserve entries, issuance requests), and the conservation law. It reads one consistent
 * snapshot and names the first entries that do not verify in each check.
 *
 * Keys: pass the issuer's, shards' and gateways' public keys from a trusted source (configuration,
 * not this database); someone able to rewrite the database could otherwise re-sign it with their own key.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { batchHeaderHash, GENESIS_HASH, issuanceEntryHash } from '@cbdc/shared/chains';
import { ed25519Verify } from '@cbdc/shared/crypto';
import { fundingAuthorityMessage } from '@cbdc/shared/funding-authority';
import { merkleRoot } from '@cbdc/shared/merkle';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import type { RegistryReplay } from '@cbdc/shared/registry-replay';
import { limitsOf, type Tier } from '@cbdc/shared/tiers';
import { checkBanks, checkIssuanceRequests, checkOperatorActions, checkOperators, checkRegistryChains, checkReserveEntries, checkWallets } from './audit-registry.js';
import type { Sql } from './connect.js';
import { moneyInFlightMinor } from './in-flight.js';
import { loadBatchLeaves, storedLeafHash, type StoredLeaf } from './leaves.js';

const CHECKS = [
  'issuance_chain',
  'registry_chain',
  'operators',
  'banks',
  'wallets',
  'reserve_entries',
  'issuance_requests',
  'operator_actions',
  'settlement_chain',
  'transfer',
  'balance',
  'daily_outflow',
  'limits',
  'reserve',
  'conservation',
] as const;
export type AuditCheck = (typeof CHECKS)[number];

export interface AuditFinding {
  check: AuditCheck;
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
  /** Keys gateways sign registry events with; without them any gateway key is taken as stored. */
  trustedGatewayPublicKeys?: Buffer[];
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Findings kept per check before the rest are counted only. */
  findingsPerCheckMax?: number;
  /** The environment id banks sign into their requests (a funding's authority names it); DEFAULT_AUDIENCE if absent. */
  audience?: string;
}

/** What every check shares: the snapshot transaction, where findings go, progress. */
export interface AuditRun {
  tx: Sql;
  find(f: AuditFinding): void;
  progress(phase: string, done: number, total: number): void;
  options: AuditOptions;
}

interface Counts {
  entries: number;
  batches: number;
  transfers: number;
  wallets: number;
}
interface IssuanceTotals {
  supply: bigint;
  mintedByBank: Map<string, bigint>;
  retiredByBank: Map<string, bigint>;
  issuerKey: Buffer | null;
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

  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const run: AuditRun = { tx: tx as never, find, progress: options.onProgress ?? (() => {}), options };
    const [counts] = await tx<Counts[]>`
      select (select count(*) from issuance_chain)::int as entries, (select count(*) from settlement_batches)::int as batches,
             (select count(*) from transfers)::int as transfers, (select count(*) from wallets)::int as wallets`;
    const issuance = await checkIssuanceChain(run, counts);
    run.progress('registry', 0, 1);
    const registry = await checkRegistryChains(run, { issuer: issuance.issuerKey, gateways: options.trustedGatewayPublicKeys ?? null });
    const suspects = await checkOperators(run, registry);
    await checkBanks(run, registry);
    await checkWallets(run, registry);
    await checkReserveEntries(run, registry);
    await checkIssuanceRequests(run, registry, suspects);
    await checkOperatorActions(run, registry, suspects);
    run.progress('registry', 1, 1);
    const settled = await checkSettlementChains(run, registry, counts);
    await checkLegsAgree(run);
    run.progress('balances', 0, counts.wallets);
    await checkBalances(run);
    await checkDailyOutflow(run);
    await checkTierCaps(run);
    run.progress('balances', counts.wallets, counts.wallets);
    const freeTotal = await checkReserves(run, issuance, registry);
    const sums = await checkConservation(run, issuance.supply);

    const ordered = findings.sort((a, b) => CHECKS.indexOf(a.check) - CHECKS.indexOf(b.check));
    return {
      ok: findings.length === 0 && [...perCheck.values()].every((n) => n === 0),
      findings: ordered,
      stats: {
        issuanceEntries: counts.entries,
        batches: settled.batches,
        transfers: settled.transfers,
        wallets: counts.wallets,
        supplyMinor: issuance.supply.toString(),
        walletBalancesMinor: sums.balances.toString(),
        inFlightMinor: sums.inFlight.toString(),
        freeReserveMinor: freeTotal.toString(),
      },
    };
  });
}

/** The issuance chain: links, hashes, issuer signatures, supply after each entry, and its head. */
async function checkIssuanceChain(run: AuditRun, counts: Counts): Promise<IssuanceTotals> {
  const { tx, find } = run;
  const [head] = await tx<{ seq: bigint; hash: Buffer; supply_minor: bigint; public_key: Buffer | null }[]>`select seq, hash, supply_minor, public_key from issuance_head`;
  const issuerRaw = run.options.trustedIssuerPublicKey ?? head.public_key;
  if (run.options.trustedIssuerPublicKey && head.public_key && !head.public_key.equals(run.options.trustedIssuerPublicKey)) {
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
      if (!issuanceEntryHash(entry).equals(e.hash)) find({ check: 'issuance_chain', subject, message: 'its content does not hash to its stored hash (the entry was altered)' });
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
    run.progress('issuance chain', done, counts.entries);
  }
  if (head.seq !== expectedSeq - 1n || !head.hash.equals(prevHash)) find({ check: 'issuance_chain', subject: 'issuance head', message: `the head (entry ${head.seq}) is not the last entry of the chain (${expectedSeq - 1n})` });
  if (head.supply_minor !== supply) find({ check: 'conservation', subject: 'issuance head', message: `recorded supply ${head.supply_minor} differs from the chain's ${supply}` });
  return { supply, mintedByBank, retiredByBank, issuerKey: issuerRaw };
}

/** Settlement chains, Merkle roots, transfer ids and customer signatures (against the registered keys). */
async function checkSettlementChains(run: AuditRun, registry: RegistryReplay, counts: Counts): Promise<{ batches: number; transfers: number }> {
  const { tx, find } = run;
  const keys = registeredKeys(registry);
  const bankKeys = (bankId: string) => {
    const hex = registry.banks.get(bankId)?.publicKey;
    return hex ? Buffer.from(hex, 'hex') : null;
  };
  const shards = await tx<{ shard: number; public_key: Buffer; head_seq: bigint; head_hash: Buffer }[]>`select shard, public_key, head_seq, head_hash from shards order by shard`;
  const done = { batches: 0, transfers: 0 };
  for (const s of shards) {
    const trusted = run.options.trustedShardPublicKeys?.get(s.shard);
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
        const leaves = list.map((m, i) => checkLeaf(run, keys, bankKeys, m, i, subject));
        if (list.length !== b.transfer_count) find({ check: 'settlement_chain', subject, message: `it commits to ${b.transfer_count} transfers but ${list.length} are stored` });
        if (!merkleRoot(leaves).equals(b.merkle_root)) find({ check: 'settlement_chain', subject, message: 'the Merkle root of its stored transfers is not its recorded root (a transfer or outcome was altered)' });
        const hash = batchHeaderHash({ shard: s.shard, seq: b.seq, prevHash: b.prev_hash, merkleRoot: b.merkle_root, count: b.transfer_count, timeMs: b.time_ms });
        if (!hash.equals(b.hash)) find({ check: 'settlement_chain', subject, message: 'its header does not hash to its stored hash (the header was altered)' });
        if (!ed25519Verify(shardKey, b.hash, b.signature)) find({ check: 'settlement_chain', subject, message: 'its shard signature does not verify' });
        prev = b.hash;
        expected = b.seq + 1n;
        done.transfers += list.length;
      }
      after = last;
      done.batches += batches.length;
      run.progress('settlement chains', done.batches, counts.batches);
    }
    if (s.head_seq !== expected - 1n || !s.head_hash.equals(prev)) find({ check: 'settlement_chain', subject: `shard ${s.shard} head`, message: `the head (batch ${s.head_seq}) is not the last batch of the chain (${expected - 1n})` });
  }
  const [orphans] = await tx<{ n: number }[]>`
    select (select count(*) from transfers t where not exists (select 1 from settlement_batches b where b.shard = t.shard and b.seq = t.batch_seq))::int
         + (select count(*) from transfer_legs l where not exists (select 1 from settlement_batches b where b.shard = l.shard and b.seq = l.batch_seq))::int as n`;
  if (orphans.n > 0) find({ check: 'settlement_chain', subject: 'transfers', message: `${orphans.n} transfer or leg rows belong to no committed batch` });
  return done;
}

/**
 * Customer keys as the registry establishes them (the key in force: no event changes a key
 * today, so it is the registered one; a key-change event would make this a history by time).
 */
function registeredKeys(registry: RegistryReplay): (walletId: string) => Buffer | null {
  const cache = new Map<string, Buffer | null>();
  return (walletId) => {
    let key = cache.get(walletId);
    if (key === undefined) {
      const hex = registry.wallets.get(walletId)?.publicKey;
      key = hex ? Buffer.from(hex, 'hex') : null;
      cache.set(walletId, key);
    }
    return key;
  };
}

/** One stored leaf: its index, and for a customer transfer its id and signature; returns its hash. */
function checkLeaf(run: AuditRun, keyOf: (walletId: string) => Buffer | null, bankKeyOf: (bankId: string) => Buffer | null, m: StoredLeaf, i: number, batch: string): Buffer {
  const subject = m.type === 'transfer' ? `transfer ${m.id}` : `${m.leg} leg of transfer ${m.transferId}`;
  if (m.leafIndex !== i) run.find({ check: 'settlement_chain', subject, message: `leaf index ${m.leafIndex} where ${i} was expected in ${batch}` });
  if (m.type === 'transfer' && m.kind === 'transfer') {
    const bytes = encodeTransfer({ payerWalletId: m.payerWalletId, payeeWalletId: m.payeeWalletId, amountMinor: m.amountMinor, nonce: m.nonce ?? 0n, expiresAtMs: m.expiresAtMs ?? 0n, memo: m.memo });
    if (transferIdOf(bytes) !== m.id) run.find({ check: 'transfer', subject, message: 'its stored content does not hash to its id (the row was altered)' });
    const key = keyOf(m.payerWalletId);
    if (!key || !m.signature || !ed25519Verify(key, bytes, m.signature)) run.find({ check: 'transfer', subject, message: "the payer's signature does not verify over its stored content" });
  }
  if (m.type === 'transfer' && m.kind === 'funding') {
    // A funding's authority is its bank's signed request: it must ask for exactly this funding
    // (id from its Idempotency-Key, treasury, wallet, amount) and verify against the bank's registered key.
    const claim = { id: m.id, bankId: m.bankId, payerWalletId: m.payerWalletId, payeeWalletId: m.payeeWalletId, amountMinor: m.amountMinor.toString() };
    const authority = m.fundingRequest && m.signature ? { ...m.fundingRequest, signature: m.signature.toString('hex') } : undefined;
    const message = fundingAuthorityMessage(authority, claim, run.options.audience ?? DEFAULT_AUDIENCE);
    const key = bankKeyOf(m.bankId);
    if (!message || !key || !ed25519Verify(key, message, m.signature!))
      run.find({ check: 'transfer', subject, message: `its bank's signed funding request is missing, asks for another funding, or does not verify against bank ${m.bankId}'s registered key` });
  }
  return storedLeafHash(m);
}

/** Cross-shard transfers: the final status agrees with the legs. */
async function checkLegsAgree(run: AuditRun): Promise<void> {
  const inconsistent = await run.tx<{ id: string; status: string }[]>`
    select t.id, t.status from transfers t
    left join transfer_legs c on c.transfer_id = t.id and c.leg = 'credit'
    left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund'
    where (t.leg_status <> 'debited' and (c.transfer_id is not null or r.transfer_id is not null))
       or (t.leg_status = 'debited' and t.status = 'settled' and (c.status is distinct from 'applied' or r.transfer_id is not null))
       or (t.leg_status = 'debited' and t.status = 'rejected' and (c.status is distinct from 'rejected' or r.transfer_id is null or r.code is distinct from t.code))
       or (t.leg_status = 'debited' and t.status = 'in_flight' and r.transfer_id is not null)
    order by t.id limit 100`;
  for (const t of inconsistent) run.find({ check: 'transfer', subject: `transfer ${t.id}`, message: `its final status ${t.status} does not agree with its recorded legs` });
}

/** Every balance and money in flight out, from its history. */
async function checkBalances(run: AuditRun): Promise<void> {
  // Aggregate the history per wallet first, then join: one hash join, not a scan per wallet.
  const wrong = await run.tx<{ id: string; balance_minor: bigint; expected: bigint }[]>`
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
  for (const w of wrong) run.find({ check: 'balance', subject: `wallet ${w.id}`, message: `stored balance ${w.balance_minor} but its history gives ${w.expected}` });
  const wrongFlight = await run.tx<{ id: string; in_flight_out_minor: bigint; expected: bigint }[]>`
    with open as (select payer_wallet_id as id, sum(amount_minor)::bigint as expected from transfers where status = 'in_flight' group by payer_wallet_id)
    select w.id, w.in_flight_out_minor, coalesce(o.expected, 0)::bigint as expected
    from wallets w left join open o on o.id = w.id
    where w.in_flight_out_minor <> coalesce(o.expected, 0)
    order by w.id limit 100`;
  for (const w of wrongFlight) run.find({ check: 'balance', subject: `wallet ${w.id}`, message: `stored money in flight out ${w.in_flight_out_minor} but its in-flight transfers add up to ${w.expected}` });
}

/**
 * Daily outflow from history, by the settlement rule (ledger/settle.ts): the day is that of the
 * wallet's last debit; the amount is its payments (customer transfers to a non-treasury wallet)
 * debited that day, less those of them refunded.
 */
async function checkDailyOutflow(run: AuditRun): Promise<void> {
  const wrong = await run.tx<{ id: string; daily_spent_minor: bigint; daily_spent_day: number; day: number; minor: bigint }[]>`
    with last as (
      select payer_wallet_id as id, (max(settled_at_ms) / 86400000)::int as day
      from transfers where leg_status in ('settled', 'debited') group by payer_wallet_id
    ), spent as (
      select t.payer_wallet_id as id, (sum(t.amount_minor) - coalesce(sum(r.amount_minor), 0))::bigint as minor
      from transfers t join last l on l.id = t.payer_wallet_id
      left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund' and r.status = 'applied'
      where t.leg_status in ('settled', 'debited') and t.kind = 'transfer' and left(t.payee_wallet_id, 2) <> 't_'
        and (t.settled_at_ms / 86400000)::int = l.day
      group by t.payer_wallet_id
    )
    select w.id, w.daily_spent_minor, w.daily_spent_day, coalesce(l.day, 0) as day, coalesce(s.minor, 0)::bigint as minor
    from wallets w left join last l on l.id = w.id left join spent s on s.id = w.id
    where w.daily_spent_day <> coalesce(l.day, 0) or w.daily_spent_minor <> coalesce(s.minor, 0)
    order by w.id limit 100`;
  for (const w of wrong) {
    run.find({ check: 'daily_outflow', subject: `wallet ${w.id}`, message: `stored daily outflow ${w.daily_spent_minor} on day ${w.daily_spent_day}, but its transfers give ${w.minor} on day ${w.day}` });
  }
}

/** No customer wallet holds more than its tier allows. */
async function checkTierCaps(run: AuditRun): Promise<void> {
  const capped = await run.tx<{ id: string; kind: 'customer' | 'treasury'; tier: Tier | null; balance_minor: bigint }[]>`select id, kind, tier, balance_minor from wallets where kind = 'customer'`;
  for (const w of capped) {
    const max = limitsOf(w.kind, w.tier).balanceMaxMinor;
    if (max !== null && w.balance_minor > max) run.find({ check: 'limits', subject: `wallet ${w.id}`, message: `balance ${w.balance_minor} is above the tier ${w.tier} cap ${max}` });
  }
}

/** Each bank's reserve account: free = deposits - withdrawals (from the registry) - mints + retirements (from the issuance chain). */
async function checkReserves(run: AuditRun, issuance: IssuanceTotals, registry: RegistryReplay): Promise<bigint> {
  const reserves = await run.tx<{ bank_id: string; free_minor: bigint; minted_minor: bigint; retired_minor: bigint }[]>`
    select bank_id, free_minor, minted_minor, retired_minor from bank_reserves order by bank_id`;
  let freeTotal = 0n;
  for (const r of reserves) {
    const minted = issuance.mintedByBank.get(r.bank_id) ?? 0n;
    const retired = issuance.retiredByBank.get(r.bank_id) ?? 0n;
    const entries = registry.reserveTotals.get(r.bank_id) ?? { depositsMinor: 0n, withdrawalsMinor: 0n };
    const expectedFree = entries.depositsMinor - entries.withdrawalsMinor - minted + retired;
    if (r.free_minor !== expectedFree) run.find({ check: 'reserve', subject: `bank ${r.bank_id}`, message: `free reserve ${r.free_minor} but the registry's deposits - withdrawals - mints + retirements give ${expectedFree}` });
    if (r.minted_minor !== minted || r.retired_minor !== retired)
      run.find({ check: 'reserve', subject: `bank ${r.bank_id}`, message: `recorded minted/retired ${r.minted_minor}/${r.retired_minor} differ from the chain's ${minted}/${retired}` });
    freeTotal += r.free_minor;
  }
  return freeTotal;
}

/** Wallet balances + money in flight = mints - retirements. */
async function checkConservation(run: AuditRun, supply: bigint): Promise<{ balances: bigint; inFlight: bigint }> {
  const [sums] = await run.tx<{ balances: bigint }[]>`select coalesce(sum(balance_minor), 0)::bigint as balances from wallets`;
  const inFlight = await moneyInFlightMinor(run.tx as never);
  if (sums.balances + inFlight !== supply) run.find({ check: 'conservation', subject: 'supply', message: `wallet balances ${sums.balances} + in flight ${inFlight} differ from mints - retirements ${supply}` });
  return { balances: sums.balances, inFlight };
}
