/**
 * The audit: recomputes, from the stored data alone, the issuance and settlement hash chains with
 * their signatures, every batch's Merkle root, every customer signature (against the key the
 * registry says was in force) and transfer id, every balance and daily outflow from its history,
 * the registry chains of governing facts with every row they account for (operators, banks,
 * wallets, reserve entries, issuance requests), the conservation law, and the banks' events
 * against the ledger (audit-events.ts). It names the first
 * entries that do not verify in each check.
 *
 * Across servers (SHARD_DATABASES: a central database and shard-group databases), it reads every
 * database in a snapshot of its own, all opened while it holds the issuance-step lock shared (see
 * issuance-legs.ts), so no mint or retire step lands between them; transfers may, and the checks
 * that join two groups (a credit leg and its debit) re-read the missing side before naming it.
 * Conservation is summed per group from each group's own rows, which is exact even when the
 * groups' snapshots are taken at slightly different moments (see `groupMoney`). Findings in a
 * group's database name the group.
 *
 * Keys: pass the issuer's, shards' and gateways' public keys from a trusted source (configuration,
 * not this database); someone able to rewrite the database could otherwise re-sign it with their own key.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { checkHoldLeaf, checkHoldRecords } from './audit-holds.js';
import { batchHeaderHash, GENESIS_HASH, issuanceEntryHash } from '@cbdc/shared/chains';
import { ed25519Verify } from '@cbdc/shared/crypto';
import { fundingAuthorityMessage } from '@cbdc/shared/funding-authority';
import { merkleRoot } from '@cbdc/shared/merkle';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import type { RegistryReplay } from '@cbdc/shared/registry-replay';
import { limitsOf, type Tier } from '@cbdc/shared/tiers';
import { checkBanks, checkIssuanceRequests, checkOperatorActions, checkOperators, checkRegistryChains, checkReserveEntries, checkWallets } from './audit-registry.js';
import { shardOf } from '@cbdc/shared/ids';
import type { Sql } from './connect.js';
import { checkEvents } from './audit-events.js';
import { checkIssuanceLegs } from './audit-issuance.js';
import { checkPaymentRequests } from './audit-requests.js';
import { moneyInFlightMinor } from './in-flight.js';
import { groupMoney, ISSUANCE_STEP_LOCK } from './issuance-legs.js';
import { loadBatchLeaves, storedLeafHash, type StoredLeaf } from './leaves.js';
import { topologyOfPool, type Topology } from './topology.js';

const CHECKS = [
  'issuance_chain',
  'registry_chain',
  'operators',
  'banks',
  'wallets',
  'reserve_entries',
  'issuance_requests',
  'operator_actions',
  'issuance_legs',
  'settlement_chain',
  'transfer',
  'hold',
  'payment_requests',
  'balance',
  'daily_outflow',
  'limits',
  'reserve',
  'conservation',
  'events',
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
  stats: {
    issuanceEntries: number;
    batches: number;
    transfers: number;
    wallets: number;
    supplyMinor: string;
    walletBalancesMinor: string;
    /** Money set aside by open holds (wallets' held_minor). */
    heldMinor: string;
    /** Transfers in flight between shards plus issuance in flight between the central database and the groups. */
    inFlightMinor: string;
    transfersInFlightMinor: string;
    issuanceInFlightMinor: string;
    freeReserveMinor: string;
    /** Each shard group's share (one entry, group 0, in the one-database deployment). */
    groups: Array<{ group: number; shards: number[] | null; walletBalancesMinor: string; heldMinor: string; transfersInFlightMinor: string }>;
  };
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

/**
 * One shard group's database as the audit reads it: its snapshot, its pool (for re-reading what
 * another group's later snapshot points to), and the prefix of the findings it yields ("" in the
 * one-database deployment, so that findings read as before; "group 1: " otherwise).
 */
export interface AuditGroup {
  id: number;
  /** The shards whose ledger this database holds; null when it holds every shard (one database). */
  shards: readonly number[] | null;
  tx: Sql;
  pool: Sql;
  prefix: string;
}

