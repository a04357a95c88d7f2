/**
 * Replaying the registry chains (see registry.ts): a pure fold over events, already checked for
 * their hashes, links and signatures, into the governing facts they establish (what the
 * `operators`, `banks`, `wallets`, `reserve_entries` rows and each bank's reserve totals must
 * be), checking on the way that each event carries the authority of its actor. The audit feeds
 * the central chain first (it defines the bank and operator keys), then every bank chain.
 */
import { ed25519VerifyRaw, sha256 } from './crypto.js';
import { authorityHashOf, bankChainOf, type Authority, type RegistryEvent } from './registry.js';
import { TIERS } from './tiers.js';
import { keyInForce, type KeyPeriod } from './wallet-lifecycle.js';

export interface OperatorFacts {
  name: string;
  publicKey: string;
  ref: string;
}
export interface BankFacts {
  name: string;
  publicKey: string;
  treasuryWalletId: string;
  createdBy: string;
  ref: string;
}
export interface WalletFacts {
  bankId: string;
  kind: string;
  tier: string;
  publicKey: string;
  customerRef: string;
  shard: string;
  status: string;
  openedRef: string;
  statusRef: string;
  /** The event that set the tier and the key now in force (the opening, or the last change). */
  tierRef: string;
  keyRef: string;
  /** Every key the wallet has had, oldest first, each with the shard batch after which it governs. */
  keys: KeyPeriod[];
}
export interface ReserveEntryFacts {
  bankId: string;
  kind: string;
  amountMinor: string;
  reference: string;
  operatorId: string;
  ref: string;
}

/** The state the registry establishes, and what went wrong replaying it. */
export class RegistryReplay {
  readonly operators = new Map<string, OperatorFacts>();
  readonly banks = new Map<string, BankFacts>();
  readonly wallets = new Map<string, WalletFacts>();
  readonly reserveEntries = new Map<string, ReserveEntryFacts>();
  readonly reserveTotals = new Map<string, { depositsMinor: bigint; withdrawalsMinor: bigint }>();
  private readonly usedAuthorities = new Set<string>();

  /** Applies one event; returns what is wrong with it (empty when it is sound). */
  apply(e: RegistryEvent, authority: Authority | null): string[] {
    const ref = `registry ${e.chain} event ${e.seq}`;
    const problems = this.checkAuthority(e, authority);
    const authorized = problems.length === 0;
    const f = e.facts;
    switch (e.kind) {
      case 'operator_registered':
        if (this.operators.has(e.subject)) problems.push(`operator ${e.subject} is registered twice`);
        else this.operators.set(e.subject, { name: f.name, publicKey: f.publicKey, ref });
        break;
      case 'operator_key_changed': {
        const operator = this.operators.get(e.subject);
        if (!operator) problems.push(`key change of operator ${e.subject}, whom no event registered`);
        else this.operators.set(e.subject, { ...operator, publicKey: f.publicKey, ref });
        break;
      }
      case 'bank_onboarded':
        if (this.banks.has(e.subject)) problems.push(`bank ${e.subject} is onboarded twice`);
        else {
          this.banks.set(e.subject, { name: f.name, publicKey: f.publicKey, treasuryWalletId: f.treasuryWalletId, createdBy: e.actorId, ref });
          this.wallets.set(f.treasuryWalletId, { bankId: e.subject, kind: 'treasury', tier: '', publicKey: '', customerRef: '', shard: f.treasuryShard, status: 'active', ...openedRefs(ref), keys: [] });
        }
        break;
      case 'reserve_entry': {
        if (!this.banks.has(e.subject)) problems.push(`reserve entry for bank ${e.subject}, which no event onboarded`);
        this.reserveEntries.set(f.entryId, { bankId: e.subject, kind: f.kind, amountMinor: f.amountMinor, reference: f.reference, operatorId: e.actorId, ref });
        const totals = this.reserveTotals.get(e.subject) ?? { depositsMinor: 0n, withdrawalsMinor: 0n };
        if (f.kind === 'deposit') totals.depositsMinor += BigInt(f.amountMinor);
        else totals.withdrawalsMinor += BigInt(f.amountMinor);
        this.reserveTotals.set(e.subject, totals);
        break;
      }
      case 'wallet_opened':
        if (this.wallets.has(e.subject)) problems.push(`wallet ${e.subject} is opened twice`);
        else if (e.chain !== bankChainOf(f.bankId, Number(f.shard))) problems.push(`wallet ${e.subject} of bank ${f.bankId} is opened in chain ${e.chain}`);
        else {
          const keys = f.publicKey ? [{ publicKey: f.publicKey, afterBatchSeq: 0n }] : [];
          this.wallets.set(e.subject, { bankId: f.bankId, kind: f.kind, tier: f.tier, publicKey: f.publicKey, customerRef: f.customerRef, shard: f.shard, status: 'active', ...openedRefs(ref), keys });
        }
        break;
      case 'wallet_status_changed': {
        const w = this.changeableWallet(e, 'status change', problems);
        if (w) {
          w.status = f.status;
          w.statusRef = ref;
        }
        break;
      }
      // A tier or key change whose authority fails is named and not applied: the wallet keeps the
      // tier and key in force, so its row and every transfer signed with the unauthorised key are
      // named too (a compromised gateway holding the registry key cannot re-key a wallet unseen).
      case 'wallet_tier_changed': {
        const w = authorized ? this.changeableWallet(e, 'tier change', problems) : null;
        if (!w) break;
        if (w.kind !== 'customer') problems.push(`tier change of wallet ${e.subject}, a ${w.kind} wallet, which has no tier`);
        else if (!(TIERS as readonly string[]).includes(f.tier) || f.tier === w.tier) problems.push(`tier change of wallet ${e.subject} to ${f.tier || '(none)'}, not another tier`);
        else if (f.previousTier !== w.tier) problems.push(`tier change of wallet ${e.subject} from ${f.previousTier}, but its tier was ${w.tier}`);
        else {
          w.tier = f.tier;
          w.tierRef = ref;
        }
        break;
      }
      case 'wallet_key_replaced': {
        const w = authorized ? this.changeableWallet(e, 'key replacement', problems) : null;
        if (!w) break;
        const problem = keyReplacementProblem(w, f.publicKey, f.previousPublicKey, f.shardHeadSeq);
        if (problem) problems.push(`key replacement of wallet ${e.subject}: ${problem}`);
        else {
          w.publicKey = f.publicKey;
          w.keyRef = ref;
          w.keys.push({ publicKey: f.publicKey, afterBatchSeq: BigInt(f.shardHeadSeq) });
        }
        break;
      }
    }
    return problems;
  }

