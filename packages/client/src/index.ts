/**
 * Clients for the wallet gateway (banks) and the issuer (operators). Every call that changes
 * something sends an Idempotency-Key: the one given (pass the same key to retry a call whose
 * answer was lost), or a fresh one. Transfers need none: their id is their signed content.
 */
import { randomUUID } from 'node:crypto';
import type { SignedTransferWire } from '@cbdc/shared/schemas';
import { signedRequest, type CallOptions, type Credentials } from './http.js';
import type { Receipt } from './receipt.js';

export { CbdcApiError, CbdcUnreachableError, signedHeaders, signedRequest, type Credentials } from './http.js';
export { signTransfer, newCustomerKey, publicKeyOf, randomNonce, verifyTransferSignature } from './transfer.js';
export { ed25519PublicKeyProblem, ed25519VerifyPortable } from '@cbdc/shared/ed25519';
export { verifyReceipt, type Receipt } from './receipt.js';

export interface WalletView {
  id: string;
  bankId: string;
  kind: 'customer' | 'treasury';
  tier: string | null;
  status: 'active' | 'frozen' | 'closed';
  balanceMinor: string;
  inFlightOutMinor: string;
  dailyOutflowMinor: string;
  limits: { balanceMaxMinor: string | null; paymentMaxMinor: string | null; dailyOutflowMaxMinor: string | null };
  publicKey: string | null;
  customerRef: string | null;
  shard: number;
  createdAt: string;
}

export interface TransferView {
  id: string;
  kind: 'transfer' | 'funding';
  status: 'settled' | 'rejected' | 'pending';
  code?: string | null;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  batchSeq?: string;
  shard?: number;
  settledAtMs?: string;
}

const asyncHeader = (async?: boolean): CallOptions => (async ? { headers: { prefer: 'respond-async' } } : {});

/** A fresh Idempotency-Key: what every mutating call sends unless the caller gives its own (to retry). */
export function newIdempotencyKey(): string {
  return randomUUID();
}

/** The Idempotency-Key header: the caller's key, or a fresh one. */
const idem = (key?: string): CallOptions => ({ headers: { 'idempotency-key': key ?? newIdempotencyKey() } });

/** A bank's client of the wallet gateway. */
export class BankClient {
  private readonly creds: Credentials;

  constructor(
    readonly baseUrl: string,
    readonly bankId: string,
    privateKeyHex: string,
    /** The environment the server belongs to (its CBDC_AUDIENCE). */
    audience?: string,
  ) {
    this.creds = { keyId: bankId, privateKey: Buffer.from(privateKeyHex, 'hex'), audience };
  }

  private call<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return signedRequest<T>(this.baseUrl, this.creds, method, path, body, options);
  }

  async openWallet(input: { publicKey: string; customerRef: string; tier: 'I' | 'II' | 'III' | 'IV' }, idempotencyKey?: string): Promise<WalletView> {
    return (await this.call<WalletView>('POST', '/v1/wallets', input, idem(idempotencyKey))).body;
  }
  async wallet(id: string): Promise<WalletView> {
    return (await this.call<WalletView>('GET', `/v1/wallets/${id}`)).body;
  }
  async wallets(limit = 50, cursor?: string): Promise<{ wallets: WalletView[]; nextCursor: string | null }> {
    return (await this.call<{ wallets: WalletView[]; nextCursor: string | null }>('GET', `/v1/wallets?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)).body;
  }
  async setWalletStatus(id: string, action: 'freeze' | 'unfreeze' | 'close', idempotencyKey?: string): Promise<WalletView> {
    return (await this.call<WalletView>('POST', `/v1/wallets/${id}/${action}`, undefined, idem(idempotencyKey))).body;
  }
  async fund(walletId: string, amountMinor: bigint, idempotencyKey?: string, async = false) {
    return this.call<TransferView>('POST', '/v1/fundings', { walletId, amountMinor: amountMinor.toString() }, { headers: { ...idem(idempotencyKey).headers, ...asyncHeader(async).headers } });
  }
  async transfer(wire: SignedTransferWire, async = false) {
    return this.call<TransferView>('POST', '/v1/transfers', wire, asyncHeader(async));
  }
  async redeem(wire: SignedTransferWire, async = false) {
    return this.call<TransferView>('POST', '/v1/redemptions', wire, asyncHeader(async));
  }
  async transferBatch(wires: SignedTransferWire[], async = false) {
    return this.call<{ results: Array<TransferView & { index: number; problem?: unknown }> }>('POST', '/v1/transfers/batch', { transfers: wires }, asyncHeader(async));
  }
  async getTransfer(id: string): Promise<TransferView> {
    return (await this.call<TransferView>('GET', `/v1/transfers/${id}`)).body;
  }
  async receipt(id: string): Promise<Receipt> {
    return (await this.call<Receipt>('GET', `/v1/transfers/${id}/receipt`)).body;
  }
  async history(walletId: string, limit = 50, cursor?: string): Promise<{ transfers: TransferView[]; nextCursor: string | null }> {
    return (await this.call<{ transfers: TransferView[]; nextCursor: string | null }>('GET', `/v1/wallets/${walletId}/transfers?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)).body;
  }
  async shards(): Promise<Array<{ shard: number; publicKey: string; headSeq: string }>> {
    return (await this.call<{ shards: Array<{ shard: number; publicKey: string; headSeq: string }> }>('GET', '/v1/shards')).body.shards;
  }
  /** Any request, for routes without a helper. */
  raw<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return this.call<T>(method, path, body, options);
  }
}

