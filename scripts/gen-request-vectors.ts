/**
 * Writes the vectors of payment requests for bank integrators: docs/vectors/transfers-v2.json (the
 * canonical transfer v2, which names a payment request) and docs/vectors/payment-request-uris.json
 * (the QR / link payload with its checksum, valid and invalid ones). Fixed keys, so the files are
 * reproducible; run with `npx tsx scripts/gen-request-vectors.ts`. Tests check them
 * (packages/shared/src/transfer-v2.test.ts, packages/shared/src/payment-request.test.ts).
 */
import { writeFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { encodeTransfer, transferIdOf, type TransferIntent } from '@cbdc/shared/canonical';
import { paymentRequestChecksum, paymentRequestUri, parsePaymentRequestUri, type PaymentRequestPayload } from '@cbdc/shared/payment-request';

const transfers: Array<{ name: string; seedHex: string; transfer: TransferIntent & { requestId: string } }> = [
  {
    name: 'minimal, paying a request',
    seedHex: '01'.repeat(32),
    transfer: { payerWalletId: 'w_000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 1n, nonce: 0n, expiresAtMs: 1700000000000n, memo: '', requestId: 'pr_00000000000000000000000000000001' },
  },
  {
    name: 'with memo',
    seedHex: '02'.repeat(32),
    transfer: { payerWalletId: 'w_0123456789abcdef01234567', payeeWalletId: 'w_89abcdef0123456789abcdef', amountMinor: 123456n, nonce: 42n, expiresAtMs: 1767225600000n, memo: 'lunch 午饭', requestId: 'pr_0123456789abcdef0123456789abcdef' },
  },
  {
    name: 'maximum amount and nonce',
    seedHex: '03'.repeat(32),
    transfer: {
      payerWalletId: 'w_ffffffffffffffffffffffff',
      payeeWalletId: 'w_eeeeeeeeeeeeeeeeeeeeeeee',
      amountMinor: 2n ** 63n - 1n,
      nonce: 2n ** 63n - 1n,
      expiresAtMs: 4102444800000n,
      memo: 'x'.repeat(140),
      requestId: 'pr_ffffffffffffffffffffffffffffffff',
    },
  },
];

const transferVectors = transfers.map(({ name, seedHex, transfer }) => {
  const bytes = encodeTransfer(transfer);
  const seed = Buffer.from(seedHex, 'hex');
  const v1 = encodeTransfer({ ...transfer, requestId: null });
  return {
    name,
    privateKeySeed: seedHex,
    publicKey: Buffer.from(ed25519.getPublicKey(seed)).toString('hex'),
    transfer: { ...transfer, amountMinor: transfer.amountMinor.toString(), nonce: transfer.nonce.toString(), expiresAtMs: transfer.expiresAtMs.toString() },
    canonicalHex: bytes.toString('hex'),
    transferId: transferIdOf(bytes),
    signature: Buffer.from(ed25519.sign(bytes, seed)).toString('hex'),
    // The same fields without the request: the v1 transfer, another id.
    v1TransferId: transferIdOf(v1),
  };
});
writeFileSync(new URL('../docs/vectors/transfers-v2.json', import.meta.url), `${JSON.stringify(transferVectors, null, 2)}\n`);

const payloads: Array<{ name: string; payload: PaymentRequestPayload }> = [
  { name: 'fixed amount', payload: { requestId: 'pr_00000000000000000000000000000001', payeeWalletId: 'w_000000000000000000000002', amountMinor: 100n, expiresAtMs: 1767225600000n, reference: 'Invoice 42' } },
  { name: 'open amount', payload: { requestId: 'pr_0123456789abcdef0123456789abcdef', payeeWalletId: 'w_89abcdef0123456789abcdef', amountMinor: null, expiresAtMs: 1767225600000n, reference: 'tips' } },
  {
    name: 'reference with CJK, emoji and reserved characters',
    payload: { requestId: 'pr_ffffffffffffffffffffffffffffffff', payeeWalletId: 'w_eeeeeeeeeeeeeeeeeeeeeeee', amountMinor: 2n ** 63n - 1n, expiresAtMs: 4102444800000n, reference: '午饭 & coffee ☕ #7 a/b?c=d%e_f.g~h-i' },
  },
  { name: 'longest reference (140 bytes)', payload: { requestId: 'pr_00000000000000000000000000000002', payeeWalletId: 'w_000000000000000000000003', amountMinor: 1n, expiresAtMs: 0n, reference: '元'.repeat(46) + 'xx' } },
];
const valid = payloads.map(({ name, payload }) => {
  const uri = paymentRequestUri(payload);
  return { name, payload: { ...payload, amountMinor: payload.amountMinor === null ? null : payload.amountMinor.toString(), expiresAtMs: payload.expiresAtMs.toString() }, uri, checksum: uri.slice(-8) };
});

/** A URI with its checksum made right again, so that the rule after the checksum is the one that fails. */
const resealed = (body: string) => `${body}&check=${paymentRequestChecksum(body)}`;
const base = valid[0].uri;
const body = base.slice(0, base.lastIndexOf('&check='));
const invalidUris: Array<{ name: string; uri: string }> = [
  { name: 'amount changed, checksum not', uri: base.replace('amount=100', 'amount=900') },
  { name: 'checksum in upper case', uri: body + '&check=' + base.slice(-8).toUpperCase() },
  { name: 'no checksum', uri: body },
  { name: 'another scheme', uri: resealed(body.replace('cbdc:pay?', 'cbdc:get?')) },
  { name: 'version 2', uri: resealed(body.replace('v=1', 'v=2')) },
  { name: 'parameters out of order', uri: resealed(body.replace('&id=pr_00000000000000000000000000000001&to=w_000000000000000000000002', '&to=w_000000000000000000000002&id=pr_00000000000000000000000000000001')) },
  { name: 'a parameter twice', uri: resealed(`${body}&ref=x`) },
  { name: 'a malformed request id', uri: resealed(body.replace('pr_00000000000000000000000000000001', 'pr_0000000000000000000000000000000G')) },
  { name: 'a malformed payee', uri: resealed(body.replace('w_000000000000000000000002', 'w_2')) },
  { name: 'a zero amount', uri: resealed(body.replace('amount=100', 'amount=0')) },
  { name: 'an amount with a leading zero', uri: resealed(body.replace('amount=100', 'amount=0100')) },
  { name: 'an expiry with a sign', uri: resealed(body.replace('exp=1767225600000', 'exp=+1767225600000')) },
  { name: 'an unreserved character percent-encoded', uri: resealed(body.replace('Invoice%2042', '%49nvoice%2042')) },
  { name: 'percent-encoding in lower case', uri: resealed(body.replace('Invoice%2042', 'Invoice%2a42')) },
  { name: 'a space not encoded', uri: resealed(body.replace('Invoice%2042', 'Invoice 42')) },
  { name: 'not UTF-8', uri: resealed(body.replace('Invoice%2042', 'Invoice%FF42')) },
  { name: 'a control character in the reference', uri: resealed(body.replace('Invoice%2042', 'Invoice%0A42')) },
  { name: 'an empty reference', uri: resealed(body.replace('ref=Invoice%2042', 'ref=')) },
  { name: 'a reference over 140 bytes', uri: resealed(body.replace('ref=Invoice%2042', `ref=${'x'.repeat(141)}`)) },
];
const invalid = invalidUris.map(({ name, uri }) => {
  const parsed = parsePaymentRequestUri(uri);
  if (parsed.ok) throw new Error(`invalid vector "${name}" parses`);
  return { name, uri, rule: parsed.problem.slice(0, parsed.problem.indexOf(':')) };
});
writeFileSync(new URL('../docs/vectors/payment-request-uris.json', import.meta.url), `${JSON.stringify({ valid, invalid }, null, 2)}\n`);
console.log(`wrote ${transferVectors.length} transfer v2 vectors, ${valid.length} valid and ${invalid.length} invalid URIs`);
