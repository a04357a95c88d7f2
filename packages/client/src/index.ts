/**
 * Clients for the wallet gateway (banks) and the issuer (operators). Every call that changes
 * something sends an Idempotency-Key: the one given (pass the same key to retry a call whose
 * answer was lost), or a fresh one. Transfers need none: their id is their signed content.
 */
import { randomUUID } from 'node:crypto';
import type { SignedHoldWire, SignedTransferWire } from '@cbdc/shared/schemas';
import { signedRequest, type CallOptions, type Credentials } from './http.js';
import type { HoldReceipt, Receipt } from './receipt.js';
import type { components as GatewayComponents, operations as GatewayOperations } from './generated/gateway.js';
import type { components as IssuerComponents, operations as IssuerOperations } from './generated/issuer.js';

export { CbdcApiError, CbdcUnreachableError, signedHeaders, signedRequest, type Credentials } from './http.js';
export { signTransfer, newCustomerKey, publicKeyOf, randomNonce, verifyTransferSignature } from './transfer.js';
export { ed25519PublicKeyProblem, ed25519VerifyPortable } from '@cbdc/shared/ed25519';
export { verifyHoldReceipt, verifyReceipt, type HoldReceipt, type Receipt } from './receipt.js';
export { signHold, type HoldDraft } from './hold.js';
export { parsePaymentRequestUri, paymentRequestUri, signRequestedTransfer, type PaymentRequestPayload, type RequestedPayment } from './payment-request.js';

/**
 * The wire types, generated from the services' OpenAPI documents (`npm run openapi`): a change to
 * a route's schema changes them, and this client stops compiling where it no longer matches.
 */
type GatewaySchemas = GatewayComponents['schemas'];
type IssuerSchemas = IssuerComponents['schemas'];

/** The JSON body of an operation's answer with status `S`. */
type AnswerOf<Op, S extends number> = Op extends { responses: infer R } ? (S extends keyof R ? (R[S] extends { content: { 'application/json': infer B } } ? B : never) : never) : never;
/** The JSON body an operation takes. */
type BodyOf<Op> = Op extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;

export type WalletView = GatewaySchemas['Wallet'];
/** The freezes holding on a wallet: the central bank's and the bank's own, recorded apart. */
export type WalletFreezesView = GatewaySchemas['WalletFreezes'];
/** A recorded transfer (final once settled or rejected). */
export type TransferView = GatewaySchemas['Transfer'];
/** A transfer queued for settlement, not yet recorded. */
export type QueuedTransferView = GatewaySchemas['QueuedTransfer'];
/** What submitting one transfer, redemption or funding answers: the outcome (200) or the pending transfer (202). */
export type SubmissionAnswer = WithCode<AnswerOf<GatewayOperations['submitTransfer'], 200> | AnswerOf<GatewayOperations['submitTransfer'], 202>>;
/** A queued transfer has no `code` yet: typed as absent, so callers may read `code` on any answer. */
type WithCode<T> = T extends { code: unknown } ? T : T & { code?: undefined };
export type BatchResults = GatewaySchemas['BatchResults'];
export type WalletPage = AnswerOf<GatewayOperations['listWallets'], 200>;
export type TransferPage = AnswerOf<GatewayOperations['listWalletTransfers'], 200>;
export type OpenWalletInput = BodyOf<GatewayOperations['openWallet']>;

/** A hold as its payer's or payee's bank reads it (docs/api.md, "Holds"). */
export type HoldView = GatewaySchemas['Hold'];
/** A hold queued and not yet settled (202). */
export type PendingHoldView = GatewaySchemas['PendingHold'];
/** A payment request, as its payee's bank reads it. */
export type PaymentRequestView = GatewaySchemas['PaymentRequest'];

