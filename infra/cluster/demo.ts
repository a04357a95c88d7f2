/**
 * The demo played across the cluster: the README's story (onboard two banks under dual control,
 * reserves, mints, wallets, a funding, payments within a shard group and across groups and banks,
 * a refused payment, a redemption, a retirement, the receipt checked offline, the supply and
 * `cbdc audit` across every database), each bank through its own gateway host. Returns whether
 * every step came out as it should.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { BankClient, OperatorClient, newCustomerKey, signTransfer, verifyReceipt } from '@cbdc/client';
import { urlForService } from '@cbdc/db/roles';
import { ed25519PublicKeyOfSeed } from '@cbdc/shared/crypto';
import { shardOf, walletIdOf } from '@cbdc/shared/ids';
import { formatYuan } from '@cbdc/shared/money';
import { shardDatabasesOf, type BenchSystem } from '../../load-tests/src/fixture.js';

const YUAN = 100n;
const KEY_TRIES_MAX = 1000;
const CLI_TIMEOUT_MS = 120_000;

/** Where a wallet's ledger is: its group's number, or 0 for all in the one database. */
const groupOfShard = (sys: BenchSystem, shard: number) => sys.shardGroups.find((g) => g.shards.includes(shard))?.id ?? 0;

/** An Idempotency-Key whose wallet (keyed openings derive the id from bank and key) lands in `group`. */
function keyInGroup(sys: BenchSystem, bankId: string, group: number, tag: string): string {
  for (let i = 0; i < KEY_TRIES_MAX; i++) {
    const key = `${tag}-${i}`;
    if (groupOfShard(sys, shardOf(walletIdOf(bankId, key), sys.shardCount)) === group) return key;
  }
  throw new Error(`no key of ${KEY_TRIES_MAX} puts a wallet of ${bankId} in group ${group}`);
}

/** Runs `cbdc audit` as an auditor would: the central database and SHARD_DATABASES, the auditor's role. */
async function cliAudit(sys: BenchSystem): Promise<{ ok: boolean; lines: string[] }> {
  const env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: urlForService(sys.databaseUrl, 'auditor'),
    SETTLEMENT_SHARDS: String(sys.shardCount),
    ...(sys.shardGroups.length ? { SHARD_DATABASES: shardDatabasesOf(sys.shardGroups, 'auditor') } : {}),
  };
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', 'audit'], { env, timeout: CLI_TIMEOUT_MS });
    return { ok: /audit passed/.test(stdout), lines: stdout.trim().split('\n') };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, lines: `${e.stdout ?? ''}${e.stderr ?? e.message}`.trim().split('\n') };
  }
}

