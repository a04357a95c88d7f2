/**
 * The audit's governance checks: the registry chains (hashes, links, signatures against trusted
 * keys, each event's authority), then every row of `operators`, `banks`, `wallets`,
 * `reserve_entries` and `issuance_requests` against what the chains establish. Each check names
 * the first rows (up to the per-check cap) that no event accounts for or that differ.
 */
import { ed25519VerifyRaw } from '@cbdc/shared/crypto';
import { CENTRAL_CHAIN, registryEventHash, type ActorKind, type Authority, type RegistryEvent, type RegistryKind, type SignerRole } from '@cbdc/shared/registry';
import { RegistryReplay } from '@cbdc/shared/registry-replay';
import { shardOf } from '@cbdc/shared/ids';
import type { AuditGroup, AuditRun } from './audit.js';

const PAGE = 2000;

interface EventRow {
  chain: string;
  seq: bigint;
  prev_hash: Buffer;
  kind: RegistryKind;
  subject: string;
  facts: Record<string, unknown>;
  actor_kind: ActorKind;
  actor_id: string;
  authority_message: Buffer | null;
  authority_signature: Buffer | null;
  authority_body: Buffer | null;
  authority_hash: Buffer;
  signer: SignerRole;
  signer_key: Buffer;
  time_ms: bigint;
  hash: Buffer;
  signature: Buffer;
}

/** The keys registry links may be signed with: the issuer's, and (if given) the gateways'. */
interface RegistryKeys {
  issuer: Buffer | null;
  gateways: Buffer[] | null;
}

/**
 * Verifies and replays every registry chain: the central chain (central database) first, then every
 * bank/shard chain of every group's database. A chain `bank:<id>/shard:<n>` must be in the database
 * of the group that holds shard n, and the central chain in the central one. Returns the state the
 * chains establish.
 */
export async function checkRegistryChains(run: AuditRun, keys: RegistryKeys): Promise<RegistryReplay> {
  const replay = new RegistryReplay();
  const centralHeads = await run.tx<{ chain: string; seq: bigint; hash: Buffer }[]>`select chain, seq, hash from registry_heads where chain = ${CENTRAL_CHAIN}`;
  if (centralHeads.length === 0) run.find({ check: 'registry_chain', subject: `registry ${CENTRAL_CHAIN}`, message: 'the central chain is missing (no operator was ever registered)' });
  for (const head of centralHeads) await checkOneChain(run, run.tx, '', keys, replay, head);
  const databases: Array<{ tx: AuditRun['tx']; prefix: string; group: AuditGroup | null }> = run.groups.map((g) => ({ tx: g.tx, prefix: g.prefix, group: g }));
  if (!run.groups.some((g) => g.tx === run.tx)) databases.unshift({ tx: run.tx, prefix: 'central: ', group: null });
  for (const db of databases) {
    const [orphans] = await db.tx<{ n: number }[]>`select count(*)::int as n from registry_events e where not exists (select 1 from registry_heads h where h.chain = e.chain)`;
    if (orphans.n > 0) run.find({ check: 'registry_chain', subject: `${db.prefix}registry`, message: `${orphans.n} registry events belong to no chain head` });
    const heads = await db.tx<{ chain: string; seq: bigint; hash: Buffer }[]>`select chain, seq, hash from registry_heads where chain <> ${CENTRAL_CHAIN} order by chain`;
    for (const head of heads) {
      const misplaced = chainPlacementProblem(head.chain, db.group);
      if (misplaced) run.find({ check: 'registry_chain', subject: `${db.prefix}registry ${head.chain}`, message: misplaced });
      await checkOneChain(run, db.tx, db.prefix, keys, replay, head);
    }
    if (db.tx !== run.tx) {
      const [central] = await db.tx<{ n: number }[]>`select count(*)::int as n from registry_heads where chain = ${CENTRAL_CHAIN}`;
      if (central.n > 0) run.find({ check: 'registry_chain', subject: `${db.prefix}registry ${CENTRAL_CHAIN}`, message: 'a central chain is in a shard group database; the central chain is in the central database only' });
    }
  }
  return replay;
}

