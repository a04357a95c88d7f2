/**
 * Pre-signed request pools. autocannon's per-request hook is synchronous and the load generator
 * shares the machine with the system, so every transfer (customer signature) and every HTTP
 * request (bank signature, nonce, timestamp) is signed before the run starts.
 */
import { randomBytes } from 'node:crypto';
import { AUTH_HEADERS, DEFAULT_AUDIENCE, requestStringToSign } from '@cbdc/shared/request-auth';
import { signedTransfer, sodiumSecretKeyOfSeed, sodiumSign, type Population, type SeededWallet } from './fixture.js';

export type Mix = 'uniform' | 'hot';

export interface PreparedRequest {
  method: 'POST';
  path: string;
  /**
   * The bank's request signature, made when the request is sent: the customers' transfers are
   * signed up front, but a request signed long before it is sent would fall outside the server's
   * clock window (60 s) in a long phase.
   */
  headers: () => Record<string, string>;
  body: string;
  transferIds: string[];
}

export interface PoolOptions {
  /** Transfers in the pool. */
  transfers: number;
  mix: Mix;
  /** Transfers per request: 1 posts to /v1/transfers, more to /v1/transfers/batch. */
  perRequest: number;
  /** Amounts are drawn uniformly from 1 to this many fen. */
  amountMaxMinor: number;
}

let nonceCounter = BigInt(Date.now()) * 1000n;
const bankSecretKeys = new Map<string, Buffer>();
const bankSecretKey = (seed: Buffer) => {
  const hex = seed.toString('hex');
  let k = bankSecretKeys.get(hex);
  if (!k) bankSecretKeys.set(hex, (k = sodiumSecretKeyOfSeed(seed)));
  return k;
};

/** Signs one HTTP request as a bank. */
export function signRequest(bankId: string, bankSeed: Buffer, path: string, body: string): Record<string, string> {
  const timestamp = Date.now().toString();
  const nonce = randomBytes(12).toString('base64url');
  const signature = sodiumSign(bankSecretKey(bankSeed), requestStringToSign({ audience: DEFAULT_AUDIENCE, method: 'POST', pathWithQuery: path, timestampMs: timestamp, nonce, contentType: 'application/json', body })).toString('hex');
  return { 'content-type': 'application/json', [AUTH_HEADERS.keyId]: bankId, [AUTH_HEADERS.timestamp]: timestamp, [AUTH_HEADERS.nonce]: nonce, [AUTH_HEADERS.signature]: signature };
}

/** Builds a pool of pre-signed transfer requests. */
export function buildPool(pop: Population, bankKeys: Map<string, Buffer>, o: PoolOptions): PreparedRequest[] {
  const expiresAtMs = BigInt(Date.now() + 10 * 60_000);
  const customers = pop.wallets.filter((w) => w !== pop.merchant);
  const pick = () => customers[Math.floor(Math.random() * customers.length)];
  const byBank = new Map<string, Array<{ wire: object; id: string }>>();
  const requests: PreparedRequest[] = [];
  const flush = (bankId: string) => {
    const items = byBank.get(bankId)!;
    byBank.set(bankId, []);
    const single = o.perRequest === 1;
    const path = single ? '/v1/transfers' : '/v1/transfers/batch';
    const body = JSON.stringify(single ? items[0].wire : { transfers: items.map((i) => i.wire) });
    requests.push({ method: 'POST', path, headers: () => signRequest(bankId, bankKeys.get(bankId)!, path, body), body, transferIds: items.map((i) => i.id) });
  };
  for (let n = 0; n < o.transfers; n++) {
    const payer: SeededWallet = pick();
    let payee: SeededWallet = o.mix === 'hot' && Math.random() < 0.2 ? pop.merchant : pick();
    if (payee === payer) payee = pop.merchant;
    const intent = { payerWalletId: payer.id, payeeWalletId: payee.id, amountMinor: BigInt(1 + Math.floor(Math.random() * o.amountMaxMinor)), nonce: nonceCounter++, expiresAtMs, memo: '' };
    const { id, wire } = signedTransfer(payer, intent);
    const list = byBank.get(payer.bankId) ?? [];
    list.push({ wire, id });
    byBank.set(payer.bankId, list);
    if (list.length >= o.perRequest) flush(payer.bankId);
  }
  for (const [bankId, items] of byBank) if (items.length) flush(bankId);
  return requests;
}
