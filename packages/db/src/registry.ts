/**
 * Appending to the registry chains (see @cbdc/shared/registry): one function, called inside the
 * transaction that changes the governing row, so that the row and its event commit together. It
 * locks the chain's head row; take it after every other lock of the transaction.
 */
import { bankChainOf, authorityHashOf, CENTRAL_CHAIN, registryEventHash, type ActorKind, type Authority, type Facts, type RegistryEvent, type RegistryKind, type SignerRole } from '@cbdc/shared/registry';
import type { Signer } from '@cbdc/shared/crypto';
import type { Sql } from './connect.js';

export { bankChainOf, CENTRAL_CHAIN };

/** The key that signs a service's registry events, and which role it signs as. */
export interface RegistrySigner {
  role: SignerRole;
  signer: Signer;
}

/** What a caller asserts; the chain position, hashes and signature are added on append. */
export interface NewRegistryEvent {
  chain: string;
  kind: RegistryKind;
  subject: string;
  facts: Facts;
  actorKind: ActorKind;
  actorId: string;
  authority: Authority | null;
  timeMs: number;
}

/** Appends one event to its chain inside `tx`; returns its seq. */
export async function appendRegistryEvent(tx: Sql, signer: RegistrySigner, event: NewRegistryEvent): Promise<bigint> {
  const [last] = await appendRegistryEvents(tx, signer, [event]);
  return last;
}

/** Appends events (all to the same chain) in order inside `tx`: the bulk form, for seeding. */
export async function appendRegistryEvents(tx: Sql, signer: RegistrySigner, events: readonly NewRegistryEvent[]): Promise<bigint[]> {
  if (events.length === 0) return [];
  const chain = events[0].chain;
  if (events.some((e) => e.chain !== chain)) throw new Error('appendRegistryEvents: one chain per call');
  await tx`insert into registry_heads (chain) values (${chain}) on conflict (chain) do nothing`;
  const [head] = await tx<{ seq: bigint; hash: Buffer }[]>`select seq, hash from registry_heads where chain = ${chain} for update`;
  let seq = head.seq;
  let prevHash = head.hash;
  const rows = events.map((n) => {
    seq += 1n;
    const event: RegistryEvent = {
      chain,
      seq,
      prevHash,
      kind: n.kind,
      subject: n.subject,
      facts: n.facts,
      actorKind: n.actorKind,
      actorId: n.actorId,
      authorityHash: authorityHashOf(n.authority),
      signer: signer.role,
      timeMs: BigInt(n.timeMs),
    };
    const hash = registryEventHash(event);
    prevHash = hash;
    return {
      chain,
      seq: seq.toString(),
      prev_hash: event.prevHash,
      kind: n.kind,
      subject: n.subject,
      facts: n.facts as Record<string, string>,
      actor_kind: n.actorKind,
      actor_id: n.actorId,
      authority_message: n.authority?.message ?? null,
      authority_signature: n.authority?.signature ?? null,
      authority_body: n.authority?.body ?? null,
      authority_hash: event.authorityHash,
      signer: signer.role,
      signer_key: signer.signer.publicKey,
      time_ms: n.timeMs,
      hash,
      signature: signer.signer.sign(hash),
    };
  });
  for (let i = 0; i < rows.length; i += 2000) await tx`insert into registry_events ${tx(rows.slice(i, i + 2000) as never)}`;
  await tx`update registry_heads set seq = ${seq.toString()}, hash = ${prevHash} where chain = ${chain}`;
  return rows.map((r) => BigInt(r.seq));
}