/** What every check shares: the snapshot transactions, where findings go, progress. */
export interface AuditRun {
  /** The central database's snapshot (the only one in the one-database deployment). */
  tx: Sql;
  /** Each distinct shard-group database (its `tx` is `tx` where it is the central database). */
  groups: AuditGroup[];
  /** The shard count, when the deployment is split (to find a wallet's group). */
  shardCount: number | null;
  groupOfShard(shard: number): AuditGroup;
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

/**
 * Audits one database (every shard in it) or a whole topology (the central database and each shard
 * group's).
 */
export async function audit(target: Sql | Topology, options: AuditOptions = {}): Promise<AuditReport> {
  const findings: AuditFinding[] = [];
  const perCheck = new Map<string, number>();
  const cap = options.findingsPerCheckMax ?? 20;
  const find = (f: AuditFinding) => {
    const n = (perCheck.get(f.check) ?? 0) + 1;
    perCheck.set(f.check, n);
    if (n <= cap) findings.push(f);
  };
  const topology = isTopology(target) ? target : topologyOfPool(target, 1);
  const split = topology.pools().length > 1;
  const shardCount = split ? topology.groups.reduce((n, g) => n + g.shards.length, 0) : null;

  return withSnapshots(topology, async (tx, snapshots) => {
    const groups: AuditGroup[] = snapshots.map((g) => ({ ...g, shards: split ? g.shards : null, prefix: split ? `group ${g.id}: ` : '' }));
    const groupOfShard = (shard: number) => groups.find((g) => g.shards === null || g.shards.includes(shard)) ?? groups[0];
    const run: AuditRun = { tx, groups, shardCount, groupOfShard, find, progress: options.onProgress ?? (() => {}), options };
    const counts = await countAll(run);
    const issuance = await checkIssuanceChain(run, counts);
    run.progress('registry', 0, 1);
    const registry = await checkRegistryChains(run, { issuer: issuance.issuerKey, gateways: options.trustedGatewayPublicKeys ?? null });
    const suspects = await checkOperators(run, registry);
    await checkBanks(run, registry);
    await checkWallets(run, registry);
    await checkReserveEntries(run, registry);
    await checkIssuanceRequests(run, registry, suspects);
    await checkOperatorActions(run, registry, suspects);
    const issuanceInFlight = await checkIssuanceLegs(run);
    run.progress('registry', 1, 1);
    const settled = { batches: 0, transfers: 0 };
    for (const g of groups) {
      const done = await checkSettlementChains(run, g, registry, counts);
      settled.batches += done.batches;
      settled.transfers += done.transfers;
      await checkLegsAgree(run, g);
      await checkHoldRecords(run, g);
    }
    await checkPaymentRequests(run);
    run.progress('balances', 0, counts.wallets);
    for (const g of groups) {
      await checkBalances(run, g);
      await checkDailyOutflow(run, g);
      await checkTierCaps(run, g);
      await checkFreezeRecords(run, g);
      await checkEvents(run, g);
    }
    run.progress('balances', counts.wallets, counts.wallets);
    const freeTotal = await checkReserves(run, issuance, registry);
    const sums = await checkConservation(run, issuance.supply, issuanceInFlight);

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
        heldMinor: sums.held.toString(),
        inFlightMinor: (sums.transfersInFlight + issuanceInFlight).toString(),
        transfersInFlightMinor: sums.transfersInFlight.toString(),
        issuanceInFlightMinor: issuanceInFlight.toString(),
        freeReserveMinor: freeTotal.toString(),
        groups: sums.groups,
      },
    };
  });
}

function isTopology(target: Sql | Topology): target is Topology {
  return typeof (target as Topology).pools === 'function' && Array.isArray((target as Topology).groups);
}

type Snapshot = Omit<AuditGroup, 'prefix'>;

/**
 * Opens a read-only repeatable-read snapshot of the central database and of every other database
 * of the topology, while holding the issuance-step lock shared on a connection of its own (so no
 * mint or retire step commits between them), releases the lock, and runs `work` with them.
 */
