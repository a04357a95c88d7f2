/**
 * The demo played across the cluster: the README's story (onboard two banks under dual control,
 * reserves, mints, wallets, a funding, a payment across banks and shards, a refused payment, a
 * redemption, a retirement, the receipt checked offline, the audit), each bank through its own
 * gateway host. Returns the lines it printed and whether every step came out as it should.
 */
import { randomBytes } from 'node:crypto';
import { BankClient, OperatorClient, newCustomerKey, signTransfer, verifyReceipt } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import type { Sql } from '@cbdc/db/connect';
import { ed25519PublicKeyOfSeed } from '@cbdc/shared/crypto';
import { formatYuan } from '@cbdc/shared/money';
import type { BenchSystem } from '../../load-tests/src/fixture.js';

const YUAN = 100n;

export async function playDemo(sys: BenchSystem, sql: Sql, say: (line: string) => void): Promise<{ ok: boolean; failures: string[] }> {
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
  expect(`onboarded ${bankIds.join(' and ')} (alice requested, bob approved), deposited 1,000,000.00 each, minted 500,000.00 each`, true);

  // Bank A through the first gateway host, bank B through the second.
  const bankA = new BankClient(sys.gatewayUrls[0], bankIds[0], bankKeys[0].toString('hex'));
  const bankB = new BankClient(sys.gatewayUrls.at(-1)!, bankIds[1], bankKeys[1].toString('hex'));
  const wang = newCustomerKey();
  const li = newCustomerKey();
  const wangWallet = await bankA.openWallet({ publicKey: wang.publicKey, customerRef: `wang-${run}`, tier: 'II' });
  const liWallet = await bankB.openWallet({ publicKey: li.publicKey, customerRef: `li-${run}`, tier: 'III' });
  say(`     wallets: wang ${wangWallet.id} (shard ${wangWallet.shard}, via ${sys.gatewayUrls[0]}), li ${liWallet.id} (shard ${liWallet.shard}, via ${sys.gatewayUrls.at(-1)})`);
  await bankA.fund(wangWallet.id, 20_000n * YUAN, `fund-${run}-wang`);
  const pay = signTransfer({ payerWalletId: wangWallet.id, payeeWalletId: liWallet.id, amountMinor: 3_888n * YUAN, memo: 'tea' }, wang.privateKey);
  const paid = await bankA.transfer(pay.wire);
  expect(`wang paid li 3,888.00 across banks (shard ${wangWallet.shard} to ${liWallet.shard}): ${paid.body.status}`, paid.body.status === 'settled');
  const over = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: wangWallet.id, amountMinor: 6_000n * YUAN }, li.privateKey);
  const refused = await bankB.transfer(over.wire);
  expect(`li's 6,000.00 above tier III's per-payment cap: ${refused.body.status} (${refused.body.code})`, refused.body.status === 'rejected');
  const redeem = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: `t_${bankIds[1]}`, amountMinor: 888n * YUAN }, li.privateKey);
  const redeemed = await bankB.redeem(redeem.wire);
  expect(`li redeemed 888.00 to ${bankIds[1]}'s treasury: ${redeemed.body.status}`, redeemed.body.status === 'settled');
  const retire = await alice.issue('retire', bankIds[1], 888n * YUAN);
  if (retire.status === 202) await bob.approveAction(retire.body.id);
  const receipt = await bankB.receipt(pay.id);
  const shardKeys = Object.fromEntries((await bankB.shards()).map((s) => [s.shard, s.publicKey]));
  const problem = verifyReceipt(receipt, shardKeys);
  expect(`the payment's receipt verifies offline against the shard keys${problem ? `: ${problem}` : ''}`, problem === null);
  const report = await audit(sql);
  const supply = await alice.supply();
  expect(
    `supply ${formatYuan(BigInt(supply.supplyMinor))} = wallet balances ${formatYuan(BigInt(supply.walletBalancesMinor))}; audit ${report.ok ? 'passed' : `failed: ${report.findings[0]?.subject}: ${report.findings[0]?.message}`}`,
    report.ok && supply.supplyMinor === supply.walletBalancesMinor,
  );
  return { ok: failures.length === 0, failures };
}
