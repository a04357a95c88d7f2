/**
 * The gateway with the ledger split over shard-group databases (issue #13, item 2): 4 shards over
 * 2 group databases beside the central one. Every wallet row, transfer and leg lands in its shard's
 * group and nowhere else; reads, history pages, receipts and Idempotency-Keys work across groups;
 * bank scoping and privacy hold; and with one group's database unreachable, the other group's
 * wallets still open and pay while the dead group's requests answer 503. Real Postgres and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signTransfer, verifyReceipt, type BankClient } from '@cbdc/client';
import type { Sql } from '@cbdc/db/connect';
import { shardOf, treasuryWalletId, walletIdOf } from '@cbdc/shared/ids';
import { ed25519PublicKeyOfSeed } from '@cbdc/shared/crypto';
import { startTestSystem, type TestSystem } from './support/system.js';

const SHARDS = 4;
const YUAN = 100n;
const groupOf = (walletId: string) => shardOf(walletId, SHARDS) % 2;

/**
 * Stands in for the issuer's side of the split (onboarding and mints as legs, another change):
 * copies the bank (and the operators it refers to) into each group database and places its
 * treasury, holding `treasuryMinor`, in its shard's group.
 */
/** Funds a bank's treasury the way the central bank does: a reserve deposit and a mint (its treasury leg lands in the treasury's group). */
async function placeBank(sys: TestSystem, bankId: string, treasuryMinor: bigint): Promise<void> {
  const deposit = await sys.operators.alice.reserve(bankId, 'deposit', treasuryMinor, `dep-${bankId}`);
  if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
  const mint = await sys.operators.alice.issue('mint', bankId, treasuryMinor);
  if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
}