/** Why a wallet chain may not be in this database (null if it may): the group must hold the shard it names. */
function chainPlacementProblem(chain: string, group: AuditGroup | null): string | null {
  const m = /^bank:[a-z][a-z0-9-]{1,31}\/shard:(\d{1,4})$/.exec(chain);
  if (!m) return `${chain} is not a wallet chain (bank:<id>/shard:<n>)`;
  if (group === null) return `the chain of shard ${m[1]} is in the central database, not its group's`;
  if (group.shards !== null && !group.shards.includes(Number(m[1]))) return `the chain of shard ${m[1]} is in the database of group ${group.id}, which does not hold shard ${m[1]}`;
  return null;
}

async function checkOneChain(run: AuditRun, tx: AuditRun['tx'], prefix: string, keys: RegistryKeys, replay: RegistryReplay, head: { chain: string; seq: bigint; hash: Buffer }): Promise<void> {
  let prev: Buffer = Buffer.alloc(32);
  let expected = 1n;
  for (let after = 0n; ; ) {
    const rows = await tx<EventRow[]>`select * from registry_events where chain = ${head.chain} and seq > ${after.toString()} order by seq limit ${PAGE}`;
    if (rows.length === 0) break;
    for (const row of rows) {
      const subject = `${prefix}registry ${row.chain} event ${row.seq}`;
      const event = eventOf(row);
      for (const message of linkProblems(row, event, keys, prev, expected)) run.find({ check: 'registry_chain', subject, message });
      for (const message of replay.apply(event, authorityOf(row))) run.find({ check: 'registry_chain', subject, message });
      prev = row.hash;
      expected = row.seq + 1n;
      after = row.seq;
    }
  }
  if (head.seq !== expected - 1n || !head.hash.equals(prev))
    run.find({ check: 'registry_chain', subject: `${prefix}registry ${head.chain} head`, message: `the head (event ${head.seq}) is not the last event of the chain (${expected - 1n})` });
}

function eventOf(row: EventRow): RegistryEvent {
  const facts: Record<string, string> = {};
  for (const [name, value] of Object.entries(row.facts ?? {})) facts[name] = typeof value === 'string' ? value : JSON.stringify(value);
  return { chain: row.chain, seq: row.seq, prevHash: row.prev_hash, kind: row.kind, subject: row.subject, facts, actorKind: row.actor_kind, actorId: row.actor_id, authorityHash: row.authority_hash, signer: row.signer, timeMs: row.time_ms };
}

function authorityOf(row: EventRow): Authority | null {
  if (!row.authority_message || !row.authority_signature || !row.authority_body) return null;
  return { message: row.authority_message, signature: row.authority_signature, body: row.authority_body };
}

function linkProblems(row: EventRow, event: RegistryEvent, keys: RegistryKeys, prev: Buffer, expected: bigint): string[] {
  const problems: string[] = [];
  if (row.seq !== expected) problems.push(`expected event ${expected} here; an event is missing or out of order`);
  if (!row.prev_hash.equals(prev)) problems.push('its previous hash is not the hash of the event before it');
  let hash: Buffer | null = null;
  try {
    hash = registryEventHash(event);
  } catch {
    problems.push('its content cannot be encoded (a field is out of range)');
  }
  if (hash && !hash.equals(row.hash)) problems.push('its content does not hash to its stored hash (the event was altered)');
  const trusted = row.signer === 'issuer' ? (keys.issuer ? [keys.issuer] : []) : keys.gateways;
  if (trusted && !trusted.some((k) => k.equals(row.signer_key))) problems.push(`it is signed by a key that is not a trusted ${row.signer} key`);
  if (!ed25519VerifyRaw(row.signer_key, row.hash, row.signature)) problems.push('its signature does not verify');
  return problems;
}