  /**
   * The wallet a change event may apply to: opened in this chain, not closed, and (when a bank
   * acts) one of the acting bank's own. Otherwise records why in `problems` and returns null.
   */
  private changeableWallet(e: RegistryEvent, what: string, problems: string[]): WalletFacts | null {
    const w = this.wallets.get(e.subject);
    if (!w || e.chain !== bankChainOf(w.bankId, Number(w.shard))) problems.push(`${what} of wallet ${e.subject}, which this chain never opened`);
    else if (w.status === 'closed') problems.push(`${what} of wallet ${e.subject} after it was closed`);
    else if (e.actorKind === 'bank' && e.actorId !== w.bankId) problems.push(`bank ${e.actorId} made a ${what} of wallet ${e.subject} of bank ${w.bankId}`);
    else return w;
    return null;
  }

  /** The customer key in force for the wallet at a batch of its shard (see keyInForce), hex, or null. */
  keyAt(walletId: string, batchSeq: bigint): string | null {
    const w = this.wallets.get(walletId);
    return w ? keyInForce(w.keys, batchSeq) : null;
  }

  /** The actor's key in force now, hex, or null. */
  private actorKey(e: RegistryEvent): string | null {
    if (e.actorKind === 'bank') return this.banks.get(e.actorId)?.publicKey ?? null;
    if (e.actorKind === 'operator') return this.operators.get(e.actorId)?.publicKey ?? null;
    return null;
  }

  private checkAuthority(e: RegistryEvent, a: Authority | null): string[] {
    if (!a) {
      if (e.authorityHash.some((b) => b !== 0)) return ['its authority is missing'];
      // The issuer key is the root of trust (it registers operators and banks); what it writes on
      // its own (bootstrap, seeded fixtures) needs no caller. Anything a gateway writes does.
      return e.signer === 'gateway' ? ['it was written by a gateway but carries no bank authority'] : [];
    }
    if (!authorityHashOf(a).equals(e.authorityHash)) return ['its stored authority is not the one it commits to'];
    const signatureHex = a.signature.toString('hex');
    if (this.usedAuthorities.has(signatureHex)) return ['its authority (a signed request) was already used by another event'];
    this.usedAuthorities.add(signatureHex);
    if (e.signer === 'gateway' && e.actorKind !== 'bank') return ['a gateway wrote it for an actor that is not a bank'];
    const key = this.actorKey(e);
    if (!key) return [`its actor ${e.actorKind} ${e.actorId} has no registered key`];
    if (!ed25519VerifyRaw(Buffer.from(key, 'hex'), a.message, a.signature)) return [`its authority does not verify against the key of ${e.actorKind} ${e.actorId}`];
    const binding = authorityBinding(e, a);
    return binding ? [binding] : [];
  }
}