async function withSnapshots<T>(topology: Topology, work: (central: Sql, groups: Snapshot[]) => Promise<T>): Promise<T> {
  const lock = await topology.central.reserve();
  let held = false;
  const release = async () => {
    if (!held) return;
    held = false;
    await lock`select pg_advisory_unlock_shared(${ISSUANCE_STEP_LOCK.toString()}::bigint)`;
  };
  try {
    await lock`select pg_advisory_lock_shared(${ISSUANCE_STEP_LOCK.toString()}::bigint)`;
    held = true;
    const others = [...new Set(topology.groups.map((g) => g.sql).filter((sql) => sql !== topology.central))];
    return (await topology.central.begin('isolation level repeatable read read only', async (central) => {
      await central`select 1`; // the snapshot is taken by the first statement
      const txs = new Map<Sql, Sql>([[topology.central, central as unknown as Sql]]);
      const open = async (i: number): Promise<T> => {
        if (i === others.length) {
          await release();
          const seen = new Set<Sql>();
          const groups: Snapshot[] = [];
          for (const g of topology.groups) {
            if (seen.has(g.sql)) continue;
            seen.add(g.sql);
            groups.push({ id: g.id, shards: topology.groups.filter((o) => o.sql === g.sql).flatMap((o) => o.shards), tx: txs.get(g.sql)!, pool: g.sql });
          }
          return work(central as unknown as Sql, groups);
        }
        return (await others[i].begin('isolation level repeatable read read only', async (tx) => {
          await tx`select 1`;
          txs.set(others[i], tx as unknown as Sql);
          return open(i + 1);
        })) as T;
      };
      return open(0);
    })) as T;
  } finally {
    await release().catch(() => {});
    lock.release();
  }
}

