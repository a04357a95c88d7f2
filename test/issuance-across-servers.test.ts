/**
 * Issuance and the audit across servers: four shards in two shard-group databases beside the
 * central one (shard s in group s mod 2). A mint or retire touches the central records and a
 * treasury in a group; it travels as a leg, exactly once, with a crash between its steps completed
 * by the issuer's recovery. The audit reads every server and proves conservation across them while
 * transfers and issuance run, and names tampering in a group's database with the group.
 *
 * Customer wallets are seeded into their groups and paid through settlement's queues directly
 * (attested as the test gateway): the gateway's own routing by shard is another change.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newCustomerKey, signTransfer, CbdcApiError } from '@cbdc/client';
import { run as cbdcRun, EXIT } from '@cbdc/cli/main';
import { audit, type AuditReport } from '@cbdc/db/audit';
import { recordSeededWallets } from '@cbdc/db/registry-seed';
import { ed25519PrivateKey, ed25519PublicKeyOfSeed, ed25519Sign, signerFromSeed } from '@cbdc/shared/crypto';
import { fundingAuthorityFor } from '@cbdc/shared/funding-authority';
import { fundingIdOf, newWalletId, shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import { attestJob, gatewayAttestor, shardQueue, type JobItem } from '@cbdc/shared/job';
import { consumerRedis } from '@cbdc/shared/redis';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import type { IssuanceHooks } from '@cbdc/issuer/execute';
import { REDIS, startTestSystem, TEST_GATEWAY_KEY_ID, type TestSystem } from './support/system.js';

const SHARDS = 4;
const groupOf = (shard: number) => shard % 2;

describe('issuance and the audit across servers (4 shards, 2 shard groups)', () => {
  let sys: TestSystem;
  const faults: IssuanceHooks = {};
  const bankSeeds = new Map<string, Buffer>();
  const customer = newCustomerKey();
  const wallets: Array<{ id: string; bankId: string; shard: number }> = [];
  let connection: ReturnType<typeof consumerRedis>;
  let queues: Queue[];

  const groupSql = (group: number) => sys.groupDbs[group].sql;
  const treasuryShard = (bankId: string) => shardOf(treasuryWalletId(bankId), SHARDS);
  const treasuryBalance = async (bankId: string) => {
    const [row] = await groupSql(groupOf(treasuryShard(bankId)))<{ balance_minor: bigint }[]>`select balance_minor from wallets where id = ${treasuryWalletId(bankId)}`;
    return row.balance_minor;
  };
  const auditAll = (): Promise<AuditReport> => audit(sys.topology.auditor, { trustedIssuerPublicKey: ed25519PublicKeyOfSeed(sys.keys.issuer) });
  const conserved = async () => {
    const report = await auditAll();
    expect(report.findings).toEqual([]);
    expect(BigInt(report.stats.walletBalancesMinor) + BigInt(report.stats.inFlightMinor)).toBe(BigInt(report.stats.supplyMinor));
    return report;
  };
  /** Fails the next matching step once, as a crash there would. */
  const crashOnce = (step: keyof IssuanceHooks) => {
    faults[step] = () => {
      delete faults[step];
      throw new Error(`injected crash ${step}`);
    };
  };
  const refusal = async (p: Promise<unknown>) => {
    const error = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CbdcApiError);
    return error as CbdcApiError;
  };

  /** Queues items on a shard as the test gateway would (attested with its key). */
  const submit = async (shard: number, items: JobItem[]) => {
    await queues[shard].add('t', attestJob(signerFromSeed(sys.keys.attestation), gatewayAttestor(TEST_GATEWAY_KEY_ID), 'test-direct', { shard, items }), { removeOnComplete: true, attempts: 5 });
  };
  const fundingItem = (w: { id: string; bankId: string; shard: number }, amount: bigint, key: string): JobItem => ({
    id: fundingIdOf(w.bankId, key),
    kind: 'funding',
    bankId: w.bankId,
    payerWalletId: treasuryWalletId(w.bankId),
    payeeWalletId: w.id,
    amountMinor: amount.toString(),
    nonce: null,
    expiresAtMs: null,
    memo: '',
    signature: null,
    submittedAtMs: Date.now(),
    payeeShard: w.shard,
    authority: fundingAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey: key, walletId: w.id, amountMinor: amount.toString(), timestampMs: Date.now() }, (message) =>
      ed25519Sign(ed25519PrivateKey(bankSeeds.get(w.bankId)!), message),
    ),
  });
  const transferItem = (from: { id: string; bankId: string; shard: number }, to: { id: string; shard: number }, amount: bigint): JobItem => {
    const { id, wire } = signTransfer({ payerWalletId: from.id, payeeWalletId: to.id, amountMinor: amount }, customer.privateKey);
    return { id, kind: 'transfer', bankId: from.bankId, ...wire, submittedAtMs: Date.now(), payeeShard: to.shard };
  };
  /** Waits until every transfer of `ids` is final (settled or rejected) in its payer's group. */
  const settled = async (ids: string[]) => {
    await vi.waitFor(
      async () => {
        let done = 0;
        for (const g of [0, 1]) done += (await groupSql(g)<{ n: number }[]>`select count(*)::int as n from transfers where id = any(${ids}) and status <> 'in_flight'`)[0].n;
        expect(done).toBe(ids.length);
      },
      { timeout: 20_000, interval: 100 },
    );
  };

  /** Onboards a bank (alice requests, bob approves); its API key is kept to sign its fundings. */
  const addBank = async (id: string): Promise<void> => {
    const seed = randomBytes(32);
    bankSeeds.set(id, seed);
    const pending = await sys.operators.alice.addBank({ id, name: `Bank ${id}`, publicKey: ed25519PublicKeyOfSeed(seed).toString('hex') });
    await sys.operators.bob.approveAction(pending.id);
  };

  beforeAll(async () => {
    // Recovery runs at each issuer start only, so that a test sees the state a crash left until it restarts the issuer.
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2, dualControlThresholdMinor: 10_000_000_000n, issuanceFaults: faults, issuanceRecoveryIntervalMs: 3_600_000 });
    connection = consumerRedis(REDIS);
    queues = Array.from({ length: SHARDS }, (_, s) => new Queue(shardQueue(sys.queuePrefix, s).name, { connection, prefix: shardQueue(sys.queuePrefix, s).prefix }));
    await addBank('bank-a');
    await addBank('bank-b');
    for (const bankId of ['bank-a', 'bank-b']) await sys.operators.alice.reserve(bankId, 'deposit', 100_000_000n, `dep-${bankId}`);
    // Customer wallets on every shard, each seeded into its shard's group database with its registry event.
    const issuer = signerFromSeed(sys.keys.issuer);
    while ([0, 1, 2, 3].some((s) => wallets.filter((w) => w.shard === s).length < 2)) {
      const id = newWalletId();
      const w = { id, bankId: wallets.length % 2 === 0 ? 'bank-a' : 'bank-b', shard: shardOf(id, SHARDS) };
      if (wallets.filter((o) => o.shard === w.shard).length >= 2) continue;
      const sql = groupSql(groupOf(w.shard));
      await sql.begin(async (tx) => {
        await tx`insert into wallets (id, bank_id, shard, kind, tier, public_key, customer_ref) values (${w.id}, ${w.bankId}, ${w.shard}, 'customer', 'II', ${Buffer.from(customer.publicKey, 'hex')}, ${`ref-${w.id}`})`;
        await recordSeededWallets(tx as never, issuer, w.bankId, [{ id: w.id, tier: 'II', publicKey: Buffer.from(customer.publicKey, 'hex'), customerRef: `ref-${w.id}`, shard: w.shard }]);
      });
      wallets.push(w);
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all((queues ?? []).map((q) => q.close()));
    connection?.disconnect();
    await sys?.close();
  });

  it('onboarding puts each treasury in its shard group, nowhere else', async () => {
    for (const bankId of ['bank-a', 'bank-b']) {
      const shard = treasuryShard(bankId);
      const here = await groupSql(groupOf(shard))<{ shard: number; kind: string }[]>`select shard, kind from wallets where id = ${treasuryWalletId(bankId)}`;
      expect(here).toEqual([{ shard, kind: 'treasury' }]);
      expect((await groupSql(1 - groupOf(shard))`select 1 from wallets where id = ${treasuryWalletId(bankId)}`).length).toBe(0);
      expect((await sys.db.sql`select 1 from wallets where id = ${treasuryWalletId(bankId)}`).length).toBe(0);
      // The bank itself, its reserve and its onboarding event are central only.
      expect((await sys.db.sql`select 1 from banks where id = ${bankId}`).length).toBe(1);
    }
    await conserved();
  });

  it('a treasury missing from its group is named by the audit and created again at the issuer start', async () => {
    const shard = treasuryShard('bank-b');
    await groupSql(groupOf(shard))`delete from wallets where id = ${treasuryWalletId('bank-b')}`;
    const report = await auditAll();
    expect(report.findings).toContainEqual(expect.objectContaining({ check: 'banks', subject: 'bank bank-b', message: expect.stringContaining(`its treasury t_bank-b has no row (shard ${shard}, group ${groupOf(shard)})`) }));
    await sys.restartIssuer();
    await conserved();
  });

  it('mints exactly once with a crash between the central step and the treasury leg, and after the leg', async () => {
    const shard = treasuryShard('bank-a');
    crashOnce('beforeTreasuryLeg');
    const first = await sys.operators.alice.issue('mint', 'bank-a', 5_000_000n);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: 'executed', legStatus: 'sent' });
    expect(await treasuryBalance('bank-a')).toBe(0n);
    // Money in flight: minted centrally, not yet in the treasury; the audit counts it.
    const during = await conserved();
    expect(during.stats.issuanceInFlightMinor).toBe('5000000');
    expect((await sys.operators.alice.supply()).issuanceInFlightMinor).toBe('5000000');

    crashOnce('afterTreasuryLeg');
    const second = await sys.operators.alice.issue('mint', 'bank-a', 3_000_000n);
    expect(second.body).toMatchObject({ status: 'executed', legStatus: 'sent' });
    // The group applied the second leg; the central database did not record it: not in flight, and not applied twice.
    expect(await treasuryBalance('bank-a')).toBe(3_000_000n);
    expect((await conserved()).stats.issuanceInFlightMinor).toBe('5000000');

    await sys.restartIssuer(); // its start completes both
    expect(await treasuryBalance('bank-a')).toBe(8_000_000n);
    const legs = await groupSql(groupOf(shard))<{ request_id: string; chain_seq: bigint }[]>`select request_id, chain_seq from issuance_legs where kind = 'mint' order by chain_seq`;
    expect(legs.map((l) => l.request_id)).toEqual([first.body.id, second.body.id]);
    expect(await sys.db.sql`select leg_status from issuance_requests where id = any(${[first.body.id, second.body.id]})`).toEqual([{ leg_status: 'delivered' }, { leg_status: 'delivered' }]);
    await sys.restartIssuer(); // again: nothing left, nothing applied twice
    expect(await treasuryBalance('bank-a')).toBe(8_000_000n);
    expect((await conserved()).stats.issuanceInFlightMinor).toBe('0');
  });

  it('retires exactly once with a crash after the treasury debit, and before it', async () => {
    await sys.operators.alice.issue('mint', 'bank-b', 4_000_000n);
    expect(await treasuryBalance('bank-b')).toBe(4_000_000n);
    const reserveBefore = (await sys.operators.alice.banks()).find((b) => b.id === 'bank-b')!.freeReserveMinor;

    crashOnce('afterTreasuryLeg');
    const first = await sys.operators.alice.issue('retire', 'bank-b', 1_000_000n);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ status: 'retiring', chainSeq: null });
    // Debited in the group, not yet retired centrally: in flight, counted.
    expect(await treasuryBalance('bank-b')).toBe(3_000_000n);
    expect((await conserved()).stats.issuanceInFlightMinor).toBe('1000000');

    crashOnce('beforeTreasuryLeg');
    const second = await sys.operators.alice.issue('retire', 'bank-b', 500_000n);
    expect(second.body).toMatchObject({ status: 'retiring' });
    expect(await treasuryBalance('bank-b')).toBe(3_000_000n);

    await sys.restartIssuer();
    expect(await treasuryBalance('bank-b')).toBe(2_500_000n);
    const rows = await sys.db.sql<{ status: string; chain_seq: bigint | null }[]>`select status, chain_seq from issuance_requests where id = any(${[first.body.id, second.body.id]})`;
    expect(rows.every((r) => r.status === 'executed' && r.chain_seq !== null)).toBe(true);
    const reserveAfter = (await sys.operators.alice.banks()).find((b) => b.id === 'bank-b')!.freeReserveMinor;
    expect(BigInt(reserveAfter) - BigInt(reserveBefore)).toBe(1_500_000n);
    // The issuances list shows both executed.
    const listed = await sys.operators.alice.issuances('executed');
    expect(listed.filter((i) => [first.body.id, second.body.id].includes(i.id)).length).toBe(2);
    await conserved();
  });

  it('refuses a retire of more than the treasury holds, and nothing moves', async () => {
    const before = { treasury: await treasuryBalance('bank-b'), supply: (await sys.operators.alice.supply()).supplyMinor };
    const refused = await refusal(sys.operators.alice.issue('retire', 'bank-b', before.treasury + 1n));
    expect(refused.problem.code).toBe('insufficient_treasury_balance');
    expect(await treasuryBalance('bank-b')).toBe(before.treasury);

    // Two retires that each fit but not together: both pass the early check, and the group, which
    // debits one after the other under the shard lock, refuses the second; it moves nothing.
    faults.beforeTreasuryLeg = () => {
      throw new Error('injected: the group is unreachable');
    };
    const share = (before.treasury * 6n) / 10n;
    const a = await sys.operators.alice.issue('retire', 'bank-b', share, 'retire-key-a');
    const b = await sys.operators.alice.issue('retire', 'bank-b', share, 'retire-key-b');
    expect([a.body.status, b.body.status]).toEqual(['retiring', 'retiring']);
    delete faults.beforeTreasuryLeg;
    await sys.restartIssuer();
    expect(await treasuryBalance('bank-b')).toBe(before.treasury - share);
    const outcomes = await sys.db.sql<{ id: string; status: string; code: string | null; chain_seq: bigint | null }[]>`
      select id, status, code, chain_seq from issuance_requests where id = any(${[a.body.id, b.body.id]}) order by chain_seq nulls last`;
    expect(outcomes.map((o) => [o.status, o.code])).toEqual([
      ['executed', null],
      ['refused', 'insufficient_treasury_balance'],
    ]);
    expect(outcomes[1].chain_seq).toBeNull();
    expect((await sys.operators.alice.issuances()).find((i) => i.id === outcomes[1].id)).toMatchObject({ status: 'refused', code: 'insufficient_treasury_balance', chainSeq: null });
    // Each request retried with its Idempotency-Key is answered with its outcome as it now stands.
    const [executedKey, refusedKey] = outcomes[0].id === a.body.id ? ['retire-key-a', 'retire-key-b'] : ['retire-key-b', 'retire-key-a'];
    const replayed = await sys.operators.alice.issue('retire', 'bank-b', share, executedKey);
    expect([replayed.status, replayed.body.status, replayed.body.chainSeq]).toEqual([201, 'executed', outcomes[0].chain_seq!.toString()]);
    expect((await refusal(sys.operators.alice.issue('retire', 'bank-b', share, refusedKey))).problem.code).toBe('insufficient_treasury_balance');
    expect(BigInt((await sys.operators.alice.supply()).supplyMinor)).toBe(BigInt(before.supply) - share);
    // The group recorded the refused debit as a leg that moved nothing.
    expect(await groupSql(groupOf(treasuryShard('bank-b')))`select status, code from issuance_legs where request_id = ${outcomes[1].id}`).toEqual([{ status: 'rejected', code: 'insufficient_treasury_balance' }]);
    await conserved();
  });

  it('conserves money and passes the audit across groups while transfers and issuance run', async () => {
    // Fund every wallet from its bank's treasury (treasury and wallet often in different groups).
    const fundings = wallets.map((w, i) => ({ shard: treasuryShard(w.bankId), item: fundingItem(w, 200_000n, `fund-${i}-${w.id}`) }));
    for (const f of fundings) await submit(f.shard, [f.item]);
    await settled(fundings.map((f) => f.item.id));

    const ids: string[] = [];
    let auditing = true;
    const audits = (async () => {
      let n = 0;
      while (auditing || n < 3) {
        await conserved();
        n++;
      }
      return n;
    })();
    for (let round = 0; round < 6; round++) {
      const items = wallets.map((from, i) => ({ from, to: wallets[(i + 1 + round) % wallets.length] })).filter(({ from, to }) => from.id !== to.id);
      const jobs = items.map(({ from, to }) => ({ shard: from.shard, item: transferItem(from, to, BigInt(100 + round)) }));
      await Promise.all(jobs.map((j) => submit(j.shard, [j.item])));
      ids.push(...jobs.map((j) => j.item.id));
      const bank = round % 2 === 0 ? 'bank-a' : 'bank-b';
      await sys.operators.alice.issue(round % 3 === 2 ? 'retire' : 'mint', bank, 10_000n);
    }
    await settled(ids);
    auditing = false;
    expect(await audits).toBeGreaterThanOrEqual(3);
    const report = await conserved();
    expect(report.stats.groups.map((g) => g.shards)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(report.stats.transfersInFlightMinor).toBe('0');
    const crossGroup = await groupSql(0)<{ n: number }[]>`select count(*)::int as n from transfer_legs where leg = 'credit' and from_shard % 2 = 1`;
    expect(crossGroup[0].n).toBeGreaterThan(0);
  }, 60_000);

  it("freezes a wallet in its group's database: row, freeze event, registry event and Idempotency-Key in one transaction there", async () => {
    const w = wallets.find((o) => groupOf(o.shard) === 1)!;
    const decision = { reason: 'court order', reference: 'CASE-9' };
    const frozen = await sys.operators.bob.walletControl(w.id, 'freeze', decision, 'freeze-case-9');
    expect(frozen.status).toBe('frozen');
    const count = async (q: ReturnType<typeof groupSql>, table: 'wallet_freeze_events' | 'registry_events' | 'idempotency_keys') =>
      (
        await (table === 'wallet_freeze_events'
          ? q<{ n: number }[]>`select count(*)::int as n from wallet_freeze_events where wallet_id = ${w.id}`
          : table === 'registry_events'
            ? q<{ n: number }[]>`select count(*)::int as n from registry_events where subject = ${w.id} and kind = 'wallet_status_changed'`
            : q<{ n: number }[]>`select count(*)::int as n from idempotency_keys where key = 'freeze-case-9'`)
      )[0].n;
    expect(await groupSql(1)`select status, central_freeze_reference from wallets where id = ${w.id}`).toEqual([{ status: 'frozen', central_freeze_reference: 'CASE-9' }]);
    expect([await count(groupSql(1), 'wallet_freeze_events'), await count(groupSql(1), 'registry_events'), await count(groupSql(1), 'idempotency_keys')]).toEqual([1, 1, 1]);
    expect([await count(sys.db.sql, 'registry_events'), await count(sys.db.sql, 'idempotency_keys')]).toEqual([0, 0]);
    // Retried with its key: the stored answer, nothing recorded twice.
    expect(await sys.operators.bob.walletControl(w.id, 'freeze', decision, 'freeze-case-9')).toEqual(frozen);
    expect(await count(groupSql(1), 'wallet_freeze_events')).toBe(1);
    await conserved();
    await sys.operators.bob.walletControl(w.id, 'unfreeze', { reason: 'order lifted', reference: 'CASE-9' });
    await conserved();
  });

  describe('tampering in a group database is named with its group', () => {
    const named = async (change: () => Promise<unknown>, undo: () => Promise<unknown>) => {
      await change();
      const report = await auditAll();
      await undo();
      expect(report.ok).toBe(false);
      return report.findings.map((f) => `${f.check}: ${f.subject}: ${f.message}`);
    };
    const someone = () => wallets.find((w) => groupOf(w.shard) === 1)!;

    it('a balance', async () => {
      const w = someone();
      const findings = await named(
        () => groupSql(1)`update wallets set balance_minor = balance_minor + 1 where id = ${w.id}`,
        () => groupSql(1)`update wallets set balance_minor = balance_minor - 1 where id = ${w.id}`,
      );
      expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^balance: group 1: wallet ${w.id}: stored balance`)));
      expect(findings).toContainEqual(expect.stringMatching(/^conservation: supply: .*group 1: balances/));
    });

    it('a credit leg', async () => {
      const [leg] = await groupSql(1)<{ transfer_id: string }[]>`select transfer_id from transfer_legs where leg = 'credit' limit 1`;
      const findings = await named(
        () => groupSql(1)`update transfer_legs set amount_minor = amount_minor + 1 where transfer_id = ${leg.transfer_id} and leg = 'credit'`,
        () => groupSql(1)`update transfer_legs set amount_minor = amount_minor - 1 where transfer_id = ${leg.transfer_id} and leg = 'credit'`,
      );
      expect(findings).toContainEqual(expect.stringMatching(/^settlement_chain: group 1: shard [13] batch \d+: the Merkle root/));
    });

    it('an issuance leg', async () => {
      const group = groupOf(treasuryShard('bank-a'));
      const [leg] = await groupSql(group)<{ request_id: string }[]>`select request_id from issuance_legs where kind = 'mint' limit 1`;
      const findings = await named(
        () => groupSql(group)`update issuance_legs set amount_minor = amount_minor + 1000 where request_id = ${leg.request_id}`,
        () => groupSql(group)`update issuance_legs set amount_minor = amount_minor - 1000 where request_id = ${leg.request_id}`,
      );
      expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^issuance_legs: group ${group}: issuance leg ${leg.request_id}: its kind, bank or amount`)));
      // An invented mint leg crediting a treasury (with its balance, so the history agrees) is named too.
      const fake = await named(
        () =>
          groupSql(group).begin(async (tx) => {
            await tx`insert into issuance_legs (request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, chain_seq, entry_hash)
                     values ('forged', 'mint', 'bank-a', 't_bank-a', ${treasuryShard('bank-a')}, 777, 'applied', 1, ${Buffer.alloc(32)})`;
            await tx`update wallets set balance_minor = balance_minor + 777 where id = 't_bank-a'`;
          }),
        () =>
          groupSql(group).begin(async (tx) => {
            await tx`delete from issuance_legs where request_id = 'forged'`;
            await tx`update wallets set balance_minor = balance_minor - 777 where id = 't_bank-a'`;
          }),
      );
      expect(fake).toContainEqual(`issuance_legs: group ${group}: issuance leg forged: no issuance request in the central database accounts for it`);
      expect(fake).toContainEqual(expect.stringMatching(/^conservation: supply/));
    });

    it('a registry event', async () => {
      const w = someone();
      const chain = `bank:${w.bankId}/shard:${w.shard}`;
      const findings = await named(
        () => groupSql(1)`update registry_events set facts = jsonb_set(facts, '{tier}', '"I"') where chain = ${chain} and subject = ${w.id} and kind = 'wallet_opened'`,
        () => groupSql(1)`update registry_events set facts = jsonb_set(facts, '{tier}', '"II"') where chain = ${chain} and subject = ${w.id} and kind = 'wallet_opened'`,
      );
      expect(findings).toContainEqual(expect.stringMatching(new RegExp(`^registry_chain: group 1: registry bank:${w.bankId}/shard:${w.shard} event \\d+: its content does not hash`)));
    });

    it('a wallet moved into the other group', async () => {
      const w = wallets.find((o) => groupOf(o.shard) === 0)!;
      const [row] = await groupSql(0)`select * from wallets where id = ${w.id}`;
      const findings = await named(
        () =>
          groupSql(0).begin(async (tx) => {
            await tx`delete from wallets where id = ${w.id}`;
            await groupSql(1)`insert into wallets ${groupSql(1)(row as never)}`;
          }),
        () =>
          groupSql(1).begin(async (tx) => {
            await tx`delete from wallets where id = ${w.id}`;
            await groupSql(0)`insert into wallets ${groupSql(0)(row as never)}`;
          }),
      );
      expect(findings).toContainEqual(`wallets: group 1: wallet ${w.id}: it is in the database of group 1, which does not hold its shard ${w.shard}`);
    });
  });

  it('cbdc supply totals across groups, and cbdc audit reads every server', async () => {
    const capture = async (args: string[]) => {
      let stdout = '';
      const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
      process.env.CBDC_OPERATOR_KEY = sys.operatorKeys.alice;
      try {
        return { code: await cbdcRun(args), stdout };
      } finally {
        out.mockRestore();
        delete process.env.CBDC_OPERATOR_KEY;
      }
    };
    const supply = JSON.parse((await capture(['--issuer-url', sys.issuerUrl, '--operator', 'alice', '--json', 'supply'])).stdout);
    expect(supply.groups.map((g: { shards: number[] }) => g.shards)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    const sum = supply.groups.reduce((s: bigint, g: { walletBalancesMinor: string }) => s + BigInt(g.walletBalancesMinor), 0n);
    expect(sum.toString()).toBe(supply.walletBalancesMinor);
    expect(BigInt(supply.walletBalancesMinor) + BigInt(supply.inFlightMinor)).toBe(BigInt(supply.supplyMinor));
    let balances = 0n;
    for (const g of [0, 1]) balances += (await groupSql(g)<{ s: bigint }[]>`select coalesce(sum(balance_minor), 0)::bigint as s from wallets`)[0].s;
    expect(supply.walletBalancesMinor).toBe(balances.toString());

    const shardDatabases = sys.shardGroups.map((g) => `${g.shards.join(',')}=${g.url}`).join(';');
    const audited = await capture(['--database-url', sys.db.url, '--shard-databases', shardDatabases, 'audit']);
    expect(audited.stdout, audited.stdout).toContain('audit passed');
    expect(audited.stdout).toContain('group 1 (shards 1,3)');
    expect(audited.code).toBe(EXIT.ok);
    // Without the groups, the central database alone does not add up: the audit says so.
    const alone = await capture(['--database-url', sys.db.url, '--shards', '4', '--json', 'audit']);
    expect(alone.code).toBe(EXIT.auditFailed);
  });

  it("a mint while its treasury's group database refuses connections executes centrally, and is credited once the group is back", async () => {
    const group = groupOf(treasuryShard('bank-a'));
    const name = new URL(sys.groupDbs[group].url).pathname.slice(1);
    const admin = sys.db.sql; // the owner's connection to the central database (a superuser here)
    const before = await treasuryBalance('bank-a');
    await admin`alter database ${admin(name)} allow_connections false`;
    try {
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
      const res = await sys.operators.alice.issue('mint', 'bank-a', 1_000n);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'executed', legStatus: 'sent' });
      await sys.restartIssuer(); // its recovery cannot reach the group yet: the mint stays sent
      expect((await sys.db.sql`select leg_status from issuance_requests where id = ${res.body.id}`)[0].leg_status).toBe('sent');
    } finally {
      await admin`alter database ${admin(name)} allow_connections true`;
    }
    await sys.restartIssuer();
    expect(await treasuryBalance('bank-a')).toBe(before + 1_000n);
    await sys.restartIssuer();
    expect(await treasuryBalance('bank-a')).toBe(before + 1_000n);
    expect((await conserved()).stats.issuanceInFlightMinor).toBe('0');
  });
});
