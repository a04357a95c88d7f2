/**
 * Clients for the wallet gateway (banks) and the issuer (operators). Every call that changes
 * something sends an Idempotency-Key: the one given (pass the same key to retry a call whose
 * answer was lost), or a fresh one. Transfers need none: their id is their signed content.
 */
import { randomUUID } from 'node:crypto';
import type { SignedHoldWire, SignedTransferWire } from '@cbdc/shared/schemas';
import { signedRequest, type CallOptions, type Credentials } from './http.js';
import type { HoldReceipt, Receipt } from './receipt.js';

export { CbdcApiError, CbdcUnreachableError, signedHeaders, signedRequest, type Credentials } from './http.js';
export { signTransfer, newCustomerKey, publicKeyOf, randomNonce, verifyTransferSignature } from './transfer.js';
export { ed25519PublicKeyProblem, ed25519VerifyPortable } from '@cbdc/shared/ed25519';
export { verifyHoldReceipt, verifyReceipt, type HoldReceipt, type Receipt } from './receipt.js';
export { signHold, type HoldDraft } from './hold.js';
export { parsePaymentRequestUri, paymentRequestUri, signRequestedTransfer, type PaymentRequestPayload, type RequestedPayment } from './payment-request.js';

export interface WalletView {
  id: string;
  bankId: string;
  kind: 'customer' | 'treasury';
  tier: string | null;
  status: 'active' | 'frozen' | 'closed';
  freezes: WalletFreezesView;
  balanceMinor: string;
  inFlightOutMinor: string;
  /** Set aside by the wallet's open holds. */
  heldMinor: string;
  dailyOutflowMinor: string;
  limits: { balanceMaxMinor: string | null; paymentMaxMinor: string | null; dailyOutflowMaxMinor: string | null };
  publicKey: string | null;
  customerRef: string | null;
  shard: number;
  createdAt: string;
}

/** The freezes holding on a wallet: the central bank's and the bank's own, recorded apart. */
export interface WalletFreezesView {
  central: { reason: string; reference: string; frozenAt: string; operatorId?: string } | null;
  bank: { reason: string; frozenAt: string; bankId?: string } | null;
}

export interface TransferView {
  id: string;
  kind: 'transfer' | 'funding';
  /** `not_settled`: accepted, never recorded, and past its expiry (code `expired`): final. */
  status: 'settled' | 'rejected' | 'pending' | 'not_settled';
  code?: string | null;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  /** Null while accepted and not yet recorded. */
  batchSeq?: string | null;
  shard?: number;
  submittedAtMs?: string;
  settledAtMs?: string | null;
  /** The payment request it pays (a v2 transfer), or null. */
  requestId?: string | null;
}

/** A hold as its payer's or payee's bank reads it (docs/api.md, "Holds"). */
export interface HoldView {
  id: string;
  status: 'open' | 'captured' | 'voided' | 'expired' | 'rejected';
  code: string | null;
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  capturedMinor: string | null;
  returnedMinor: string | null;
  /** Where the captured money is: on its way to the payee's shard, credited, or back with the payer. */
  capture: { status: 'pending' | 'settled' | 'rejected'; code: string | null } | null;
  nonce: string;
  expiresAtMs: string;
  holdExpiresAtMs: string;
  memo: string;
  shard: number;
  batchSeq: string;
  placedAtMs: string;
  closedAtMs: string | null;
}

/** A hold queued and not yet settled (202). */
export interface PendingHoldView {
  id: string;
  status: 'pending';
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  holdExpiresAtMs: string;
}

