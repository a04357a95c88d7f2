/** Building and signing customer holds on the customer's side, with @noble/curves. */
import { ed25519 } from '@noble/curves/ed25519.js';
import { encodeHold, holdIdOf, type HoldIntent } from '@cbdc/shared/canonical-hold';
import type { SignedHoldWire } from '@cbdc/shared/schemas';
import { randomNonce } from './transfer.js';

export interface HoldDraft {
  payerWalletId: string;
  payeeWalletId: string;
  /** The most the payee may capture. */
  amountMinor: bigint;
  nonce?: bigint;
  /** When the signature lapses if the hold is not placed; defaults to ten minutes from now. */
  expiresAtMs?: bigint;
  /** When the money returns to the payer unless captured or voided first; defaults to one day from now. */
  holdExpiresAtMs?: bigint;
  memo?: string;
}

/** Signs a hold with the payer's key; returns the wire form and its id. */
export function signHold(draft: HoldDraft, payerPrivateKeyHex: string): { id: string; wire: SignedHoldWire } {
  const intent: HoldIntent = {
    payerWalletId: draft.payerWalletId,
    payeeWalletId: draft.payeeWalletId,
    amountMinor: draft.amountMinor,
    nonce: draft.nonce ?? randomNonce(),
    expiresAtMs: draft.expiresAtMs ?? BigInt(Date.now() + 10 * 60_000),
    holdExpiresAtMs: draft.holdExpiresAtMs ?? BigInt(Date.now() + 24 * 3_600_000),
    memo: draft.memo ?? '',
  };
  const bytes = encodeHold(intent);
  const signature = Buffer.from(ed25519.sign(bytes, Buffer.from(payerPrivateKeyHex, 'hex'))).toString('hex');
  return {
    id: holdIdOf(bytes),
    wire: {
      payerWalletId: intent.payerWalletId,
      payeeWalletId: intent.payeeWalletId,
      amountMinor: intent.amountMinor.toString(),
      nonce: intent.nonce.toString(),
      expiresAtMs: intent.expiresAtMs.toString(),
      holdExpiresAtMs: intent.holdExpiresAtMs.toString(),
      memo: intent.memo,
      signature,
    },
  };
}
