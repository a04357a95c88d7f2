/**
 * Payment requests (pull payments): a payee's bank asks to be paid into one of its customer
 * wallets, and shows the payer the request's URI (a QR code or a link). The payer's customer signs
 * a transfer naming the request (canonical v2), submitted as any transfer by the payer's bank;
 * settlement pays the request at most once, at the payee's shard.
 *
 * Only the payee's bank reads or cancels a request: another bank's request is 404, like a missing
 * one. The payer's bank needs no read: the payer's app holds the payload (the URI carries the id,
 * payee, amount, expiry and reference, with a checksum), and settlement answers a transfer that
 * cannot pay the request with a precise code (already paid, cancelled, expired, wrong amount).
 * A read for any bank would let a bank that saw a request id (in a payment passing through it)
 * follow another bank's customer's business; the ids are random, but the bank scoping rule is the
 * one every route keeps.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Sql } from '@cbdc/db/connect';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { problemResponses } from '@cbdc/http/openapi';
import { newPaymentRequestId, shardOf } from '@cbdc/shared/ids';
import { LIMITS } from '@cbdc/shared/limits';
import { ApiError } from '@cbdc/shared/problem';
import { amountMinorSchema, requestIdSchema, textSchema, transferIdSchema, u63StringSchema, walletIdSchema } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import { getOwnWallet } from '../wallets/store.js';
import { cancelPaymentRequest, getOwnPaymentRequest, insertPaymentRequest, paymentRequestView } from './store.js';

const createBody = z.strictObject({
  payeeWalletId: walletIdSchema.describe('One of the calling bank’s customer wallets: the money goes there'),
  amountMinor: amountMinorSchema.optional().describe('The fixed amount in fen; absent for an open amount (the payer chooses, at least 1 fen, within the caps)'),
  expiresAtMs: u63StringSchema.describe('Unix milliseconds; after the server time and at most 30 days ahead (LIMITS.requestExpiryAheadMsMax)'),
  reference: textSchema('reference', LIMITS.requestReferenceBytesMax).describe('What the payment is for, shown to the payer: printable NFC text, 1 to 140 bytes of UTF-8'),
});

const requestView = z
  .object({
    id: requestIdSchema,
    payeeWalletId: walletIdSchema,
    amountMinor: z.string().nullable().meta({ description: 'The fixed amount in fen, or null for an open amount' }),
    expiresAtMs: z.string(),
    reference: z.string(),
    status: z.enum(['open', 'paid', 'cancelled', 'expired']).meta({ description: '`expired`: open, past its expiry (no transfer can pay it)' }),
    createdAtMs: z.string(),
    paidByTransferId: transferIdSchema.nullable(),
    paidAtMs: z.string().nullable().meta({ description: 'The time of the batch that paid it' }),
    cancelledAtMs: z.string().nullable(),
    uri: z.string().meta({
      description: 'The payload for a QR code or link (docs/canonical-encoding.md, "Payment request URI"), with its checksum',
      example: 'cbdc:pay?v=1&id=pr_00000000000000000000000000000001&to=w_000000000000000000000002&amount=100&exp=1767225600000&ref=Invoice%2042&check=a45b917b',
    }),
  })
  .meta({ id: 'PaymentRequest' });

const requestParams = z.strictObject({ requestId: requestIdSchema });

const notFound = () =>
  new ApiError('payment_request_not_found', "no payment request with this id belongs to this bank's wallets", {
    errors: [{ field: 'params/requestId', rule: 'own_request', message: 'is not a payment request of this bank' }],
  });

export async function paymentRequestRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { ledger } = ctx;
  /** A request's database: its id lands on its payee's shard (newPaymentRequestId). */
  const dbOf = (requestId: string) => ledger.ofShard(shardOf(requestId, ctx.shardCount));

  r.post(
    '/v1/payment-requests',
    {
      schema: {
        operationId: 'createPaymentRequest',
        requestHeaders: { 'idempotency-key': 'required' },
        tags: ['payment requests'],
        summary: 'Request a payment into one of the bank’s customer wallets (Idempotency-Key required)',
        description:
          'Creates an open payment request in the payee wallet’s shard and answers 201 with it, including `uri`, the payload to show the payer as a QR code or link. The payer’s customer signs a transfer naming the request (canonical encoding v2); settlement pays it at most once.',
        body: createBody,
        response: { 201: requestView, ...problemResponses(400, 401, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (req, reply) => {
      const key = idempotencyKeyOf(req, true)!;
      const now = ctx.now();
      const expiresAtMs = BigInt(req.body.expiresAtMs);
      const expiry = (rule: string, message: string) => new ApiError('invalid_request', `expiresAtMs ${message}`, { errors: [{ field: 'body/expiresAtMs', rule, message }] });
      if (expiresAtMs <= BigInt(now)) throw expiry('in_future', `must be after the server time (${now})`);
      if (expiresAtMs > BigInt(now + ctx.limits.requestExpiryAheadMsMax)) throw expiry('expiry_window', `must be at most ${ctx.limits.requestExpiryAheadMsMax} ms after the server time`);
      const { payeeWalletId } = req.body;
      const shard = shardOf(payeeWalletId, ctx.shardCount);
      // The request, and the key's claim and answer, are one transaction in the payee's database.
      return ctx.idempotency.inTransaction(
        req,
        reply,
        key,
        async (tx) => {
          const payee = await getOwnWallet(tx as unknown as Sql, req.principal, payeeWalletId);
          const field = 'body/payeeWalletId';
          if (!payee) throw new ApiError('wallet_not_found', `no wallet ${payeeWalletId} for this bank`, { errors: [{ field, rule: 'own_wallet', message: 'must be a wallet of the calling bank' }] });
          if (payee.kind !== 'customer') throw new ApiError('wallet_is_treasury', 'a treasury is paid by redemptions, not requests', { errors: [{ field, rule: 'customer_wallet', message: 'must be a customer wallet' }] });
          if (payee.status === 'closed') throw new ApiError('wallet_closed', `wallet ${payeeWalletId} is closed`, { errors: [{ field, rule: 'open_wallet', message: 'the wallet is closed' }] });
          const row = await insertPaymentRequest(tx as unknown as Sql, {
            id: newPaymentRequestId(shard, ctx.shardCount),
            bankId: req.principal,
            payeeWalletId,
            shard,
            amountMinor: req.body.amountMinor === undefined ? null : BigInt(req.body.amountMinor),
            expiresAtMs,
            reference: req.body.reference,
            nowMs: now,
          });
          return { status: 201, body: paymentRequestView(row, now) };
        },
        { on: ledger.writable(ledger.ofShard(shard)) },
      );
    },
  );

  r.get(
    '/v1/payment-requests/:requestId',
    {
      schema: {
        operationId: 'getPaymentRequest',
        tags: ['payment requests'],
        summary: 'Read one of the bank’s payment requests',
        description: 'Its status (open, paid with the transfer and time, cancelled, or expired) and its URI. Only the payee’s bank reads it: another bank’s request is 404.',
        params: requestParams,
        response: { 200: requestView, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (req) => {
      const row = await ledger.read(dbOf(req.params.requestId), (sql) => getOwnPaymentRequest(sql, req.principal, req.params.requestId));
      if (!row) throw notFound();
      return paymentRequestView(row, ctx.now());
    },
  );

  r.post(
    '/v1/payment-requests/:requestId/cancel',
    {
      schema: {
        operationId: 'cancelPaymentRequest',
        requestHeaders: { 'idempotency-key': 'optional' },
        tags: ['payment requests'],
        summary: 'Cancel one of the bank’s open payment requests',
        description:
          'From then on a transfer naming it is rejected `request_cancelled`. Cancelling a cancelled request answers it as it is; a paid one is 409 `payment_request_paid`. Serialised with settlement: a request is paid or cancelled, never both.',
        params: requestParams,
        response: { 200: requestView, ...problemResponses(400, 401, 404, 409, 422, 429, 503) },
      },
    },
    async (req, reply) =>
      ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          const row = await cancelPaymentRequest(tx as unknown as Sql, req.principal, req.params.requestId, ctx.now());
          if (row === 'not_found') throw notFound();
          if (row === 'paid') throw new ApiError('payment_request_paid', `payment request ${req.params.requestId} is paid`, { errors: [{ field: 'params/requestId', rule: 'open_request', message: 'is paid' }] });
          return { status: 200, body: paymentRequestView(row, ctx.now()) };
        },
        { on: ledger.writable(dbOf(req.params.requestId)) },
      ),
  );
}
