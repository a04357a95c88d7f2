/**
 * Issue #12 finding 4: with write access to Postgres, a DBA changes a fact that governs money,
 * and the audit must name the table and row. A normal scenario runs through the real APIs; each
 * test then tampers with SQL as a DBA would, audits, and (where the change can be undone) undoes
 * it so that the next test starts from a clean audit. The last tests go on to use what they
 * forged (spend with a replaced key, approve with an inserted operator, mint an inserted deposit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCustomerKey, OperatorClient, signTransfer, type BankClient } from '@cbdc/client';
import { audit, type AuditReport } from '@cbdc/db/audit';
import { ed25519PublicKeyOfSeed, signerFromSeed } from '@cbdc/shared/crypto';
import { registryEventHash, registrySignerOfAttestationKey, type RegistryEvent } from '@cbdc/shared/registry';
import { randomBytes } from 'node:crypto';
import { startTestSystem, type TestSystem } from './support/system.js';

const YUAN = 100n;

describe('the audit names every tampered governing row', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const alice = newCustomerKey();
  const bob = newCustomerKey();
  const carol = newCustomerKey();
  let aliceWallet: string;
  let bobWallet: string;
  let carolWallet: string;

  const run = () => audit(sys.db.sql, { trustedIssuerPublicKey: ed25519PublicKeyOfSeed(sys.keys.issuer) });
  const named = (report: AuditReport) => report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);
  /** Tampers, audits, undoes; returns what the tampered audit said. */
  const tampered = async (change: () => Promise<unknown>, undo: () => Promise<unknown>): Promise<string[]> => {
    await change();
    const report = await run();
    await undo();
    expect(report.ok).toBe(false);
    return named(report);
  };

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: 1_000_000n * YUAN });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await sys.operators.alice.reserve('bank-a', 'deposit', 500_000n * YUAN, 'RTGS-A-1');
    await sys.operators.alice.reserve('bank-b', 'deposit', 500_000n * YUAN, 'RTGS-B-1');
    await sys.operators.alice.issue('mint', 'bank-a', 200_000n * YUAN);
    await sys.operators.alice.issue('mint', 'bank-b', 100_000n * YUAN);
    aliceWallet = (await bankA.openWallet({ publicKey: alice.publicKey, customerRef: 'cust-a', tier: 'II' })).id;
    bobWallet = (await bankB.openWallet({ publicKey: bob.publicKey, customerRef: 'cust-b', tier: 'IV' })).id;
    carolWallet = (await bankA.openWallet({ publicKey: carol.publicKey, customerRef: 'cust-c', tier: 'IV' })).id;
    await bankA.fund(aliceWallet, 20_000n * YUAN, 'fund-alice-1');
    await bankA.fund(carolWallet, 1_000n * YUAN, 'fund-carol-1');
    const pay = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 1_200n * YUAN }, alice.privateKey);
    expect((await bankA.transfer(pay.wire)).body.status).toBe('settled');
    // Bank freezes and unfreezes alice; the central bank freezes carol.
    await bankA.setWalletStatus(aliceWallet, 'freeze', 'customer request');
    await bankA.setWalletStatus(aliceWallet, 'unfreeze', 'customer request');
    await sys.operators.bob.walletControl(carolWallet, 'freeze', { reason: 'court order', reference: 'CASE-7' });
  });
  afterAll(async () => sys?.close());

  it('passes on the untampered scenario, having replayed every registry chain', async () => {
    const report = await run();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    const [{ n }] = await sys.db.sql<{ n: number }[]>`select count(*)::int as n from registry_events`;
    // 2 operators, 2 banks, 2 reserve entries; 3 wallets opened, 3 status changes.
    expect(n).toBe(12);
  });

  it("names a bank's event altered, deleted or forged (docs/events.md: the outbox agrees with the ledger)", async () => {
    const [paid] = await sys.db.sql<{ shard: number; seq: bigint; subject_id: string; amount_minor: bigint }[]>`
      select shard, seq, subject_id, amount_minor from events where bank_id = 'bank-b' and type = 'payment.received' and wallet_id = ${bobWallet}`;
    const altered = await tampered(
      () => sys.db.sql`update events set amount_minor = amount_minor + 1 where bank_id = 'bank-b' and shard = ${paid.shard} and seq = ${paid.seq}`,
      () => sys.db.sql`update events set amount_minor = ${paid.amount_minor.toString()} where bank_id = 'bank-b' and shard = ${paid.shard} and seq = ${paid.seq}`,
    );
    expect(altered).toContain(`events: event evt_${paid.shard}_${paid.seq} of bank bank-b: payment.received of ${paid.subject_id}: no settled transfer or applied credit on this shard pays its wallet its amount`);
    const [first] = await sys.db.sql<Record<string, unknown>[]>`select * from events where bank_id = 'bank-a' and shard = 0 and seq = 1`;
    const deleted = await tampered(
      () => sys.db.sql`delete from events where bank_id = 'bank-a' and shard = 0 and seq = 1`,
      () => sys.db.sql`insert into events ${sys.db.sql(first)}`,
    );
    expect(deleted).toContainEqual(expect.stringMatching(/^events: events of bank bank-a on shard 0: hold \d+ event\(s\), seqs 2\.\.\d+, where retention and head say 1\.\.\d+$/));
    const forgedId = 'f'.repeat(64);
    const forged = await tampered(
      () => sys.db.sql`
        with h as (update event_heads set seq = seq + 1 where bank_id = 'bank-a' and shard = 0 returning seq)
        insert into events (bank_id, shard, seq, type, subject_id, wallet_id, amount_minor, at_ms) select 'bank-a', 0, seq, 'transfer.settled', ${forgedId}, ${aliceWallet}, 5, 0 from h`,
      () => sys.db.sql`with d as (delete from events where subject_id = ${forgedId} returning seq) update event_heads set seq = seq - 1 where bank_id = 'bank-a' and shard = 0`,
    );
    expect(forged).toContainEqual(expect.stringMatching(new RegExp(`^events: event evt_0_\\d+ of bank bank-a: transfer.settled of ${forgedId}: its transfer is not recorded on this shard$`)));
    expect((await run()).findings).toEqual([]);
  });

  it("names a funding whose bank authority was removed or replaced (finding 5: a funding moves money only on its bank's signature)", async () => {
    const [row] = await sys.db.sql<{ id: string; funding_request: Record<string, string>; signature: Buffer }[]>`
      select id, funding_request, signature from transfers where kind = 'funding' and payee_wallet_id = ${aliceWallet}`;
    const expected = `transfer: transfer ${row.id}: its bank's signed funding request is missing, asks for another funding, or does not verify against bank bank-a's registered key`;
    const restore = () => sys.db.sql`update transfers set funding_request = ${sys.db.sql.json(row.funding_request)}, signature = ${row.signature} where id = ${row.id}`;
    expect(await tampered(() => sys.db.sql`update transfers set funding_request = null, signature = null where id = ${row.id}`, restore)).toContain(expected);
    expect(await tampered(() => sys.db.sql`update transfers set signature = ${signerFromSeed(randomBytes(32)).sign(Buffer.from('x'))} where id = ${row.id}`, restore)).toContain(expected);
    // The bank's real signature, but its request re-pointed at another wallet.
    const elsewhere = { ...row.funding_request, body: row.funding_request.body.replace(aliceWallet, carolWallet) };
    expect(await tampered(() => sys.db.sql`update transfers set funding_request = ${sys.db.sql.json(elsewhere)} where id = ${row.id}`, restore)).toContain(expected);
  });

  it('names a wallet whose tier was raised to pass its caps', async () => {
    const findings = await tampered(
      () => sys.db.sql`update wallets set tier = 'II' where id = ${bobWallet}`,
      () => sys.db.sql`update wallets set tier = 'IV' where id = ${bobWallet}`,
    );
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${bobWallet}: tier differs from its registry event \\(registry bank:bank-b/shard:0 event 1\\)`)));
  });

  it('names a centrally frozen wallet reactivated', async () => {
    // As a DBA would: the freeze's columns cleared with the status (a check constraint ties them).
    const [row] = await sys.db.sql<Record<string, unknown>[]>`select central_frozen_by, central_freeze_reason, central_freeze_reference, central_frozen_at from wallets where id = ${carolWallet}`;
    const findings = await tampered(
      () => sys.db.sql`update wallets set status = 'active', central_frozen_by = null, central_freeze_reason = null, central_freeze_reference = null, central_frozen_at = null where id = ${carolWallet}`,
      () => sys.db.sql`update wallets set status = 'frozen', ${sys.db.sql(row)} where id = ${carolWallet}`,
    );
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${carolWallet}: status differs from its registry event .*stored active, registered frozen`)));
  });

  it('names a daily outflow reset', async () => {
    const [{ spent }] = await sys.db.sql<{ spent: bigint }[]>`select daily_spent_minor as spent from wallets where id = ${aliceWallet}`;
    expect(spent).toBe(1_200n * YUAN);
    const findings = await tampered(
      () => sys.db.sql`update wallets set daily_spent_minor = 0 where id = ${aliceWallet}`,
      () => sys.db.sql`update wallets set daily_spent_minor = ${spent.toString()} where id = ${aliceWallet}`,
    );
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^daily_outflow: wallet ${aliceWallet}: stored daily outflow 0 .* but its transfers give ${spent}`)));
  });

  it('names a wallet moved to another bank', async () => {
    const findings = await tampered(
      () => sys.db.sql`update wallets set bank_id = 'bank-b' where id = ${aliceWallet}`,
      () => sys.db.sql`update wallets set bank_id = 'bank-a' where id = ${aliceWallet}`,
    );
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${aliceWallet}: bank differs from its registry event`)));
  });

  it('names a wallet row that no event opened, and a customer reference changed', async () => {
    const ghost = 'w_0000000000000000000000ff';
    const findings = await tampered(
      async () => {
        await sys.db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key, customer_ref) values (${ghost}, 'bank-a', 0, 'customer', 'I', ${Buffer.from(alice.publicKey, 'hex')}, 'ghost')`;
        await sys.db.sql`update wallets set customer_ref = 'someone-else' where id = ${bobWallet}`;
      },
      async () => {
        await sys.db.sql`delete from wallets where id = ${ghost}`;
        await sys.db.sql`update wallets set customer_ref = 'cust-b' where id = ${bobWallet}`;
      },
    );
    expect(findings).toContain(`wallets: wallet ${ghost}: no registry event opens it`);
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${bobWallet}: customer reference differs`)));
  });

  it('names a wallet whose row was deleted', async () => {
    const [row] = await sys.db.sql<Record<string, unknown>[]>`select * from wallets where id = ${carolWallet}`;
    const events = await sys.db.sql<Record<string, unknown>[]>`select * from wallet_freeze_events where wallet_id = ${carolWallet}`;
    const findings = await tampered(
      () =>
        sys.db.sql.begin(async (tx) => {
          await tx`delete from wallet_freeze_events where wallet_id = ${carolWallet}`;
          await tx`delete from wallets where id = ${carolWallet}`;
        }),
      () =>
        sys.db.sql.begin(async (tx) => {
          await tx`insert into wallets ${tx(row)}`;
          for (const e of events) await tx`insert into wallet_freeze_events ${tx(e)}`;
        }),
    );
    expect(findings).toContain(`wallets: wallet ${carolWallet}: opened by registry bank:bank-a/shard:0 event 2 but has no row`);
  });

  it('names a bank whose API key was replaced', async () => {
    const [{ key }] = await sys.db.sql<{ key: Buffer }[]>`select public_key as key from banks where id = 'bank-a'`;
    const findings = await tampered(
      () => sys.db.sql`update banks set public_key = ${ed25519PublicKeyOfSeed(randomBytes(32))} where id = 'bank-a'`,
      () => sys.db.sql`update banks set public_key = ${key} where id = 'bank-a'`,
    );
    expect(findings).toContainEqual(expect.stringMatching(/^banks: bank bank-a: public key differs from its onboarding event \(registry central event \d+\)/));
  });

  it('names an altered reserve entry and a reserve account that does not add up', async () => {
    const findings = await tampered(
      async () => {
        await sys.db.sql`update reserve_entries set amount_minor = amount_minor + 100 where bank_id = 'bank-b'`;
        await sys.db.sql`update bank_reserves set free_minor = free_minor + 100 where bank_id = 'bank-b'`;
      },
      async () => {
        await sys.db.sql`update reserve_entries set amount_minor = amount_minor - 100 where bank_id = 'bank-b'`;
        await sys.db.sql`update bank_reserves set free_minor = free_minor - 100 where bank_id = 'bank-b'`;
      },
    );
    expect(findings).toContainEqual(expect.stringMatching(/^reserve_entries: reserve entry \d+: amount differs from its registry event/));
    expect(findings).toContainEqual(expect.stringMatching(/^reserve: bank bank-b: free reserve/));
  });

  it('names an issuance request whose amount no longer matches the entry it produced', async () => {
    const findings = await tampered(
      () => sys.db.sql`update issuance_requests set amount_minor = amount_minor + 1 where bank_id = 'bank-b'`,
      () => sys.db.sql`update issuance_requests set amount_minor = amount_minor - 1 where bank_id = 'bank-b'`,
    );
    expect(findings).toContainEqual(expect.stringMatching(/^issuance_requests: issuance request [0-9a-f-]+: its kind, bank or amount differ from issuance entry 2/));
  });

  it('names an operator whose key was replaced', async () => {
    const [{ key }] = await sys.db.sql<{ key: Buffer }[]>`select public_key as key from operators where id = 'bob'`;
    const findings = await tampered(
      () => sys.db.sql`update operators set public_key = ${ed25519PublicKeyOfSeed(randomBytes(32))} where id = 'bob'`,
      () => sys.db.sql`update operators set public_key = ${key} where id = 'bob'`,
    );
    expect(findings).toContainEqual(expect.stringMatching(/^operators: operator bob: public key differs from its registration \(registry central event \d+\); every approval it signed is suspect/));
  });

  it("names an altered registry event, and one re-signed with a key that is not the issuer's", async () => {
    const [row] = await sys.db.sql<{ seq: bigint; facts: Record<string, string> }[]>`select seq, facts from registry_events where chain = ${'bank:bank-b/shard:0'} and seq = 1`;
    const altered = await tampered(
      () => sys.db.sql`update registry_events set facts = ${sys.db.sql.json({ ...row.facts, tier: 'II' })} where chain = 'bank:bank-b/shard:0' and seq = 1`,
      () => sys.db.sql`update registry_events set facts = ${sys.db.sql.json(row.facts)} where chain = 'bank:bank-b/shard:0' and seq = 1`,
    );
    expect(altered).toContain('registry_chain: registry bank:bank-b/shard:0 event 1: its content does not hash to its stored hash (the event was altered)');

    // A DBA re-signs the central chain's first event (an operator registration) with a key of
    // their own: the links hold, only the trusted issuer key tells.
    const [first] = await sys.db.sql<{ hash: Buffer; signature: Buffer; signer_key: Buffer }[]>`select hash, signature, signer_key from registry_events where chain = 'central' and seq = 1`;
    const rogue = signerFromSeed(randomBytes(32));
    const resigned = await tampered(
      () => sys.db.sql`update registry_events set signature = ${rogue.sign(first.hash)}, signer_key = ${rogue.publicKey} where chain = 'central' and seq = 1`,
      () => sys.db.sql`update registry_events set signature = ${first.signature}, signer_key = ${first.signer_key} where chain = 'central' and seq = 1`,
    );
    expect(resigned).toContain('registry_chain: registry central event 1: it is signed by a key that is not a trusted issuer key');
  });

  it('names a forged wallet-opening event that carries no bank authority, even when its link is validly built', async () => {
    // What a gateway host (holding the gateway's registry key) could write without the bank.
    const [head] = await sys.db.sql<{ seq: bigint; hash: Buffer }[]>`select seq, hash from registry_heads where chain = 'bank:bank-a/shard:0'`;
    const gatewaySigner = registrySignerOfAttestationKey(sys.keys.attestation);
    const ghost = 'w_00000000000000000000abcd';
    const event: RegistryEvent = {
      chain: 'bank:bank-a/shard:0',
      seq: head.seq + 1n,
      prevHash: head.hash,
      kind: 'wallet_opened',
      subject: ghost,
      facts: { bankId: 'bank-a', kind: 'customer', tier: 'I', publicKey: alice.publicKey, customerRef: 'forged', shard: '0' },
      actorKind: 'bank',
      actorId: 'bank-a',
      authorityHash: Buffer.alloc(32),
      signer: 'gateway',
      timeMs: BigInt(Date.now()),
    };
    const hash = registryEventHash(event);
    const findings = await tampered(
      async () => {
        await sys.db.sql`insert into wallets (id, bank_id, shard, kind, tier, public_key, customer_ref) values (${ghost}, 'bank-a', 0, 'customer', 'I', ${Buffer.from(alice.publicKey, 'hex')}, 'forged')`;
        await sys.db.sql`
          insert into registry_events (chain, seq, prev_hash, kind, subject, facts, actor_kind, actor_id, authority_hash, signer, signer_key, time_ms, hash, signature)
          values ('bank:bank-a/shard:0', ${event.seq.toString()}, ${event.prevHash}, 'wallet_opened', ${ghost}, ${sys.db.sql.json(event.facts as Record<string, string>)}, 'bank', 'bank-a',
                  ${event.authorityHash}, 'gateway', ${gatewaySigner.publicKey}, ${event.timeMs.toString()}, ${hash}, ${gatewaySigner.sign(hash)})`;
        await sys.db.sql`update registry_heads set seq = ${event.seq.toString()}, hash = ${hash} where chain = 'bank:bank-a/shard:0'`;
      },
      async () => {
        await sys.db.sql`delete from registry_events where chain = 'bank:bank-a/shard:0' and seq = ${event.seq.toString()}`;
        await sys.db.sql`update registry_heads set seq = ${head.seq.toString()}, hash = ${head.hash} where chain = 'bank:bank-a/shard:0'`;
        await sys.db.sql`delete from wallets where id = ${ghost}`;
      },
    );
    expect(findings).toContain(`registry_chain: registry bank:bank-a/shard:0 event ${event.seq}: it was written by a gateway but carries no bank authority`);
    expect((await run()).ok).toBe(true);
  });

  it('names a customer key replaced and the payment then signed with it', async () => {
    const mallory = newCustomerKey();
    await sys.db.sql.begin(async (tx) => {
      await tx`update wallets set public_key = ${Buffer.from(mallory.publicKey, 'hex')} where id = ${aliceWallet}`;
      await tx`update shards set wallets_version = wallets_version + 1`;
    });
    await sys.restartGateway(); // its cache of wallet keys expires anyway; do not wait for it
    const theft = signTransfer({ payerWalletId: aliceWallet, payeeWalletId: bobWallet, amountMinor: 500n * YUAN }, mallory.privateKey);
    expect((await bankA.transfer(theft.wire)).body.status).toBe('settled');
    const findings = named(await run());
    expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^wallets: wallet ${aliceWallet}: public key differs from its registry event \\(registry bank:bank-a/shard:0 event 1\\)`)));
    expect(findings).toContain(`transfer: transfer ${theft.id}: the payer's signature does not verify over its stored content`);
  });

  it('names an inserted operator and the mint it approved for its creator', async () => {
    const mallory = newCustomerKey();
    await sys.db.sql`insert into operators (id, name, public_key) values ('mallory', 'mallory', ${Buffer.from(mallory.publicKey, 'hex')})`;
    const malloryClient = new OperatorClient(sys.issuerUrl, 'mallory', mallory.privateKey);
    // Above the dual-control threshold both the deposit and the mint wait for a second operator: mallory.
    const { body: deposit } = await sys.operators.alice.reserve('bank-a', 'deposit', 1_000_001n * YUAN, 'RTGS-A-2');
    await malloryClient.approveAction(deposit.id);
    const { body: pending } = await sys.operators.alice.issue('mint', 'bank-a', 1_000_001n * YUAN);
    expect(pending.status).toBe('pending_approval');
    const approved = await malloryClient.approve(pending.id);
    expect(approved.status).toBe('executed');
    const findings = named(await run());
    expect(findings).toContain('operators: operator mallory: no registry event registers it; every approval it signed is suspect');
    // The reserve deposit it approved is named too (the one dual-control path records every approver).
    expect(findings).toContain(`operator_actions: operator action ${deposit.id} (reserve_deposit, executed): approved by operator mallory, whom no registry event accounts for: what it executed is suspect`);
    expect(findings).toContain(`issuance_requests: issuance request ${pending.id}: approved by operator mallory, whom no registry event accounts for: issuance entry ${approved.chainSeq} is suspect`);
  });

  it('names a reserve deposit inserted and then minted', async () => {
    await sys.db.sql.begin(async (tx) => {
      await tx`insert into reserve_entries (bank_id, kind, amount_minor, reference, operator_id) values ('bank-b', 'deposit', ${(50_000n * YUAN).toString()}, 'INVENTED', 'alice')`;
      await tx`update bank_reserves set free_minor = free_minor + ${(50_000n * YUAN).toString()} where bank_id = 'bank-b'`;
    });
    const [{ free }] = await sys.db.sql<{ free: bigint }[]>`select free_minor as free from bank_reserves where bank_id = 'bank-b'`;
    expect((await sys.operators.alice.issue('mint', 'bank-b', free)).status).toBe(201);
    const findings = named(await run());
    expect(findings).toContainEqual(expect.stringMatching(/^reserve_entries: reserve entry \d+: no registry event records this deposit of 5000000 for bank bank-b/));
    expect(findings).toContainEqual(expect.stringMatching(/^reserve: bank bank-b: free reserve 0 but the registry's deposits - withdrawals - mints \+ retirements give -5000000/));
  });
});