/** An Idempotency-Key whose wallet lands in `group`: keyed openings derive the wallet id from bank and key. */
function keyForGroup(bankId: string, group: number, tag: string): string {
  for (let i = 0; ; i++) {
    const key = `${tag}-${i}-open-key`;
    if (groupOf(walletIdOf(bankId, key)) === group) return key;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const problemOf = (e: unknown) => (e instanceof CbdcApiError ? e.problem : { code: String(e), status: 0 });

describe('the gateway over shard groups (4 shards, 2 group databases)', () => {
  let sys: TestSystem;
  let bankA: BankClient;
  let bankB: BankClient;
  const keys = { a0: newCustomerKey(), a1: newCustomerKey(), a0b: newCustomerKey(), b1: newCustomerKey() };
  const wallet = { a0: '', a1: '', a0b: '', b1: '' };
  const paid: string[] = [];

  beforeAll(async () => {
    sys = await startTestSystem({ shards: SHARDS, shardGroups: 2 });
    bankA = await sys.addBank('bank-a');
    bankB = await sys.addBank('bank-b');
    await placeBank(sys, 'bank-a', 1_000_000n * YUAN);
    await placeBank(sys, 'bank-b', 1_000_000n * YUAN);
  });
  afterAll(async () => sys?.close());

  const walletRowsIn = async (sql: Sql, id: string) => (await sql`select 1 from wallets where id = ${id}`).length;

  it('opens wallets in both groups: each row in its group database only, with its registry event there', async () => {
    wallet.a0 = (await bankA.openWallet({ publicKey: keys.a0.publicKey, customerRef: 'a0', tier: 'II' }, keyForGroup('bank-a', 0, 'a0'))).id;
    wallet.a1 = (await bankA.openWallet({ publicKey: keys.a1.publicKey, customerRef: 'a1', tier: 'II' }, keyForGroup('bank-a', 1, 'a1'))).id;
    wallet.a0b = (await bankA.openWallet({ publicKey: keys.a0b.publicKey, customerRef: 'a0b', tier: 'II' }, keyForGroup('bank-a', 0, 'a0b'))).id;
    wallet.b1 = (await bankB.openWallet({ publicKey: keys.b1.publicKey, customerRef: 'b1', tier: 'II' }, keyForGroup('bank-b', 1, 'b1'))).id;
    const [g0, g1] = sys.topology.admin.groups.map((g) => g.sql);
    for (const [id, group] of [
      [wallet.a0, 0],
      [wallet.a1, 1],
      [wallet.a0b, 0],
      [wallet.b1, 1],
    ] as const) {
      expect(groupOf(id)).toBe(group);
      expect(await walletRowsIn(group === 0 ? g0 : g1, id)).toBe(1);
      expect(await walletRowsIn(group === 0 ? g1 : g0, id)).toBe(0);
      expect(await walletRowsIn(sys.topology.admin.central, id)).toBe(0);
      const own = group === 0 ? g0 : g1;
      expect((await own`select 1 from registry_events where subject = ${id} and kind = 'wallet_opened'`).length).toBe(1);
    }
    // Without a key the id is random; it still lands in its shard's group.
    const loose = await bankA.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'loose', tier: 'IV' });
    expect(await walletRowsIn(sys.topology.admin.ofShard(shardOf(loose.id, SHARDS)), loose.id)).toBe(1);
    expect(loose.shard).toBe(shardOf(loose.id, SHARDS));
  });

  it('a keyed opening retried returns the same wallet; the key with another body is 422', async () => {
    const key = keyForGroup('bank-a', 1, 'retry');
    const body = { publicKey: newCustomerKey().publicKey, customerRef: 'retry', tier: 'III' as const };
    const first = await bankA.openWallet(body, key);
    const again = await bankA.openWallet(body, key);
    expect(again.id).toBe(first.id);
    expect(first.id).toBe(walletIdOf('bank-a', key));
    const other = await bankA.openWallet({ ...body, customerRef: 'other' }, key).catch(problemOf);
    expect(other).toMatchObject({ code: 'idempotency_key_reused', status: 422 });
    // The key was claimed with the wallet, in its group's database, and nowhere else.
    const [g0, g1] = sys.topology.admin.groups.map((g) => g.sql);
    const keyRows = (sql: Sql) => sql`select 1 from idempotency_keys where service = 'gateway' and principal_id = 'bank-a' and key = ${key}`;
    expect((await keyRows(g1)).length).toBe(1);
    expect((await keyRows(g0)).length).toBe(0);
    expect((await keyRows(sys.topology.admin.central)).length).toBe(0);
    // Another bank's key of the same text is its own: a different wallet.
    const theirs = await bankB.openWallet(body, key);
    expect(theirs.id).not.toBe(first.id);
  });

  it('lists a bank’s wallets over both groups in id order, with cursors, nothing missing or twice', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await bankA.wallets(2, cursor);
      seen.push(...page.wallets.map((w) => w.id));
      expect(page.wallets.every((w) => w.bankId === 'bank-a')).toBe(true);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const expected = (await Promise.all(sys.topology.admin.groups.map((g) => g.sql<{ id: string }[]>`select id from wallets where bank_id = 'bank-a'`))).flat().map((r) => r.id);
    expect(seen).toEqual([...expected].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toContain(treasuryWalletId('bank-a'));
  });

  it('funds wallets in both groups from a treasury in one of them', async () => {
    for (const [id, key] of [
      [wallet.a0, 'fund-a0-00001'],
      [wallet.a1, 'fund-a1-00001'],
      [wallet.a0b, 'fund-a0b-0001'],
    ] as const) {
      const res = await bankA.fund(id, 1_000n * YUAN, key);
      expect(res.body).toMatchObject({ status: 'settled', kind: 'funding', payeeWalletId: id });
      expect((await bankA.fund(id, 1_000n * YUAN, key)).body.id).toBe(res.body.id);
    }
    expect((await bankB.fund(wallet.b1, 1_000n * YUAN, 'fund-b1-00001')).body.status).toBe('settled');
    for (const id of [wallet.a0, wallet.a1, wallet.a0b]) expect((await bankA.wallet(id)).balanceMinor).toBe((1_000n * YUAN).toString());
  });

  it('pays within a group and across groups; the transfer row is at the payer’s group, the credit leg at the payee’s', async () => {
    const pay = async (bank: BankClient, from: string, to: string, key: { privateKey: string }, amount: bigint, memo: string) => {
      const { id, wire } = signTransfer({ payerWalletId: from, payeeWalletId: to, amountMinor: amount, memo }, key.privateKey);
      const res = await bank.transfer(wire);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('settled');
      paid.push(id);
      return id;
    };
    const same = await pay(bankA, wallet.a0, wallet.a0b, keys.a0, 10n * YUAN, 'same group');
    const cross = await pay(bankA, wallet.a0, wallet.b1, keys.a0, 20n * YUAN, 'to group 1');
    await pay(bankB, wallet.b1, wallet.a0, keys.b1, 5n * YUAN, 'back to group 0');
    await pay(bankA, wallet.a1, wallet.a0, keys.a1, 7n * YUAN, 'from group 1');
    await pay(bankA, wallet.a0, wallet.a1, keys.a0, 3n * YUAN, 'to group 1 again');
    await pay(bankA, wallet.a0b, wallet.a0, keys.a0b, 1n * YUAN, 'within group 0');
    const [g0, g1] = sys.topology.admin.groups.map((g) => g.sql);
    expect((await g0`select 1 from transfers where id = ${cross}`).length).toBe(1);
    expect((await g1`select 1 from transfers where id = ${cross}`).length).toBe(0);
    expect((await g1`select 1 from transfer_legs where transfer_id = ${cross} and leg = 'credit'`).length).toBe(1);
    expect((await sys.topology.admin.central`select 1 from transfers where id = ${cross}`).length).toBe(0);
    expect((await g0`select 1 from transfers where id = ${same}`).length).toBe(1);
    expect((await bankB.wallet(wallet.b1)).balanceMinor).toBe((1_015n * YUAN).toString());
  });

  it('reads a transfer by id from whichever group holds it, for the payer’s and the payee’s bank only', async () => {
    const toB = paid[1];
    expect(await bankA.getTransfer(toB)).toMatchObject({ id: toB, status: 'settled', payeeWalletId: wallet.b1 });
    expect(await bankB.getTransfer(toB)).toMatchObject({ id: toB, status: 'settled' });
    const fromB = paid[2];
    expect(await bankA.getTransfer(fromB)).toMatchObject({ id: fromB, payerWalletId: wallet.b1 });
    // bank-b is neither payer nor payee of a0 → a0b.
    expect(await bankB.getTransfer(paid[0]).catch(problemOf)).toMatchObject({ code: 'transfer_not_found', status: 404 });
    expect(await bankB.receipt(paid[0]).catch(problemOf)).toMatchObject({ code: 'transfer_not_found', status: 404 });
  });

  it('pages a wallet’s history across both groups with cursors: nothing missing, nothing twice', async () => {
    const truth = new Set((await Promise.all(sys.topology.admin.groups.map((g) => g.sql<{ id: string }[]>`select id from transfers where payer_wallet_id = ${wallet.a0} or payee_wallet_id = ${wallet.a0}`))).flat().map((r) => r.id));
    // Its funding, three payments it made and three it received (two from payers in group 1).
    expect(truth.size).toBe(7);
    for (const limit of [1, 2, 3, 50]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await bankA.history(wallet.a0, limit, cursor);
        expect(page.transfers.length).toBeLessThanOrEqual(limit);
        seen.push(...page.transfers.map((t) => t.id));
        cursor = page.nextCursor ?? undefined;
        expect(++pages).toBeLessThan(20);
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(truth);
    }
    const bad = await bankA.history(wallet.a0, 2, Buffer.from('12').toString('base64url')).catch(problemOf);
    expect(bad).toMatchObject({ code: 'invalid_request', status: 400 });
  });

  it('gives receipts whose every proof (transfer at the payer’s group, credit at the payee’s) verifies offline', async () => {
    const trusted = Object.fromEntries(sys.keys.shards.map((seed, shard) => [shard, ed25519PublicKeyOfSeed(seed).toString('hex')]));
    for (const id of paid) {
      const receipt = await bankA.receipt(id);
      expect(verifyReceipt(receipt, trusted)).toBeNull();
    }
    const cross = await bankB.receipt(paid[1]);
    expect(cross.legs.map((l) => l.leg.leg)).toEqual(['credit']);
    expect(cross.legs[0].batch.shard).toBe(shardOf(wallet.b1, SHARDS));
    const shards = await bankA.shards();
    expect(shards.map((s) => s.shard)).toEqual([0, 1, 2, 3]);
    expect(Object.fromEntries(shards.map((s) => [s.shard, s.publicKey]))).toEqual(trusted);
  });

  it('another bank’s wallet is 404 on every path, in either group', async () => {
    for (const id of [wallet.a0, wallet.a1]) {
      expect(await bankB.wallet(id).catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
      expect(await bankB.history(id).catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
      expect(await bankB.setWalletStatus(id, 'freeze', 'not mine').catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
      expect(await bankB.setWalletStatus(id, 'close').catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
      expect(await bankB.fund(id, 1n, `steal-${id.slice(2, 10)}`).catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
      const { wire } = signTransfer({ payerWalletId: id, payeeWalletId: wallet.b1, amountMinor: 1n }, keys.a0.privateKey);
      expect(await bankB.transfer(wire).catch(problemOf)).toMatchObject({ code: 'wallet_not_found', status: 404 });
    }
    expect((await bankB.wallets(200)).wallets.every((w) => w.bankId === 'bank-b')).toBe(true);
  });

  it('freezes and unfreezes in the wallet’s group, under the shard lock', async () => {
    const frozen = await bankA.setWalletStatus(wallet.a1, 'freeze', 'fraud check');
    expect(frozen.status).toBe('frozen');
    const g1 = sys.topology.admin.groups[1].sql;
    expect((await g1`select 1 from wallet_freeze_events where wallet_id = ${wallet.a1}`).length).toBe(1);
    const { wire } = signTransfer({ payerWalletId: wallet.a1, payeeWalletId: wallet.a0, amountMinor: 1n }, keys.a1.privateKey);
    expect((await bankA.transfer(wire)).body).toMatchObject({ status: 'rejected' });
    expect((await bankA.setWalletStatus(wallet.a1, 'unfreeze', 'cleared')).status).toBe('active');
  });

  it('privacy across groups: another bank’s frozen payee shows as payee_unavailable to the payer’s bank, whose receipt is withheld', async () => {
    await bankB.setWalletStatus(wallet.b1, 'freeze', 'review');
    const { id, wire } = signTransfer({ payerWalletId: wallet.a0, payeeWalletId: wallet.b1, amountMinor: 1n * YUAN, memo: 'to a frozen payee' }, keys.a0.privateKey);
    expect((await bankA.transfer(wire)).body).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });
    expect(await bankA.getTransfer(id)).toMatchObject({ status: 'rejected', code: 'payee_unavailable' });
    expect((await bankA.history(wallet.a0, 1)).transfers[0]).toMatchObject({ id, code: 'payee_unavailable' });
    expect(await bankA.receipt(id).catch(problemOf)).toMatchObject({ code: 'receipt_withheld', status: 403 });
    expect(await bankB.getTransfer(id)).toMatchObject({ status: 'rejected', code: 'payee_frozen' });
    expect((await bankB.history(wallet.b1, 1)).transfers[0]).toMatchObject({ id, code: 'payee_frozen' });
    const trusted = Object.fromEntries(sys.keys.shards.map((seed, shard) => [shard, ed25519PublicKeyOfSeed(seed).toString('hex')]));
    const receipt = await bankB.receipt(id);
    expect(receipt.legs.map((l) => l.leg.leg)).toEqual(['credit', 'refund']);
    expect(verifyReceipt(receipt, trusted)).toBeNull();
    await bankB.setWalletStatus(wallet.b1, 'unfreeze', 'done');
  });

  it('with group 1’s database unreachable, group 0 still opens and pays; group 1 answers 503; then heals', async () => {
    const dead = new URL(sys.groupDbs[1].url).pathname.slice(1);
    const admin = sys.topology.admin.central;
    await admin.unsafe(`alter database "${dead}" allow_connections false`);
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${dead} and pid <> pg_backend_pid()`;
    try {
      const opening = (group: number, tag: string) => bankA.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: tag, tier: 'IV' }, keyForGroup('bank-a', group, tag));
      // Until the gateway's probe of group 1 fails (every 500 ms), a request may meet the refused
      // connection itself (a server refusing one database answers 55000, a 500 here, where a server
      // that is down refuses the TCP connection, a 503); once it has failed, every request touching
      // group 1 is refused at once. Two probe intervals, then the first 503.
      await new Promise((r) => setTimeout(r, 1000));
      await until('the gateway to see group 1 down', async () => {
        const p = await bankA.wallet(wallet.a1).catch(problemOf);
        return (p as { status?: number }).status === 503 ? p : undefined;
      });
      expect(await opening(1, 'dead').catch(problemOf)).toMatchObject({ code: 'dependency_unavailable', status: 503 });
      expect(await bankA.wallet(wallet.a1).catch(problemOf)).toMatchObject({ code: 'dependency_unavailable', status: 503 });
      expect(await bankA.history(wallet.a0).catch(problemOf)).toMatchObject({ code: 'dependency_unavailable', status: 503 });
      const { wire: fromDead } = signTransfer({ payerWalletId: wallet.a1, payeeWalletId: wallet.a0, amountMinor: 1n }, keys.a1.privateKey);
      expect(await bankA.transfer(fromDead).catch(problemOf)).toMatchObject({ code: 'dependency_unavailable', status: 503 });

      const alive = await opening(0, 'alive');
      expect(groupOf(alive.id)).toBe(0);
      expect((await bankA.wallet(wallet.a0)).id).toBe(wallet.a0);
      const { wire } = signTransfer({ payerWalletId: wallet.a0, payeeWalletId: wallet.a0b, amountMinor: 2n * YUAN, memo: 'while group 1 is down' }, keys.a0.privateKey);
      const res = await bankA.transfer(wire);
      expect(res.body).toMatchObject({ status: 'settled' });
      // A funding is recorded at the treasury's group: it goes through only if that group is alive.
      const funding = await bankA.fund(wallet.a0b, 1n * YUAN, 'fund-while-down').catch(problemOf);
      if (groupOf(treasuryWalletId('bank-a')) === 0) expect((funding as { body: unknown }).body).toMatchObject({ status: 'settled' });
      else expect(funding).toMatchObject({ code: 'dependency_unavailable', status: 503 });
    } finally {
      await admin.unsafe(`alter database "${dead}" allow_connections true`);
    }
    const healed = await until('group 1 to answer again', async () => bankA.wallet(wallet.a1).catch(() => undefined));
    expect(healed.id).toBe(wallet.a1);
    const again = await bankA.openWallet({ publicKey: newCustomerKey().publicKey, customerRef: 'healed', tier: 'IV' }, keyForGroup('bank-a', 1, 'healed'));
    expect(groupOf(again.id)).toBe(1);
    const { id, wire } = signTransfer({ payerWalletId: wallet.a1, payeeWalletId: wallet.a0, amountMinor: 1n * YUAN, memo: 'after healing' }, keys.a1.privateKey);
    await bankA.transfer(wire);
    // Settlement of group 1's shards resumes once its workers reconnect (they may be backing off).
    const settled = await until(
      'the payment after healing to settle',
      async () => {
        const t = await bankA.getTransfer(id).catch(() => undefined);
        return t?.status === 'settled' ? t : undefined;
      },
      30_000,
    );
    expect(settled.payeeWalletId).toBe(wallet.a0);
  });
});