function openedRefs(ref: string) {
  return { openedRef: ref, statusRef: ref, tierRef: ref, keyRef: ref };
}

const U63 = /^(0|[1-9][0-9]{0,18})$/;

/** What is wrong with a key replacement of `w` (a customer wallet replacing the key in force, in shard order), or null. */
function keyReplacementProblem(w: WalletFacts, publicKey: string, previousPublicKey: string, shardHeadSeq: string): string | null {
  if (w.kind !== 'customer') return `a ${w.kind} wallet has no customer key`;
  if (!/^[0-9a-f]{64}$/.test(publicKey ?? '') || publicKey === w.publicKey) return 'its new key is not another 32-byte key';
  if (previousPublicKey !== w.publicKey) return `it replaces key ${previousPublicKey || '(none)'}, but the key in force was ${w.publicKey || '(none)'}`;
  if (!U63.test(shardHeadSeq ?? '')) return 'its shard head seq is not a batch seq';
  // Batches are committed in seq order under the same lock as each replacement: a later
  // replacement cannot have been made at an earlier head.
  const last = w.keys[w.keys.length - 1];
  if (last && BigInt(shardHeadSeq) < last.afterBatchSeq) return `it was made at shard batch ${shardHeadSeq}, before the replacement it follows (batch ${last.afterBatchSeq})`;
  return null;
}

/** What a request must name for its signature to authorise this event; null if it does. */
export function authorityBinding(e: RegistryEvent, a: Authority): string | null {
  const lines = new Set(a.message.toString('utf8').split('\n'));
  if (!lines.has(sha256(a.body).toString('hex'))) return "its authority's body is not the one the request signed";
  const request = expectedRequest(e);
  if (!request) return `no request authorises a ${e.kind} event`;
  if (!lines.has('POST') || !lines.has(request.path)) return `its authority is not a POST ${request.path} request`;
  let body: Record<string, unknown> = {};
  try {
    if (a.body.length > 0) body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return "its authority's body is not JSON";
  }
  for (const [field, value] of Object.entries(request.body)) {
    const got = typeof body[field] === 'string' ? (body[field] as string) : undefined;
    if ((field === 'publicKey' ? got?.toLowerCase() : got) !== value) return `its authority's ${field} is not the event's`;
  }
  return null;
}

function expectedRequest(e: RegistryEvent): { path: string; body: Record<string, string> } | null {
  const f = e.facts;
  switch (e.kind) {
    case 'wallet_opened':
      if (f.kind !== 'customer' || e.actorId !== f.bankId) return null;
      return { path: '/v1/wallets', body: { publicKey: f.publicKey, tier: f.tier, customerRef: f.customerRef } };
    case 'operator_registered':
      return e.actorKind === 'operator' ? { path: '/v1/operators', body: { id: e.subject, name: f.name, publicKey: f.publicKey } } : null;
    case 'operator_key_changed':
      return { path: `/v1/operators/${e.subject}/key`, body: { publicKey: f.publicKey } };
    case 'wallet_status_changed': {
      const action = f.action ?? { frozen: 'freeze', active: 'unfreeze', closed: 'close' }[f.status];
      if (!action || (f.by === 'central') !== (e.actorKind === 'operator')) return null;
      return { path: `/v1/wallets/${e.subject}/${action}`, body: {} };
    }
    case 'wallet_tier_changed':
      return { path: `/v1/wallets/${e.subject}/tier`, body: { tier: f.tier, reason: f.reason } };
    case 'wallet_key_replaced':
      return { path: `/v1/wallets/${e.subject}/key`, body: { publicKey: f.publicKey, reason: f.reason } };
    case 'bank_onboarded':
      return { path: '/v1/banks', body: { id: e.subject, name: f.name, publicKey: f.publicKey } };
    case 'reserve_entry':
      return { path: `/v1/banks/${e.subject}/reserve/${f.kind}s`, body: { amountMinor: f.amountMinor, reference: f.reference } };
    default:
      return null;
  }
}