export async function playDemo(sys: BenchSystem, say: (line: string) => void): Promise<{ ok: boolean; failures: string[] }> {
  const failures: string[] = [];
  const expect = (what: string, ok: boolean) => {
    say(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  const alice = new OperatorClient(sys.issuerUrl, 'bench', sys.keys.operator.toString('hex'));
  const bob = new OperatorClient(sys.issuerUrl, 'bench-approver', sys.keys.approver.toString('hex'));
  const run = randomBytes(3).toString('hex');
  const bankIds = [`demo-a-${run}`, `demo-b-${run}`];
  const bankKeys = bankIds.map(() => randomBytes(32));
  for (const [i, id] of bankIds.entries()) {
    sys.keys.banks.set(id, bankKeys[i]);
    await bob.approveAction((await alice.addBank({ id, name: id, publicKey: ed25519PublicKeyOfSeed(bankKeys[i]).toString('hex') })).id);
    const deposit = await alice.reserve(id, 'deposit', 1_000_000n * YUAN, `RTGS-${run}-${i}`);
    if (deposit.status === 202) await bob.approveAction(deposit.body.id);
    const mint = await alice.issue('mint', id, 500_000n * YUAN);
    if (mint.status === 202) await bob.approveAction(mint.body.id);
  }
  expect(`onboarded ${bankIds.join(' and ')} (alice requested, bob approved), deposited 1,000,000.00 each, minted 500,000.00 each (each treasury credited in its group)`, true);

  // Bank A through the first gateway host, bank B through the second. With shard groups, wang and
  // zhao share a group and li is in the other one.
  const bankA = new BankClient(sys.gatewayUrls[0], bankIds[0], bankKeys[0].toString('hex'));
  const bankB = new BankClient(sys.gatewayUrls.at(-1)!, bankIds[1], bankKeys[1].toString('hex'));
  const groups = Math.max(1, sys.shardGroups.length);
  const [wang, li, zhao] = [newCustomerKey(), newCustomerKey(), newCustomerKey()];
  const wangWallet = await bankA.openWallet({ publicKey: wang.publicKey, customerRef: `wang-${run}`, tier: 'II' }, keyInGroup(sys, bankIds[0], 0, `wang-${run}`));
  const liWallet = await bankB.openWallet({ publicKey: li.publicKey, customerRef: `li-${run}`, tier: 'III' }, keyInGroup(sys, bankIds[1], 1 % groups, `li-${run}`));
  const zhaoWallet = await bankB.openWallet({ publicKey: zhao.publicKey, customerRef: `zhao-${run}`, tier: 'II' }, keyInGroup(sys, bankIds[1], 0, `zhao-${run}`));
  const where = (w: { shard: number }) => `shard ${w.shard}${sys.shardGroups.length ? `, group ${groupOfShard(sys, w.shard)}` : ''}`;
  say(`     wallets: wang ${wangWallet.id} (${where(wangWallet)}, via ${sys.gatewayUrls[0]}), li ${liWallet.id} (${where(liWallet)}), zhao ${zhaoWallet.id} (${where(zhaoWallet)}, both via ${sys.gatewayUrls.at(-1)})`);
  const funded = await bankA.fund(wangWallet.id, 20_000n * YUAN, `fund-${run}-wang`);
  expect(`${bankIds[0]} funded wang 20,000.00 from its treasury: ${funded.body.status}`, funded.body.status === 'settled');
  const pay = signTransfer({ payerWalletId: wangWallet.id, payeeWalletId: liWallet.id, amountMinor: 3_888n * YUAN, memo: 'tea' }, wang.privateKey);
  const paid = await bankA.transfer(pay.wire);
  expect(`wang paid li 3,888.00 across banks and groups (${where(wangWallet)} to ${where(liWallet)}): ${paid.body.status}`, paid.body.status === 'settled');
  const near = signTransfer({ payerWalletId: wangWallet.id, payeeWalletId: zhaoWallet.id, amountMinor: 1_000n * YUAN, memo: 'rice' }, wang.privateKey);
  const nearPaid = await bankA.transfer(near.wire);
  expect(`wang paid zhao 1,000.00 within a group (${where(wangWallet)} to ${where(zhaoWallet)}): ${nearPaid.body.status}`, nearPaid.body.status === 'settled');
  const over = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: wangWallet.id, amountMinor: 6_000n * YUAN }, li.privateKey);
  const refused = await bankB.transfer(over.wire);
  expect(`li's 6,000.00 above tier III's per-payment cap: ${refused.body.status} (${'code' in refused.body ? refused.body.code : 'pending'})`, refused.body.status === 'rejected');
  const redeem = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: `t_${bankIds[1]}`, amountMinor: 888n * YUAN }, li.privateKey);
  const redeemed = await bankB.redeem(redeem.wire);
  expect(`li redeemed 888.00 to ${bankIds[1]}'s treasury: ${redeemed.body.status}`, redeemed.body.status === 'settled');
  const retire = await alice.issue('retire', bankIds[1], 888n * YUAN);
  if (retire.status === 202) await bob.approveAction(retire.body.id);
  const receipt = await bankB.receipt(pay.id);
  const shardKeys = Object.fromEntries((await bankB.shards()).map((s) => [s.shard, s.publicKey]));
  const problem = verifyReceipt(receipt, shardKeys);
  expect(`the cross-group payment's receipt verifies offline against the shard keys${problem ? `: ${problem}` : ''}`, problem === null);

  const supply = await alice.supply();
  const [total, balances, held, inFlight, backing] = [supply.supplyMinor, supply.walletBalancesMinor, supply.heldMinor, supply.inFlightMinor, supply.backingMinor].map(BigInt);
  const perGroup = supply.groups.map((g) => `group ${g.group} (shards ${g.shards.join(',')}) ${formatYuan(BigInt(g.walletBalancesMinor))}`).join(', ');
  expect(
    `supply ${formatYuan(total)} = wallet balances ${formatYuan(balances)} + held ${formatYuan(held)} + in flight ${formatYuan(inFlight)} = backing ${formatYuan(backing)}${supply.groups.length > 1 ? ` [${perGroup}]` : ''}`,
    total === balances + held + inFlight && total === backing,
  );
  const audited = await cliAudit(sys);
  for (const line of audited.lines) say(`     cbdc audit: ${line}`);
  expect(`cbdc audit across ${1 + sys.shardGroups.length} database(s) (DATABASE_URL${sys.shardGroups.length ? ' and SHARD_DATABASES' : ''}, as the auditor role): ${audited.ok ? 'passed' : 'FAILED'}`, audited.ok);
  return { ok: failures.length === 0, failures };
}
