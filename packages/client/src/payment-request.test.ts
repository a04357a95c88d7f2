import { describe, expect, it } from 'vitest';
import { paymentRequestUri } from '@cbdc/shared/payment-request';
import { signRequestedTransfer } from './payment-request.js';
import { newCustomerKey, signTransfer, verifyTransferSignature } from './transfer.js';

const payer = newCustomerKey();
const fixed = { requestId: `pr_${'ab'.repeat(16)}`, payeeWalletId: 'w_000000000000000000000002', amountMinor: 2500n, expiresAtMs: BigInt(Date.now() + 3_600_000), reference: 'Table 7' };

describe('signRequestedTransfer: the payer’s app pays a request from its URI', () => {
  it('signs a v2 transfer naming the request, to its payee, for its amount, verifying under the one rule', () => {
    const { id, wire, request } = signRequestedTransfer(paymentRequestUri(fixed), { payerWalletId: 'w_000000000000000000000001' }, payer.privateKey);
    expect(request).toEqual(fixed);
    expect(wire).toMatchObject({ payerWalletId: 'w_000000000000000000000001', payeeWalletId: fixed.payeeWalletId, amountMinor: '2500', requestId: fixed.requestId });
    expect(verifyTransferSignature(wire, payer.publicKey)).toBe(true);
    // The request id is signed: another one, or none, does not verify; and the id is not the v1 transfer's.
    expect(verifyTransferSignature({ ...wire, requestId: `pr_${'cd'.repeat(16)}` }, payer.publicKey)).toBe(false);
    const { requestId: _, ...v1 } = wire;
    expect(verifyTransferSignature(v1, payer.publicKey)).toBe(false);
    const sameAsV1 = signTransfer({ payerWalletId: wire.payerWalletId, payeeWalletId: wire.payeeWalletId, amountMinor: 2500n, nonce: BigInt(wire.nonce), expiresAtMs: BigInt(wire.expiresAtMs) }, payer.privateKey);
    expect(sameAsV1.id).not.toBe(id);
  });

  it('expires the transfer with the request at the latest', () => {
    const soon = { ...fixed, expiresAtMs: BigInt(Date.now() + 60_000) };
    expect(signRequestedTransfer(soon, { payerWalletId: 'w_000000000000000000000001' }, payer.privateKey).wire.expiresAtMs).toBe(soon.expiresAtMs.toString());
  });

  it('refuses, before signing, a mangled URI, another amount for a fixed one, and no amount for an open one', () => {
    const uri = paymentRequestUri(fixed);
    expect(() => signRequestedTransfer(uri.replace('amount=2500', 'amount=2600'), { payerWalletId: 'w_000000000000000000000001' }, payer.privateKey)).toThrow(/checksum/);
    expect(() => signRequestedTransfer(uri, { payerWalletId: 'w_000000000000000000000001', amountMinor: 1n }, payer.privateKey)).toThrow(/2500/);
    const open = paymentRequestUri({ ...fixed, amountMinor: null });
    expect(() => signRequestedTransfer(open, { payerWalletId: 'w_000000000000000000000001' }, payer.privateKey)).toThrow(/open amount/);
    expect(signRequestedTransfer(open, { payerWalletId: 'w_000000000000000000000001', amountMinor: 42n }, payer.privateKey).wire.amountMinor).toBe('42');
  });
});
