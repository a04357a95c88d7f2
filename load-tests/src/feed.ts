/**
 * The settlement-only feeder's transfers: signed by their payers as a customer's app would, made
 * into job items as a gateway would after verifying them, and grouped by the payer's shard. They
 * go straight into the shard queues (see queues.ts), so no gateway is in the measurement.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import type { JobItem } from '@cbdc/shared/job';
import { sodiumSign, type Population, type SeededWallet } from './fixture.js';
import { byShardOf } from './queues.js';

/** Picks a payee for a payer; `random` is uniform in [0, 1). */
export type PayeeChooser = (payer: SeededWallet, random: () => number) => SeededWallet;

/** Any customer but the payer (the merchant instead of the payer itself): the single-server bench's mix. */
export function uniformPayees(pop: Population): PayeeChooser {
  const customers = pop.wallets.filter((w) => w !== pop.merchant);
  return (payer, random) => {
    const payee = customers[Math.floor(random() * customers.length)];
    return payee === payer ? pop.merchant : payee;
  };
}

/**
 * A payee on another shard than the payer's with probability `crossShare`, else on the payer's own
 * shard; uniform among the customers of that shard or of those shards.
 */
export function crossSharePayees(pop: Population, shardCount: number, crossShare: number): PayeeChooser {
  if (shardCount === 1 && crossShare > 0) throw new Error('one shard: no transfer can cross shards');
  const onShard = Array.from({ length: shardCount }, (_, s) => pop.wallets.filter((w) => w !== pop.merchant && w.shard === s));
  if (onShard.some((list) => list.length < 2)) throw new Error('every shard needs two customers at least');
  return (payer, random) => {
    if (random() < crossShare) {
      // Another shard, uniformly: shift by 1 to shardCount - 1.
      const shard = (payer.shard + 1 + Math.floor(random() * (shardCount - 1))) % shardCount;
      return onShard[shard][Math.floor(random() * onShard[shard].length)];
    }
    const own = onShard[payer.shard];
    for (;;) {
      const payee = own[Math.floor(random() * own.length)];
      if (payee !== payer) return payee;
    }
  };
}

/**
 * `count` transfers of 1 fen from uniformly chosen customers, signed by them, grouped by the
 * payer's shard. `tagMs` is every item's submitted time: it tells this run's rows apart.
 */
export function signedTransfers(pop: Population, count: number, payeeOf: PayeeChooser, tagMs: number, random: () => number = Math.random): Map<number, JobItem[]> {
  const payers = pop.wallets.filter((w) => w !== pop.merchant);
  // A fresh nonce range per call: nonces are unique per payer.
  let nonce = BigInt(tagMs) * 1000n + 999_000n;
  const items: JobItem[] = [];
  for (let i = 0; i < count; i++) {
    const payer = payers[Math.floor(random() * payers.length)];
    const payee = payeeOf(payer, random);
    const intent = { payerWalletId: payer.id, payeeWalletId: payee.id, amountMinor: 1n, nonce: nonce++, expiresAtMs: BigInt(tagMs + 600_000), memo: '' };
    const bytes = encodeTransfer(intent);
    items.push({
      id: transferIdOf(bytes),
      kind: 'transfer',
      bankId: payer.bankId,
      payerWalletId: payer.id,
      payeeWalletId: payee.id,
      amountMinor: '1',
      nonce: intent.nonce.toString(),
      expiresAtMs: intent.expiresAtMs.toString(),
      memo: '',
      signature: sodiumSign(payer.secretKey, bytes).toString('hex'),
      submittedAtMs: tagMs,
      payeeShard: payee.shard,
    });
  }
  const shardOfWallet = new Map(pop.wallets.map((w) => [w.id, w.shard]));
  return byShardOf(items, (item) => shardOfWallet.get(item.payerWalletId)!);
}