export interface BankPosition {
  id: string;
  name: string;
  publicKey: string;
  treasuryWalletId: string;
  freeReserveMinor: string;
  mintedMinor: string;
  retiredMinor: string;
  treasuryBalanceMinor: string;
  createdAt: string;
}

export interface IssuanceView {
  id: string;
  kind: 'mint' | 'retire';
  bankId: string;
  amountMinor: string;
  requestedBy: string;
  approvedBy: string | null;
  status: 'pending_approval' | 'executed';
  chainSeq: string | null;
  createdAt: string;
  executedAt: string | null;
}

export interface SupplyView {
  supplyMinor: string;
  backingMinor: string;
  walletBalancesMinor: string;
  inFlightMinor: string;
  freeReserveMinor: string;
  chain: { seq: string; headHash: string; issuerPublicKey: string | null };
  banks: BankPosition[];
}

/** An operator's client of the issuer. */
export class OperatorClient {
  private readonly creds: Credentials;

  constructor(
    readonly baseUrl: string,
    readonly operatorId: string,
    privateKeyHex: string,
    /** The environment the server belongs to (its CBDC_AUDIENCE). */
    audience?: string,
  ) {
    this.creds = { keyId: operatorId, privateKey: Buffer.from(privateKeyHex, 'hex'), audience };
  }

  private call<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return signedRequest<T>(this.baseUrl, this.creds, method, path, body, options);
  }

  async addBank(input: { id: string; name: string; publicKey: string }, idempotencyKey?: string): Promise<BankPosition> {
    return (await this.call<BankPosition>('POST', '/v1/banks', input, idem(idempotencyKey))).body;
  }
  async banks(): Promise<BankPosition[]> {
    return (await this.call<{ banks: BankPosition[] }>('GET', '/v1/banks')).body.banks;
  }
  async reserve(bankId: string, kind: 'deposit' | 'withdrawal', amountMinor: bigint, reference: string, idempotencyKey?: string): Promise<BankPosition> {
    return (await this.call<BankPosition>('POST', `/v1/banks/${bankId}/reserve/${kind}s`, { amountMinor: amountMinor.toString(), reference }, idem(idempotencyKey))).body;
  }
  async issue(kind: 'mint' | 'retire', bankId: string, amountMinor: bigint, idempotencyKey?: string) {
    return this.call<IssuanceView>('POST', '/v1/issuances', { kind, bankId, amountMinor: amountMinor.toString() }, idem(idempotencyKey));
  }
  async approve(issuanceId: string, idempotencyKey?: string): Promise<IssuanceView> {
    return (await this.call<IssuanceView>('POST', `/v1/issuances/${issuanceId}/approve`, undefined, idem(idempotencyKey))).body;
  }
  async issuances(status?: 'pending_approval' | 'executed'): Promise<IssuanceView[]> {
    return (await this.call<{ issuances: IssuanceView[] }>('GET', `/v1/issuances${status ? `?status=${status}` : ''}`)).body.issuances;
  }
  async supply(): Promise<SupplyView> {
    return (await this.call<SupplyView>('GET', '/v1/supply')).body;
  }
  async walletControl(walletId: string, action: 'freeze' | 'unfreeze', idempotencyKey?: string) {
    return (await this.call<{ id: string; bankId: string; status: string; balanceMinor: string }>('POST', `/v1/wallets/${walletId}/${action}`, undefined, idem(idempotencyKey))).body;
  }
  raw<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return this.call<T>(method, path, body, options);
  }
}