/** Operators against their registration events; returns the ids whose row no event accounts for. */
export async function checkOperators(run: AuditRun, registry: RegistryReplay): Promise<Set<string>> {
  const suspects = new Set<string>();
  const rows = await run.tx<{ id: string; name: string; public_key: Buffer }[]>`select id, name, public_key from operators order by id`;
  for (const o of rows) {
    const e = registry.operators.get(o.id);
    const subject = `operator ${o.id}`;
    if (!e) run.find({ check: 'operators', subject, message: 'no registry event registers it; every approval it signed is suspect' });
    else if (e.publicKey !== o.public_key.toString('hex')) run.find({ check: 'operators', subject, message: `public key differs from its registration (${e.ref}); every approval it signed is suspect` });
    else if (e.name !== o.name) run.find({ check: 'operators', subject, message: `name differs from its registration (${e.ref})` });
    if (!e || e.publicKey !== o.public_key.toString('hex')) suspects.add(o.id);
  }
  const stored = new Set(rows.map((o) => o.id));
  for (const [id, e] of registry.operators) if (!stored.has(id)) run.find({ check: 'operators', subject: `operator ${id}`, message: `registered by ${e.ref} but has no row` });
  return suspects;
}

/** Banks against their onboarding events. */
export async function checkBanks(run: AuditRun, registry: RegistryReplay): Promise<void> {
  const rows = await run.tx<{ id: string; name: string; public_key: Buffer; treasury_wallet_id: string; created_by: string }[]>`select id, name, public_key, treasury_wallet_id, created_by from banks order by id`;
  for (const b of rows) {
    const e = registry.banks.get(b.id);
    const subject = `bank ${b.id}`;
    if (!e) {
      run.find({ check: 'banks', subject, message: 'no registry event onboards it' });
      continue;
    }
    const differs = [
      ['public key', e.publicKey, b.public_key.toString('hex')],
      ['name', e.name, b.name],
      ['treasury wallet', e.treasuryWalletId, b.treasury_wallet_id],
      ['onboarding operator', e.createdBy, b.created_by],
    ].filter(([, want, got]) => want !== got);
    for (const [field] of differs) run.find({ check: 'banks', subject, message: `${field} differs from its onboarding event (${e.ref})` });
  }
  const stored = new Set(rows.map((b) => b.id));
  for (const [id, e] of registry.banks) if (!stored.has(id)) run.find({ check: 'banks', subject: `bank ${id}`, message: `onboarded by ${e.ref} but has no row` });
}

interface WalletGoverningRow {
  id: string;
  bank_id: string;
  shard: number;
  kind: string;
  tier: string | null;
  public_key: Buffer | null;
  customer_ref: string | null;
  status: string;
}

/**
 * Every wallet's governing columns (bank, kind, tier, key, customer ref, shard, status) against its
 * events, in every group's database; a wallet must be in the database of the group holding its
 * shard, and every bank's treasury in its shard's group (the audit names a bank whose treasury is
 * missing or misplaced).
 */
