/** Building and signing customer transfers on the customer's side, with @noble/curves. */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { encodeTransfer, transferIdOf, type TransferIntent } from '@cbdc/shared/canonical';
import { ed25519VerifyPortable } from '@cbdc/shared/ed25519';
import type { SignedTransferWire } from '@cbdc/shared/schemas';

/** A new customer key pair: 32-byte seed and public key, both hex. */
export function newCustomerKey(): { privateKey: string; publicKey: string } {
  const seed = randomBytes(32);
  return { privateKey: seed.toString('hex'), publicKey: Buffer.from(ed25519.getPublicKey(seed)).toString('hex') };
}

/** The public key of a seed, hex. */
export function publicKeyOf(privateKeyHex: string): string {
  return Buffer.from(ed25519.getPublicKey(Buffer.from(privateKeyHex, 'hex'))).toString('hex');
}

/** A random 63-bit nonce. */
export function randomNonce(): bigint {
  return randomBytes(8).readBigUInt64BE() >> 1n;
}

export interface TransferDraft {
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: bigint;
  nonce?: bigint;
  /** Defaults to ten minutes from now. */
  expiresAtMs?: bigint;
  memo?: string;
  /** The payment request this transfer pays: signed as canonical v2 (see signRequestedTransfer). */
  requestId?: string;
}

/** Signs a transfer with the payer's key; returns the wire form and its id. */
export function signTransfer(draft: TransferDraft, payerPrivateKeyHex: string): { id: string; wire: SignedTransferWire } {
  const intent: TransferIntent = {
    payerWalletId: draft.payerWalletId,
    payeeWalletId: draft.payeeWalletId,
    amountMinor: draft.amountMinor,
    nonce: draft.nonce ?? randomNonce(),
    expiresAtMs: draft.expiresAtMs ?? BigInt(Date.now() + 10 * 60_000),
    memo: draft.memo ?? '',
    requestId: draft.requestId,
  };
  const bytes = encodeTransfer(intent);
  const signature = Buffer.from(ed25519.sign(bytes, Buffer.from(payerPrivateKeyHex, 'hex'))).toString('hex');
  return {
    id: transferIdOf(bytes),
    wire: {
      payerWalletId: intent.payerWalletId,
      payeeWalletId: intent.payeeWalletId,
      amountMinor: intent.amountMinor.toString(),
      nonce: intent.nonce.toString(),
      expiresAtMs: intent.expiresAtMs.toString(),
      memo: intent.memo,
      ...(draft.requestId === undefined ? {} : { requestId: draft.requestId }),
      signature,
    },
  };
}

/**
 * Whether a signed transfer verifies against the payer's public key under the system's one
 * Ed25519 rule: the verdict settlement and the gateway will give.
 */
export function verifyTransferSignature(wire: SignedTransferWire, payerPublicKeyHex: string): boolean {
  const intent: TransferIntent = {
    payerWalletId: wire.payerWalletId,
    payeeWalletId: wire.payeeWalletId,
    amountMinor: BigInt(wire.amountMinor),
    nonce: BigInt(wire.nonce),
    expiresAtMs: BigInt(wire.expiresAtMs),
    memo: wire.memo,
    requestId: wire.requestId,
  };
  return ed25519VerifyPortable(Buffer.from(payerPublicKeyHex, 'hex'), encodeTransfer(intent), Buffer.from(wire.signature, 'hex'));
}