/** A payment request, as its payee's bank reads it. */
export interface PaymentRequestView {
  id: string;
  payeeWalletId: string;
  amountMinor: string | null;
  expiresAtMs: string;
  reference: string;
  status: 'open' | 'paid' | 'cancelled' | 'expired';
  createdAtMs: string;
  paidByTransferId: string | null;
  paidAtMs: string | null;
  cancelledAtMs: string | null;
  /** The payload to show the payer (QR code or link), with its checksum. */
  uri: string;
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
  /** Freezes or lifts the bank's own freeze (a reason is required), or closes an empty wallet. */
  async setWalletStatus(id: string, action: 'freeze' | 'unfreeze', reason: string, idempotencyKey?: string): Promise<WalletView>;
  async setWalletStatus(id: string, action: 'close', reason?: undefined, idempotencyKey?: string): Promise<WalletView>;
  async setWalletStatus(id: string, action: 'freeze' | 'unfreeze' | 'close', reason?: string, idempotencyKey?: string): Promise<WalletView> {
    return (await this.call<WalletView>('POST', `/v1/wallets/${id}/${action}`, action === 'close' ? undefined : { reason }, idem(idempotencyKey))).body;
  }
  /** Changes a wallet's tier (KYC upgrade or downgrade); the new caps apply from the next settlement batch. */
  async changeTier(id: string, tier: 'I' | 'II' | 'III' | 'IV', reason: string, idempotencyKey?: string): Promise<WalletView> {
    return (await this.call<WalletView>('POST', `/v1/wallets/${id}/tier`, { tier, reason }, idem(idempotencyKey))).body;
  }
  /** Replaces a customer's key (a lost device); the old key is refused from the next settlement batch. */
  async replaceKey(id: string, publicKey: string, reason: string, idempotencyKey?: string): Promise<WalletView> {
    return (await this.call<WalletView>('POST', `/v1/wallets/${id}/key`, { publicKey, reason }, idem(idempotencyKey))).body;
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
  /** Places a customer-signed hold (200 with the hold, or 202 while pending). */
  async placeHold(wire: SignedHoldWire, async = false) {
    return this.call<HoldView | PendingHoldView>('POST', '/v1/holds', wire, asyncHeader(async));
  }
  async hold(id: string): Promise<HoldView> {
    return (await this.call<HoldView>('GET', `/v1/holds/${id}`)).body;
  }
  /** Captures `amountMinor` of a hold (the payee's bank); pass the same key to retry. */
  async captureHold(id: string, amountMinor: bigint, idempotencyKey?: string, async = false) {
    return this.call<HoldView>('POST', `/v1/holds/${id}/capture`, { amountMinor: amountMinor.toString() }, { headers: { ...idem(idempotencyKey).headers, ...asyncHeader(async).headers } });
  }
  /** Voids a hold (the payer's bank); pass the same key to retry. */
  async voidHold(id: string, idempotencyKey?: string, async = false) {
    return this.call<HoldView>('POST', `/v1/holds/${id}/void`, {}, { headers: { ...idem(idempotencyKey).headers, ...asyncHeader(async).headers } });
  }
  async holdReceipt(id: string): Promise<HoldReceipt> {
    return (await this.call<HoldReceipt>('GET', `/v1/holds/${id}/receipt`)).body;
  }
  /** Requests a payment into one of the bank's customer wallets (`amountMinor` absent: the payer chooses). */
  async createPaymentRequest(input: { payeeWalletId: string; amountMinor?: bigint; expiresAtMs: bigint; reference: string }, idempotencyKey?: string): Promise<PaymentRequestView> {
    const body = { payeeWalletId: input.payeeWalletId, ...(input.amountMinor === undefined ? {} : { amountMinor: input.amountMinor.toString() }), expiresAtMs: input.expiresAtMs.toString(), reference: input.reference };
    return (await this.call<PaymentRequestView>('POST', '/v1/payment-requests', body, idem(idempotencyKey))).body;
  }
  async paymentRequest(id: string): Promise<PaymentRequestView> {
    return (await this.call<PaymentRequestView>('GET', `/v1/payment-requests/${id}`)).body;
  }
  async cancelPaymentRequest(id: string, idempotencyKey?: string): Promise<PaymentRequestView> {
    return (await this.call<PaymentRequestView>('POST', `/v1/payment-requests/${id}/cancel`, undefined, idem(idempotencyKey))).body;
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
  /** `retiring`: a retire approved, its treasury debit not yet applied (answered 202); `refused` is answered as insufficient_treasury_balance. */
  status: 'pending_approval' | 'retiring' | 'executed' | 'refused' | 'expired';
  /** A mint's treasury leg: `sent` (executed centrally, not yet credited in the treasury's group) or `delivered`. */
  legStatus?: 'sent' | 'delivered' | null;
  /** Why a retire was refused (`insufficient_treasury_balance`), in the issuances list. */
  code?: string | null;
  approvalReason?: string | null;
  expiresAt?: string;
  chainSeq: string | null;
  createdAt: string;
  executedAt: string | null;
}

/** An operator action under dual control (mint, retire, reserve entry, bank onboarding, operator registration or key change). */
export interface ActionView {
  id: string;
  kind: 'mint' | 'retire' | 'reserve_deposit' | 'reserve_withdrawal' | 'bank_onboarding' | 'operator_registration' | 'operator_key_change';
  bankId: string | null;
  amountMinor: string | null;
  params: Record<string, string>;
  requestedBy: string;
  approvedBy: string | null;
  status: 'pending_approval' | 'executed' | 'expired';
  /** The rule that required a second operator: always_dual, above_single_action_max, operator_window_max, bank_window_max. */
  approvalReason: string | null;
  createdAt: string;
  expiresAt: string;
  executedAt: string | null;
}

export interface OperatorView {
  id: string;
  name: string;
  publicKey: string;
  createdBy: string | null;
  createdAt: string;
}

export interface SupplyView {
  supplyMinor: string;
  backingMinor: string;
  walletBalancesMinor: string;
  /** Set aside by open holds: still the payers', not available to them. */
  heldMinor: string;
  /** Transfers in flight between shards plus issuance in flight between the central database and the groups. */
  inFlightMinor: string;
  transfersInFlightMinor: string;
  issuanceInFlightMinor: string;
  freeReserveMinor: string;
  chain: { seq: string; headHash: string; issuerPublicKey: string | null };
  /** Each shard group's database: its shards, wallet balances and transfers in flight (legs debited - credited - refunded). */
  groups: Array<{ group: number; shards: number[]; walletBalancesMinor: string; heldMinor: string; transfersInFlightMinor: string }>;
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

  /** Requests a bank's onboarding: always pending until a second operator approves it (`approveAction`). */
  async addBank(input: { id: string; name: string; publicKey: string }, idempotencyKey?: string): Promise<ActionView> {
    return (await this.call<ActionView>('POST', '/v1/banks', input, idem(idempotencyKey))).body;
  }
  async banks(): Promise<BankPosition[]> {
    return (await this.call<{ banks: BankPosition[] }>('GET', '/v1/banks')).body.banks;
  }
  /** Records a reserve entry: 201 with the bank's position, or 202 with the action awaiting a second operator. */
  async reserve(bankId: string, kind: 'deposit' | 'withdrawal', amountMinor: bigint, reference: string, idempotencyKey?: string) {
    return this.call<BankPosition | ActionView>('POST', `/v1/banks/${bankId}/reserve/${kind}s`, { amountMinor: amountMinor.toString(), reference }, idem(idempotencyKey));
  }
  async issue(kind: 'mint' | 'retire', bankId: string, amountMinor: bigint, idempotencyKey?: string) {
    return this.call<IssuanceView>('POST', '/v1/issuances', { kind, bankId, amountMinor: amountMinor.toString() }, idem(idempotencyKey));
  }
  async approve(issuanceId: string, idempotencyKey?: string): Promise<IssuanceView> {
    return (await this.call<IssuanceView>('POST', `/v1/issuances/${issuanceId}/approve`, undefined, idem(idempotencyKey))).body;
  }
  /** Approves another operator's pending action of any kind; it executes at once. */
  async approveAction(actionId: string, idempotencyKey?: string): Promise<{ action: ActionView; result: unknown }> {
    return (await this.call<{ action: ActionView; result: unknown }>('POST', `/v1/approvals/${actionId}/approve`, undefined, idem(idempotencyKey))).body;
  }
  async actions(status?: 'pending_approval' | 'executed' | 'expired'): Promise<ActionView[]> {
    return (await this.call<{ actions: ActionView[] }>('GET', `/v1/approvals${status ? `?status=${status}` : ''}`)).body.actions;
  }
  async operators(): Promise<OperatorView[]> {
    return (await this.call<{ operators: OperatorView[] }>('GET', '/v1/operators')).body.operators;
  }
  /** Requests an operator's registration (pending until a second operator approves). */
  async addOperator(input: { id: string; name: string; publicKey: string }, idempotencyKey?: string): Promise<ActionView> {
    return (await this.call<ActionView>('POST', '/v1/operators', input, idem(idempotencyKey))).body;
  }
  /** Requests a change of an operator's key (pending until a second operator approves). */
  async changeOperatorKey(operatorId: string, publicKey: string, idempotencyKey?: string): Promise<ActionView> {
    return (await this.call<ActionView>('POST', `/v1/operators/${operatorId}/key`, { publicKey }, idem(idempotencyKey))).body;
  }
  async issuances(status?: 'pending_approval' | 'executed' | 'expired'): Promise<IssuanceView[]> {
    return (await this.call<{ issuances: IssuanceView[] }>('GET', `/v1/issuances${status ? `?status=${status}` : ''}`)).body.issuances;
  }
  async supply(): Promise<SupplyView> {
    return (await this.call<SupplyView>('GET', '/v1/supply')).body;
  }
  /** The central bank's own freeze of any wallet, or lifting it; both need a reason and a reference. */
  async walletControl(walletId: string, action: 'freeze' | 'unfreeze', decision: { reason: string; reference: string }, idempotencyKey?: string) {
    return (await this.call<{ id: string; bankId: string; status: string; balanceMinor: string; freezes: WalletFreezesView }>('POST', `/v1/wallets/${walletId}/${action}`, decision, idem(idempotencyKey))).body;
  }
  raw<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return this.call<T>(method, path, body, options);
  }
}