export async function checkWallets(run: AuditRun, registry: RegistryReplay): Promise<void> {
  const seen = new Map<string, AuditGroup>();
  for (const g of run.groups) {
    for (let after = ''; ; ) {
      const rows = await g.tx<WalletGoverningRow[]>`
        select id, bank_id, shard, kind, tier, public_key, customer_ref, status from wallets where id > ${after} order by id limit ${PAGE}`;
      if (rows.length === 0) break;
      for (const w of rows) {
        checkWallet(run, g.prefix, registry, w);
        if (g.shards !== null && !g.shards.includes(w.shard)) run.find({ check: 'wallets', subject: `${g.prefix}wallet ${w.id}`, message: `it is in the database of group ${g.id}, which does not hold its shard ${w.shard}` });
        if (run.shardCount !== null && w.shard !== shardOf(w.id, run.shardCount))
          run.find({ check: 'wallets', subject: `${g.prefix}wallet ${w.id}`, message: `its shard ${w.shard} is not the one its id places it on (${shardOf(w.id, run.shardCount)})` });
        const twice = seen.get(w.id);
        if (twice) run.find({ check: 'wallets', subject: `${g.prefix}wallet ${w.id}`, message: `it is also in the database of group ${twice.id}` });
        seen.set(w.id, g);
      }
      after = rows[rows.length - 1].id;
    }
  }
  for (const [id, e] of registry.wallets) if (!seen.has(id) && e.kind !== 'treasury') run.find({ check: 'wallets', subject: `wallet ${id}`, message: `opened by ${e.openedRef} but has no row` });
  for (const [bankId, b] of registry.banks) {
    const e = registry.wallets.get(b.treasuryWalletId);
    const shard = Number(e?.shard ?? -1);
    const expected = shard >= 0 ? run.groupOfShard(shard) : null;
    const at = seen.get(b.treasuryWalletId);
    const where = expected && expected.shards !== null ? ` (shard ${shard}, group ${expected.id})` : '';
    if (!at) run.find({ check: 'banks', subject: `bank ${bankId}`, message: `its treasury ${b.treasuryWalletId} has no row${where}; onboarded by ${b.ref}` });
    else if (expected && at !== expected) run.find({ check: 'banks', subject: `bank ${bankId}`, message: `its treasury ${b.treasuryWalletId} is in the database of group ${at.id}, not of its shard's${where}` });
  }
}

function checkWallet(run: AuditRun, prefix: string, registry: RegistryReplay, w: WalletGoverningRow): void {
  const e = registry.wallets.get(w.id);
  const subject = `${prefix}wallet ${w.id}`;
  if (!e) {
    run.find({ check: 'wallets', subject, message: 'no registry event opens it' });
    return;
  }
  const fields: Array<[string, string, string, string]> = [
    ['bank', e.bankId, w.bank_id, e.openedRef],
    ['kind', e.kind, w.kind, e.openedRef],
    ['tier', e.tier, w.tier ?? '', e.tierRef],
    ['public key', e.publicKey, w.public_key ? w.public_key.toString('hex') : '', e.keyRef],
    ['customer reference', e.customerRef, w.customer_ref ?? '', e.openedRef],
    ['shard', e.shard, String(w.shard), e.openedRef],
    ['status', e.status, w.status, e.statusRef],
  ];
  for (const [field, want, got, ref] of fields) {
    if (want !== got) run.find({ check: 'wallets', subject, message: `${field} differs from its registry event (${ref}): stored ${got || '(none)'}, registered ${want || '(none)'}` });
  }
}

/** Reserve entries against the events that recorded them (amount, kind, bank, reference, operator). */
export async function checkReserveEntries(run: AuditRun, registry: RegistryReplay): Promise<void> {
  const rows = await run.tx<{ id: string; bank_id: string; kind: string; amount_minor: bigint; reference: string; operator_id: string }[]>`
    select id::text, bank_id, kind, amount_minor, reference, operator_id from reserve_entries order by id`;
  for (const r of rows) {
    const e = registry.reserveEntries.get(r.id);
    const subject = `reserve entry ${r.id}`;
    if (!e) {
      run.find({ check: 'reserve_entries', subject, message: `no registry event records this ${r.kind} of ${r.amount_minor} for bank ${r.bank_id}` });
      continue;
    }
    const differs = [
      ['bank', e.bankId, r.bank_id],
      ['kind', e.kind, r.kind],
      ['amount', e.amountMinor, r.amount_minor.toString()],
      ['reference', e.reference, r.reference],
      ['operator', e.operatorId, r.operator_id],
    ].filter(([, want, got]) => want !== got);
    for (const [field] of differs) run.find({ check: 'reserve_entries', subject, message: `${field} differs from its registry event (${e.ref})` });
  }
  const stored = new Set(rows.map((r) => r.id));
  for (const [id, e] of registry.reserveEntries) if (!stored.has(id)) run.find({ check: 'reserve_entries', subject: `reserve entry ${id}`, message: `recorded by ${e.ref} but has no row` });
}