/** Row counts for progress and the report: the chain in central, the ledger summed over the groups. */
async function countAll(run: AuditRun): Promise<Counts> {
  const [central] = await run.tx<{ entries: number }[]>`select count(*)::int as entries from issuance_chain`;
  const counts: Counts = { entries: central.entries, batches: 0, transfers: 0, wallets: 0 };
  for (const g of run.groups) {
    const [c] = await g.tx<Omit<Counts, 'entries'>[]>`
      select (select count(*) from settlement_batches)::int as batches, (select count(*) from transfers)::int as transfers, (select count(*) from wallets)::int as wallets`;
    counts.batches += c.batches;
    counts.transfers += c.transfers;
    counts.wallets += c.wallets;
  }
  return counts;
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

/** Settlement chains, Merkle roots, transfer ids and customer signatures (against the keys in force at each batch). */
async function checkSettlementChains(run: AuditRun, g: AuditGroup, registry: RegistryReplay, counts: Counts): Promise<{ batches: number; transfers: number }> {
  const { find } = run;
  const { tx, prefix } = g;
  const keys = keysInForce(registry);
  const bankKeys = (bankId: string) => {
    const hex = registry.banks.get(bankId)?.publicKey;
    return hex ? Buffer.from(hex, 'hex') : null;
  };
  const shards = await tx<{ shard: number; public_key: Buffer; head_seq: bigint; head_hash: Buffer }[]>`select shard, public_key, head_seq, head_hash from shards order by shard`;
  const done = { batches: 0, transfers: 0 };
  for (const s of shards) {
    if (g.shards !== null && !g.shards.includes(s.shard)) find({ check: 'settlement_chain', subject: `${prefix}shard ${s.shard}`, message: `its chain is in the database of group ${g.id}, which does not hold shard ${s.shard}` });
    const trusted = run.options.trustedShardPublicKeys?.get(s.shard);
    if (trusted && !trusted.equals(s.public_key)) find({ check: 'settlement_chain', subject: `${prefix}shard ${s.shard} key`, message: 'the stored shard public key is not the trusted one' });
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
        const subject = `${prefix}shard ${s.shard} batch ${b.seq}`;
        if (b.seq !== expected) find({ check: 'settlement_chain', subject, message: `expected batch ${expected} here; a batch is missing or out of order` });
        if (!b.prev_hash.equals(prev)) find({ check: 'settlement_chain', subject, message: 'its previous hash is not the hash of the batch before it' });
        const list = byBatch.get(b.seq) ?? [];
        const leaves = list.map((m, i) => checkLeaf(run, prefix, (walletId) => keys(walletId, b.seq), bankKeys, m, i, subject, registry));
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
    if (s.head_seq !== expected - 1n || !s.head_hash.equals(prev))
      find({ check: 'settlement_chain', subject: `${prefix}shard ${s.shard} head`, message: `the head (batch ${s.head_seq}) is not the last batch of the chain (${expected - 1n})` });
  }
  const [orphans] = await tx<{ n: number }[]>`
    select (select count(*) from transfers t where not exists (select 1 from settlement_batches b where b.shard = t.shard and b.seq = t.batch_seq))::int
         + (select count(*) from transfer_legs l where not exists (select 1 from settlement_batches b where b.shard = l.shard and b.seq = l.batch_seq))::int
         + (select count(*) from holds h where not exists (select 1 from settlement_batches b where b.shard = h.shard and b.seq = h.batch_seq)
              or (h.closed_batch_seq is not null and not exists (select 1 from settlement_batches b where b.shard = h.shard and b.seq = h.closed_batch_seq)))::int as n`;
  if (orphans.n > 0) find({ check: 'settlement_chain', subject: `${prefix}transfers`, message: `${orphans.n} transfer, leg or hold rows belong to no committed batch` });
  return done;
}

/**
 * Customer keys as the registry establishes them: the key in force for a wallet at a batch of its
 * shard, from its key history (the opening's key, then each replacement from the batch after the
 * shard head it recorded), never the `wallets` column.
 */
function keysInForce(registry: RegistryReplay): (walletId: string, batchSeq: bigint) => Buffer | null {
  const cache = new Map<string, Buffer>();
  return (walletId, batchSeq) => {
    const hex = registry.keyAt(walletId, batchSeq);
    if (hex === null || hex === '') return null;
    let key = cache.get(hex);
    if (key === undefined) {
      key = Buffer.from(hex, 'hex');
      cache.set(hex, key);
    }
    return key;
  };
}

/** One stored leaf: its index, and for a customer transfer its id and signature; returns its hash. */
function checkLeaf(run: AuditRun, prefix: string, keyOf: (walletId: string) => Buffer | null, bankKeyOf: (bankId: string) => Buffer | null, m: StoredLeaf, i: number, batch: string, registry: RegistryReplay): Buffer {
  if (m.type === 'hold') return checkHoldLeaf(run, prefix, { keyOf, bankKeyOf, bankOfWallet: (id) => registry.wallets.get(id)?.bankId ?? null }, m, i, batch);
  const subject = `${prefix}${m.type === 'transfer' ? `transfer ${m.id}` : `${m.leg} leg of transfer ${m.transferId}`}`;
  if (m.leafIndex !== i) run.find({ check: 'settlement_chain', subject, message: `leaf index ${m.leafIndex} where ${i} was expected in ${batch}` });
  if (m.type === 'transfer' && m.kind === 'transfer') {
    // v2 for a transfer that pays a request: the request id it names is part of what the customer signed.
    const bytes = encodeTransfer({ payerWalletId: m.payerWalletId, payeeWalletId: m.payeeWalletId, amountMinor: m.amountMinor, nonce: m.nonce ?? 0n, expiresAtMs: m.expiresAtMs ?? 0n, memo: m.memo, requestId: m.requestId });
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

/**
 * Cross-shard transfers: the final status agrees with the legs. The refund leg is at the payer's
 * shard (this group); the credit leg at the payee's, which may be another group's database, read
 * in a snapshot of its own: a disagreement that involves another group's credit leg is re-read
 * from that group's current state before it is named (its snapshot may be older than this one's).
 */
async function checkLegsAgree(run: AuditRun, g: AuditGroup): Promise<void> {
  const split = run.shardCount !== null;
  // One database: every leg is here, one query. Split: here only what needs no other group (legs of
  // a transfer that was never debited towards another shard); the debited ones are judged below.
  const local = await g.tx<{ id: string; status: string }[]>`
    select t.id, t.status from transfers t
    left join transfer_legs c on c.transfer_id = t.id and c.leg = 'credit'
    left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund'
    where (t.leg_status <> 'debited' and (c.transfer_id is not null or r.transfer_id is not null))
      ${
        split
          ? g.tx``
          : g.tx`
       or (t.leg_status = 'debited' and t.status = 'settled' and (c.status is distinct from 'applied' or r.transfer_id is not null))
       or (t.leg_status = 'debited' and t.status = 'rejected' and (c.status is distinct from 'rejected' or r.transfer_id is null or r.code is distinct from t.code))
       or (t.leg_status = 'debited' and t.status = 'in_flight' and r.transfer_id is not null)`
      }
    order by t.id limit 100`;
  const named = new Set<string>();
  const name = (id: string, status: string) => {
    if (named.has(id)) return;
    named.add(id);
    run.find({ check: 'transfer', subject: `${g.prefix}transfer ${id}`, message: `its final status ${status} does not agree with its recorded legs` });
  };
  for (const t of local) name(t.id, t.status);
  const shardCount = run.shardCount;
  if (shardCount === null) return;
  for (let after = ''; ; ) {
    const rows: DebitedTransfer[] = await g.tx<DebitedTransfer[]>`
      select t.id, t.status, t.code, t.payee_wallet_id, r.code as refund_code, (r.transfer_id is not null) as refunded
      from transfers t left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund'
      where t.leg_status = 'debited' and t.id > ${after} order by t.id limit ${PAGE}`;
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    const elsewhere = new Map<AuditGroup, DebitedTransfer[]>();
    for (const t of rows) {
      const payeeGroup = run.groupOfShard(shardOf(t.payee_wallet_id, shardCount));
      elsewhere.set(payeeGroup, [...(elsewhere.get(payeeGroup) ?? []), t]);
    }
    for (const [other, list] of elsewhere) {
      const creditOf = async (q: Sql, ids: string[]) =>
        new Map((await q<{ transfer_id: string; status: string }[]>`select transfer_id, status from transfer_legs where leg = 'credit' and transfer_id = any(${ids})`).map((c) => [c.transfer_id, c.status]));
      const agrees = (t: DebitedTransfer, credit: string | undefined) =>
        t.status === 'settled' ? credit === 'applied' && !t.refunded : t.status === 'rejected' ? credit === 'rejected' && t.refunded && t.refund_code === t.code : !t.refunded;
      const snapshot = await creditOf(
        other.tx,
        list.map((t) => t.id),
      );
      const doubtful = list.filter((t) => !agrees(t, snapshot.get(t.id)));
      if (doubtful.length === 0) continue;
      const current = await creditOf(
        other.pool,
        doubtful.map((t) => t.id),
      );
      for (const t of doubtful) if (!agrees(t, current.get(t.id))) name(t.id, t.status);
    }
  }
  await checkCreditsHaveDebits(run, g, shardCount);
}

interface DebitedTransfer {
  id: string;
  status: string;
  code: string | null;
  payee_wallet_id: string;
  refund_code: string | null;
  refunded: boolean;
}

/** Each credit leg in this group whose transfer another group holds: that transfer was debited (re-read before naming). */
async function checkCreditsHaveDebits(run: AuditRun, g: AuditGroup, shardCount: number): Promise<void> {
  for (let after = ''; ; ) {
    const legs = await g.tx<{ transfer_id: string; from_shard: number }[]>`
      select transfer_id, from_shard from transfer_legs where leg = 'credit' and transfer_id > ${after} order by transfer_id limit ${PAGE}`;
    if (legs.length === 0) break;
    after = legs[legs.length - 1].transfer_id;
    const byGroup = new Map<AuditGroup, string[]>();
    for (const l of legs) {
      const payer = run.groupOfShard(l.from_shard);
      byGroup.set(payer, [...(byGroup.get(payer) ?? []), l.transfer_id]);
    }
    for (const [payer, ids] of byGroup) {
      // A credit's debit is a transfer's, or a captured hold's whose money went to another shard.
      const debited = async (q: Sql, list: string[]) =>
        new Set((await q<{ id: string }[]>`select id from transfers where leg_status = 'debited' and id = any(${list}) union all select id from holds where capture_leg_status = 'debited' and id = any(${list})`).map((t) => t.id));
      const seen = await debited(payer.tx, ids);
      const missing = ids.filter((id) => !seen.has(id));
      if (missing.length === 0) continue;
      const now = await debited(payer.pool, missing);
      for (const id of missing) {
        if (!now.has(id)) run.find({ check: 'transfer', subject: `${g.prefix}credit leg of transfer ${id}`, message: `no transfer debited at its payer's shard (group ${payer.id}) accounts for it` });
      }
    }
  }
}

/** Every balance and money in flight out, from its history. */
async function checkBalances(run: AuditRun, g: AuditGroup): Promise<void> {
  // Aggregate the history per wallet first, then join: one hash join, not a scan per wallet. A
  // treasury's mints and retires are its issuance legs, which are in this database with it.
  const wrong = await g.tx<{ id: string; balance_minor: bigint; expected: bigint }[]>`
    with flows as (
      select payee_wallet_id as id, amount_minor as delta from transfers where leg_status = 'settled'
      union all select payer_wallet_id, -amount_minor from transfers where leg_status in ('settled', 'debited')
      union all select wallet_id, amount_minor from transfer_legs where status = 'applied'
      union all select treasury_wallet_id, case kind when 'mint' then amount_minor else -amount_minor end from issuance_legs where status = 'applied'
      -- Holds: an open hold's amount is set aside; a captured one's captured amount left the payer
      -- (unless a payee here refused it in the same batch), the rest came back; the payee here got it.
      union all select payer_wallet_id, -amount_minor from holds where status = 'open'
      union all select payer_wallet_id, -captured_minor from holds where status = 'captured' and capture_leg_status in ('settled', 'debited')
      union all select payee_wallet_id, captured_minor from holds where status = 'captured' and capture_leg_status = 'settled'
    ), totals as (select id, sum(delta)::bigint as expected from flows group by id)
    select w.id, w.balance_minor, coalesce(t.expected, 0)::bigint as expected
    from wallets w left join totals t on t.id = w.id
    where w.balance_minor <> coalesce(t.expected, 0)
    order by w.id limit 100`;
  for (const w of wrong) run.find({ check: 'balance', subject: `${g.prefix}wallet ${w.id}`, message: `stored balance ${w.balance_minor} but its history gives ${w.expected}` });
  const wrongFlight = await g.tx<{ id: string; in_flight_out_minor: bigint; expected: bigint }[]>`
    with open as (
      select id, sum(amount)::bigint as expected from (
        select payer_wallet_id as id, amount_minor as amount from transfers where status = 'in_flight'
        union all select payer_wallet_id, captured_minor from holds where capture_status = 'in_flight'
      ) f group by id)
    select w.id, w.in_flight_out_minor, coalesce(o.expected, 0)::bigint as expected
    from wallets w left join open o on o.id = w.id
    where w.in_flight_out_minor <> coalesce(o.expected, 0)
    order by w.id limit 100`;
  for (const w of wrongFlight) run.find({ check: 'balance', subject: `${g.prefix}wallet ${w.id}`, message: `stored money in flight out ${w.in_flight_out_minor} but its in-flight transfers add up to ${w.expected}` });
}

/**
 * Daily outflow from history, by the settlement rule (ledger/settle.ts): the day is that of the
 * wallet's last debit; the amount is its payments (customer transfers to a non-treasury wallet)
 * debited that day, less those of them refunded.
 */
async function checkDailyOutflow(run: AuditRun, g: AuditGroup): Promise<void> {
  const wrong = await g.tx<{ id: string; daily_spent_minor: bigint; daily_spent_day: number; day: number; minor: bigint }[]>`
    with debits as (
      select payer_wallet_id as id, settled_at_ms as at_ms from transfers where leg_status in ('settled', 'debited')
      -- A hold counts against the day it is placed, once, whatever becomes of it (ledger/holds.ts).
      union all select payer_wallet_id, placed_at_ms from holds where status <> 'rejected'
    ), last as (
      select id, (max(at_ms) / 86400000)::int as day from debits group by id
    ), payments as (
      select t.payer_wallet_id as id, (t.amount_minor - coalesce(r.amount_minor, 0))::bigint as minor
      from transfers t join last l on l.id = t.payer_wallet_id
      left join transfer_legs r on r.transfer_id = t.id and r.leg = 'refund' and r.status = 'applied'
      where t.leg_status in ('settled', 'debited') and t.kind = 'transfer' and left(t.payee_wallet_id, 2) <> 't_'
        and (t.settled_at_ms / 86400000)::int = l.day
      union all
      select h.payer_wallet_id, h.amount_minor from holds h join last l on l.id = h.payer_wallet_id
      where h.status <> 'rejected' and (h.placed_at_ms / 86400000)::int = l.day
    ), spent as (
      select id, sum(minor)::bigint as minor from payments group by id
    )
    select w.id, w.daily_spent_minor, w.daily_spent_day, coalesce(l.day, 0) as day, coalesce(s.minor, 0)::bigint as minor
    from wallets w left join last l on l.id = w.id left join spent s on s.id = w.id
    where w.daily_spent_day <> coalesce(l.day, 0) or w.daily_spent_minor <> coalesce(s.minor, 0)
    order by w.id limit 100`;
  for (const w of wrong) {
    run.find({ check: 'daily_outflow', subject: `${g.prefix}wallet ${w.id}`, message: `stored daily outflow ${w.daily_spent_minor} on day ${w.daily_spent_day}, but its transfers give ${w.minor} on day ${w.day}` });
  }
}

/**
 * Each wallet's recorded freezes (central and bank) are the last freeze or lift of their authority
 * in `wallet_freeze_events`, in the same database: who, why, on what reference, when. (A freeze the
 * 00006 migration carried over from before the freezes were separated has no event.)
 */
async function checkFreezeRecords(run: AuditRun, g: AuditGroup): Promise<void> {
  const wrong = await g.tx<{ id: string; authority: string }[]>`
    with last as (
      select distinct on (wallet_id, authority) wallet_id, authority, action, actor, reason, reference, at
      from wallet_freeze_events order by wallet_id, authority, id desc
    )
    select w.id, 'central' as authority from wallets w left join last c on c.wallet_id = w.id and c.authority = 'central'
    where w.central_frozen_by is distinct from 'migration'
      and (coalesce(c.action = 'freeze', false) <> (w.central_frozen_at is not null)
        or (w.central_frozen_at is not null and (w.central_frozen_by <> c.actor or w.central_freeze_reason <> c.reason
            or w.central_freeze_reference is distinct from c.reference or w.central_frozen_at <> c.at)))
    union all
    select w.id, 'bank' from wallets w left join last b on b.wallet_id = w.id and b.authority = 'bank'
    where coalesce(b.action = 'freeze', false) <> (w.bank_frozen_at is not null)
       or (w.bank_frozen_at is not null and (w.bank_frozen_by <> b.actor or w.bank_freeze_reason <> b.reason or w.bank_frozen_at <> b.at))
    order by 1 limit 100`;
  for (const w of wrong) run.find({ check: 'wallets', subject: `${g.prefix}wallet ${w.id}`, message: `its ${w.authority} freeze differs from its last ${w.authority} freeze event` });
}

/** No customer wallet holds more than its tier allows. */
async function checkTierCaps(run: AuditRun, g: AuditGroup): Promise<void> {
  // Held money may come back to the wallet, so it counts against the cap with the balance.
  const capped = await g.tx<{ id: string; kind: 'customer' | 'treasury'; tier: Tier | null; balance_minor: bigint; held_minor: bigint }[]>`select id, kind, tier, balance_minor, held_minor from wallets where kind = 'customer'`;
  for (const w of capped) {
    const max = limitsOf(w.kind, w.tier).balanceMaxMinor;
    if (max !== null && w.balance_minor + w.held_minor > max) run.find({ check: 'limits', subject: `${g.prefix}wallet ${w.id}`, message: `balance ${w.balance_minor} and held ${w.held_minor} are above the tier ${w.tier} cap ${max}` });
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

/**
 * Conservation across every database: the wallet balances of all groups + transfers in flight
 * (debited - credited - refunded, summed over groups) + issuance in flight = the issuance head's
 * supply (which the chain check proved = mints - retirements). In one database it is also checked
 * transfer by transfer (each debited transfer is in flight until credited or refunded).
 */
async function checkConservation(run: AuditRun, supply: bigint, issuanceInFlight: bigint): Promise<{ balances: bigint; held: bigint; transfersInFlight: bigint; groups: AuditReport['stats']['groups'] }> {
  let balances = 0n;
  let held = 0n;
  let transfersInFlight = 0n;
  const groups: AuditReport['stats']['groups'] = [];
  for (const g of run.groups) {
    const money = await groupMoney(g.tx);
    balances += money.balancesMinor;
    held += money.heldMinor;
    transfersInFlight += money.transfersInFlightMinor;
    groups.push({
      group: g.id,
      shards: g.shards === null ? null : [...g.shards],
      walletBalancesMinor: money.balancesMinor.toString(),
      heldMinor: money.heldMinor.toString(),
      transfersInFlightMinor: money.transfersInFlightMinor.toString(),
    });
  }
  if (run.shardCount === null) {
    const byTransfer = await moneyInFlightMinor(run.tx);
    if (byTransfer !== transfersInFlight) run.find({ check: 'conservation', subject: 'transfers in flight', message: `the legs give ${transfersInFlight} in flight, the open transfers ${byTransfer}` });
  }
  if (balances + held + transfersInFlight + issuanceInFlight !== supply) {
    const parts = groups.map((g) => `group ${g.group}: balances ${g.walletBalancesMinor} + held ${g.heldMinor} + transfers in flight ${g.transfersInFlightMinor}`).join('; ');
    run.find({
      check: 'conservation',
      subject: 'supply',
      message: `wallet balances ${balances} + held ${held} + in flight ${transfersInFlight + issuanceInFlight} (transfers ${transfersInFlight}, issuance ${issuanceInFlight}) differ from mints - retirements ${supply}${run.shardCount === null ? '' : ` (${parts})`}`,
    });
  }
  return { balances, held, transfersInFlight, groups };
}