export type BankPosition = IssuerSchemas['Bank'];
/** A mint or retire request and how far it got. */
export type IssuanceView = IssuerSchemas['Issuance'];
/** An operator action under dual control (mint, retire, reserve entry, bank onboarding, operator registration or key change). */
export type ActionView = IssuerSchemas['OperatorAction'];
export type OperatorView = IssuerSchemas['Operator'];
export type SupplyView = IssuerSchemas['Supply'];
export type ApprovalView = IssuerSchemas['Approval'];
export type ControlledWalletView = IssuerSchemas['ControlledWallet'];

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

  async openWallet(input: OpenWalletInput, idempotencyKey?: string): Promise<AnswerOf<GatewayOperations['openWallet'], 201>> {
    return (await this.call<AnswerOf<GatewayOperations['openWallet'], 201>>('POST', '/v1/wallets', input, idem(idempotencyKey))).body;
  }
  async wallet(id: string): Promise<AnswerOf<GatewayOperations['getWallet'], 200>> {
    return (await this.call<AnswerOf<GatewayOperations['getWallet'], 200>>('GET', `/v1/wallets/${id}`)).body;
  }
  async wallets(limit = 50, cursor?: string): Promise<WalletPage> {
    return (await this.call<WalletPage>('GET', `/v1/wallets?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)).body;
  }
  /** Freezes or lifts the bank's own freeze (a reason is required), or closes an empty wallet. */
  async setWalletStatus(id: string, action: 'freeze' | 'unfreeze', reason: string, idempotencyKey?: string): Promise<WalletView>;
  async setWalletStatus(id: string, action: 'close', reason?: undefined, idempotencyKey?: string): Promise<WalletView>;
  async setWalletStatus(id: string, action: 'freeze' | 'unfreeze' | 'close', reason?: string, idempotencyKey?: string): Promise<WalletView> {
    return (
      await this.call<AnswerOf<GatewayOperations['freezeWallet' | 'unfreezeWallet' | 'closeWallet'], 200>>(
        'POST',
        `/v1/wallets/${id}/${action}`,
        action === 'close' ? undefined : ({ reason: reason ?? '' } satisfies BodyOf<GatewayOperations['freezeWallet']>),
        idem(idempotencyKey),
      )
    ).body;
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
    return this.call<SubmissionAnswer>('POST', '/v1/fundings', { walletId, amountMinor: amountMinor.toString() } satisfies BodyOf<GatewayOperations['fundWallet']>, {
      headers: { ...idem(idempotencyKey).headers, ...asyncHeader(async).headers },
    });
  }
  async transfer(wire: SignedTransferWire, async = false) {
    return this.call<SubmissionAnswer>('POST', '/v1/transfers', wire satisfies BodyOf<GatewayOperations['submitTransfer']>, asyncHeader(async));
  }
  async redeem(wire: SignedTransferWire, async = false) {
    return this.call<SubmissionAnswer>('POST', '/v1/redemptions', wire satisfies BodyOf<GatewayOperations['submitRedemption']>, asyncHeader(async));
  }
  async transferBatch(wires: SignedTransferWire[], async = false) {
    return this.call<BatchResults>('POST', '/v1/transfers/batch', { transfers: wires } satisfies BodyOf<GatewayOperations['submitTransferBatch']>, asyncHeader(async));
  }
  async getTransfer(id: string): Promise<AnswerOf<GatewayOperations['getTransfer'], 200>> {
    return (await this.call<AnswerOf<GatewayOperations['getTransfer'], 200>>('GET', `/v1/transfers/${id}`)).body;
  }
  async receipt(id: string): Promise<Receipt> {
    // The generated answer must be a Receipt as verifyReceipt reads it: this line stops compiling if they drift.
    const answer: Receipt = (await this.call<AnswerOf<GatewayOperations['getTransferReceipt'], 200>>('GET', `/v1/transfers/${id}/receipt`)).body;
    return answer;
  }
  async history(walletId: string, limit = 50, cursor?: string): Promise<TransferPage> {
    return (await this.call<TransferPage>('GET', `/v1/wallets/${walletId}/transfers?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)).body;
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
  async shards(): Promise<GatewaySchemas['Shards']['shards']> {
    return (await this.call<AnswerOf<GatewayOperations['listShards'], 200>>('GET', '/v1/shards')).body.shards;
  }
  /** Any request, for routes without a helper. */
  raw<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return this.call<T>(method, path, body, options);
  }
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
  async addBank(input: BodyOf<IssuerOperations['requestBankOnboarding']>, idempotencyKey?: string): Promise<AnswerOf<IssuerOperations['requestBankOnboarding'], 202>> {
    return (await this.call<AnswerOf<IssuerOperations['requestBankOnboarding'], 202>>('POST', '/v1/banks', input, idem(idempotencyKey))).body;
  }
  async banks(): Promise<BankPosition[]> {
    return (await this.call<AnswerOf<IssuerOperations['listBanks'], 200>>('GET', '/v1/banks')).body.banks;
  }
  /** Records a reserve entry: 201 with the bank's position, or 202 with the action awaiting a second operator. */
  async reserve(bankId: string, kind: 'deposit' | 'withdrawal', amountMinor: bigint, reference: string, idempotencyKey?: string) {
    return this.call<AnswerOf<IssuerOperations['recordReserveDeposit'], 201> | AnswerOf<IssuerOperations['recordReserveDeposit'], 202>>(
      'POST',
      `/v1/banks/${bankId}/reserve/${kind}s`,
      { amountMinor: amountMinor.toString(), reference } satisfies BodyOf<IssuerOperations['recordReserveDeposit' | 'recordReserveWithdrawal']>,
      idem(idempotencyKey),
    );
  }
  async issue(kind: 'mint' | 'retire', bankId: string, amountMinor: bigint, idempotencyKey?: string) {
    return this.call<AnswerOf<IssuerOperations['requestIssuance'], 201 | 202>>('POST', '/v1/issuances', { kind, bankId, amountMinor: amountMinor.toString() } satisfies BodyOf<IssuerOperations['requestIssuance']>, idem(idempotencyKey));
  }
  async approve(issuanceId: string, idempotencyKey?: string): Promise<AnswerOf<IssuerOperations['approveIssuance'], 200 | 202>> {
    return (await this.call<AnswerOf<IssuerOperations['approveIssuance'], 200 | 202>>('POST', `/v1/issuances/${issuanceId}/approve`, undefined, idem(idempotencyKey))).body;
  }
  /** Approves another operator's pending action of any kind; it executes at once. */
  async approveAction(actionId: string, idempotencyKey?: string): Promise<AnswerOf<IssuerOperations['approveOperatorAction'], 200>> {
    return (await this.call<AnswerOf<IssuerOperations['approveOperatorAction'], 200>>('POST', `/v1/approvals/${actionId}/approve`, undefined, idem(idempotencyKey))).body;
  }
  async actions(status?: 'pending_approval' | 'executed' | 'expired'): Promise<ActionView[]> {
    return (await this.call<AnswerOf<IssuerOperations['listOperatorActions'], 200>>('GET', `/v1/approvals${status ? `?status=${status}` : ''}`)).body.actions;
  }
  async operators(): Promise<OperatorView[]> {
    return (await this.call<AnswerOf<IssuerOperations['listOperators'], 200>>('GET', '/v1/operators')).body.operators;
  }
  /** Requests an operator's registration (pending until a second operator approves). */
  async addOperator(input: BodyOf<IssuerOperations['requestOperatorRegistration']>, idempotencyKey?: string): Promise<AnswerOf<IssuerOperations['requestOperatorRegistration'], 202>> {
    return (await this.call<AnswerOf<IssuerOperations['requestOperatorRegistration'], 202>>('POST', '/v1/operators', input, idem(idempotencyKey))).body;
  }
  /** Requests a change of an operator's key (pending until a second operator approves). */
  async changeOperatorKey(operatorId: string, publicKey: string, idempotencyKey?: string): Promise<AnswerOf<IssuerOperations['requestOperatorKeyChange'], 202>> {
    return (await this.call<AnswerOf<IssuerOperations['requestOperatorKeyChange'], 202>>('POST', `/v1/operators/${operatorId}/key`, { publicKey } satisfies BodyOf<IssuerOperations['requestOperatorKeyChange']>, idem(idempotencyKey))).body;
  }
  async issuances(status?: 'pending_approval' | 'executed' | 'expired'): Promise<IssuanceView[]> {
    return (await this.call<AnswerOf<IssuerOperations['listIssuances'], 200>>('GET', `/v1/issuances${status ? `?status=${status}` : ''}`)).body.issuances;
  }
  async supply(): Promise<SupplyView> {
    return (await this.call<AnswerOf<IssuerOperations['getSupply'], 200>>('GET', '/v1/supply')).body;
  }
  /** The central bank's own freeze of any wallet, or lifting it; both need a reason and a reference. */
  async walletControl(walletId: string, action: 'freeze' | 'unfreeze', decision: { reason: string; reference: string }, idempotencyKey?: string) {
    return (await this.call<AnswerOf<IssuerOperations['freezeWalletCentrally'], 200>>('POST', `/v1/wallets/${walletId}/${action}`, decision satisfies BodyOf<IssuerOperations['freezeWalletCentrally']>, idem(idempotencyKey))).body;
  }
  raw<T>(method: string, path: string, body?: unknown, options?: CallOptions) {
    return this.call<T>(method, path, body, options);
  }
}