/**
 * Issuance requests against the chain entries they produced and the operators the registry
 * knows: an executed request has its entry (same kind, bank, amount); a pending one has none;
 * requester and approver are registered, unsuspected and different.
 */
export async function checkIssuanceRequests(run: AuditRun, registry: RegistryReplay, suspects: Set<string>): Promise<void> {
  const rows = await run.tx<
    {
      id: string;
      kind: string;
      bank_id: string;
      amount_minor: bigint;
      requested_by: string;
      approved_by: string | null;
      status: string;
      chain_seq: bigint | null;
      entry_seq: bigint | null;
      entry_kind: string | null;
      entry_bank: string | null;
      entry_amount: bigint | null;
    }[]
  >`
    select r.id, r.kind, r.bank_id, r.amount_minor, r.requested_by, r.approved_by, r.status, r.chain_seq,
           c.seq as entry_seq, c.kind as entry_kind, c.bank_id as entry_bank, c.amount_minor as entry_amount
    from issuance_requests r left join issuance_chain c on c.request_id = r.id order by r.created_at, r.id`;
  for (const r of rows) {
    const subject = `issuance request ${r.id}`;
    const entry = r.entry_seq === null ? 'no issuance entry' : `issuance entry ${r.entry_seq}`;
    for (const [role, operator] of [
      ['requested', r.requested_by],
      ['approved', r.approved_by],
    ] as const) {
      if (operator === null) continue;
      if (!registry.operators.has(operator) || suspects.has(operator)) run.find({ check: 'issuance_requests', subject, message: `${role} by operator ${operator}, whom no registry event accounts for: ${entry} is suspect` });
    }
    if (r.approved_by !== null && r.approved_by === r.requested_by) run.find({ check: 'issuance_requests', subject, message: 'approved by its own requester' });
    if (r.status === 'executed' && (r.entry_seq === null || r.chain_seq !== r.entry_seq)) run.find({ check: 'issuance_requests', subject, message: `executed, but its chain entry ${r.chain_seq} is not the one that names it (${entry})` });
    if (r.status !== 'executed' && r.entry_seq !== null) run.find({ check: 'issuance_requests', subject, message: `${r.status}, but ${entry} executed it` });
    if (r.entry_seq !== null && (r.entry_kind !== r.kind || r.entry_bank !== r.bank_id || r.entry_amount !== r.amount_minor)) run.find({ check: 'issuance_requests', subject, message: `its kind, bank or amount differ from ${entry}` });
  }
}

/**
 * Operator actions under dual control (reserve entries, onboarding, operator changes, mints and
 * retires): each one requested or approved by an operator whom no registry event accounts for
 * (or whose row is suspect) is named, as is one approved by its own requester.
 */
export async function checkOperatorActions(run: AuditRun, registry: RegistryReplay, suspects: Set<string>): Promise<void> {
  const rows = await run.tx<{ id: string; kind: string; requested_by: string; approved_by: string | null; status: string }[]>`
    select id, kind, requested_by, approved_by, status from operator_actions order by created_at, id`;
  for (const a of rows) {
    const subject = `operator action ${a.id} (${a.kind}, ${a.status})`;
    for (const [role, operator] of [
      ['requested', a.requested_by],
      ['approved', a.approved_by],
    ] as const) {
      if (operator === null) continue;
      if (!registry.operators.has(operator) || suspects.has(operator)) run.find({ check: 'operator_actions', subject, message: `${role} by operator ${operator}, whom no registry event accounts for: what it executed is suspect` });
    }
    if (a.approved_by !== null && a.approved_by === a.requested_by) run.find({ check: 'operator_actions', subject, message: 'approved by its own requester' });
  }
}
