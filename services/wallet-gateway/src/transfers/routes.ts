/** Transfers, redemptions and fundings; outcomes, receipts and shard keys. */
import { z } from 'zod';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf, type LeasedAnswer } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { ApiError } from '@cbdc/shared/problem';
import { amountMinorSchema, signedTransferSchema, transferIdSchema, walletIdSchema } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import { signedRequestAuthority, wantsAsync } from '../signed-request.js';
import { readTransfer } from './read.js';
import { receiptFor, visibleTransfer } from './store.js';
import { batchResultsSchema, pendingTransferSchema, receiptSchema, shardsSchema, transferSchema } from './schemas.js';
import { fundingDatabase, submitFunding, submitSignedTransfers, type FundingResult, type ItemResult } from './submit.js';

/**
 * One item's answer: 200 with a final outcome (the only kind stored for an Idempotency-Key), 202
 * while pending, the problem if invalid. A funding answered from the transfer its key recorded
 * says so (`idempotent-replayed`), as a stored answer does.
 */
function answerOf(result: FundingResult): LeasedAnswer {
  const replayed: Record<string, string> = result.replayed ? { 'idempotent-replayed': 'true' } : {};
  if (result.status === 'invalid') return { status: result.problem.status, body: result.problem, contentType: 'application/problem+json', final: false };
  if (result.status === 'pending') return { status: 202, body: result.transfer, headers: { location: `/v1/transfers/${result.id}`, ...replayed }, final: false };
  return { status: 200, body: result.transfer, headers: replayed, final: true };
}

/** The answers of a route that submits one item (a transfer, a redemption, a funding). */
const oneItemResponses = {
  200: jsonResponse(transferSchema, { description: 'The committed outcome: `settled`, or `rejected` with a code (final and recorded; resubmitting answers the same)' }),
  202: jsonResponse(pendingTransferSchema, {
    description: 'Queued (with `Prefer: respond-async`), or not committed within the wait, or in flight between shards: read the outcome at Location',
    headers: ['location'],
  }),
  ...problemResponses(404, 422),
};

const ITEM_REFUSALS =
  'Refused before anything is queued: `404 wallet_not_found` (a payer not of this bank, an unknown payee: the whole request), `422` for the item (`bad_signature`, `transfer_expired`, `expiry_too_far`, `same_wallet`, `wallet_closed`, `wallet_is_treasury`, `payee_is_treasury`, `not_a_redemption`, `authority_refused`), each naming the field.';

/** Sends one item's result. */
function sendOne(reply: FastifyReply, result: ItemResult) {
  const answer = answerOf(result);
  if (answer.contentType) reply.type(answer.contentType);
  return reply
    .code(answer.status)
    .headers(answer.headers ?? {})
    .send(answer.body);
}

export async function transferRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const batchBody = z.strictObject({
    transfers: z
      .array(signedTransferSchema)
      .min(1, { error: 'batch_min: at least one transfer' })
      .max(ctx.limits.transfersPerRequestMax, { error: `batch_max: at most ${ctx.limits.transfersPerRequestMax} transfers per request` }),
  });

  r.post(
    '/v1/transfers',
    {
      schema: {
        operationId: 'submitTransfer',
        tags: ['transfers'],
        summary: 'Submit one customer-signed transfer',
        description: `Answers 200 with the committed outcome (settled or rejected with a code), or 202 if it is still pending after the wait (or with Prefer: respond-async). The transfer's id is its signed content: resubmitting it is always safe and never pays twice. ${ITEM_REFUSALS}`,
        requestHeaders: { prefer: 'optional' },
        body: signedTransferSchema,
        response: oneItemResponses,
      },
    },
    async (req, reply) => {
      const [result] = await submitSignedTransfers(ctx, req.principal, [req.body], { async: wantsAsync(req), fieldOf: (_, f) => `body/${f}` });
      return sendOne(reply, result);
    },
  );

  r.post(
    '/v1/transfers/batch',
    {
      schema: {
        operationId: 'submitTransferBatch',
        tags: ['transfers'],
        summary: 'Submit up to the per-request maximum of customer-signed transfers',
        description: `One result per item, in order: the committed outcome (\`settled\`, \`rejected\` with a code), \`pending\`, or \`invalid\` with a problem naming the field (nothing recorded for that item; the others go on). A payer that is not the calling bank's, or an unknown payee, refuses the whole batch (404, nothing queued). Without Prefer the answer waits for settlement (200; an item not committed within the wait is \`pending\`); with \`Prefer: respond-async\` it answers 202 once the items are queued.`,
        requestHeaders: { prefer: 'optional' },
        body: batchBody,
        response: {
          200: jsonResponse(batchResultsSchema, { description: 'Waited for settlement: one result per item' }),
          202: jsonResponse(batchResultsSchema, { description: 'With `Prefer: respond-async`: queued; each valid item is `pending` (read it at /v1/transfers/{id}), each refused one `invalid`' }),
          ...problemResponses(404),
        },
      },
    },
    async (req, reply) => {
      const async = wantsAsync(req);
      const results = await submitSignedTransfers(ctx, req.principal, req.body.transfers, { async, fieldOf: (i, f) => `body/transfers/${i}/${f}` });
      // RFC 7240: a server that honours respond-async answers 202 Accepted.
      return reply.code(async ? 202 : 200).send({
        results: results.map((res) => (res.status === 'invalid' ? { index: res.index, id: res.id, status: res.status, problem: res.problem } : { index: res.index, ...res.transfer })),
      });
    },
  );

  r.post(
    '/v1/redemptions',
    {
      schema: {
        operationId: 'submitRedemption',
        tags: ['transfers'],
        summary: "Redeem: a customer-signed transfer to the bank's own treasury wallet",
        description: `The customer converts digital currency back into deposits: a signed transfer whose payee is \`t_<bank>\`, the calling bank's treasury. Answers as POST /v1/transfers. ${ITEM_REFUSALS}`,
        requestHeaders: { prefer: 'optional' },
        body: signedTransferSchema,
        response: oneItemResponses,
      },
    },
    async (req, reply) => {
      const [result] = await submitSignedTransfers(ctx, req.principal, [req.body], { async: wantsAsync(req), fieldOf: (_, f) => `body/${f}`, redemptionOnly: true });
      return sendOne(reply, result);
    },
  );

  r.post(
    '/v1/fundings',
    {
      schema: {
        operationId: 'fundWallet',
        tags: ['transfers'],
        summary: "Fund a customer wallet from the bank's treasury",
        description:
          "The customer converts deposits: the treasury pays one of the bank's customer wallets. The Idempotency-Key is required and is the funding's identity: settlement applies a funding once per key, and a retry with the key is answered from the recorded funding (`idempotent-replayed: true`). Refused: `404 wallet_not_found`, `422 wallet_is_treasury` / `wallet_closed`, naming `body/walletId`.",
        requestHeaders: { 'idempotency-key': 'required', prefer: 'optional' },
        body: z.strictObject({ walletId: walletIdSchema, amountMinor: amountMinorSchema }),
        response: oneItemResponses,
      },
    },
    async (req, reply) => {
      const key = idempotencyKeyOf(req, true)!;
      // Settlement applies a funding once under fundingIdOf(bank, key), and only on the bank's own
      // signed request (its authority, carried with the item); the lease keeps one request at a time
      // per key, binds the key to this body, and lets a retry drive a crashed one again. The key
      // lives with the funding's row, in the database of the bank's treasury (the payer).
      return ctx.idempotency.underLease(
        req,
        reply,
        key,
        async () => answerOf(await submitFunding(ctx, req.principal, signedRequestAuthority(req, key), req.body.walletId, req.body.amountMinor, wantsAsync(req))),
        fundingDatabase(ctx, req.principal),
      );
    },
  );

  const transferParams = z.strictObject({ transferId: transferIdSchema });
  const notFound = (message: string) => new ApiError('transfer_not_found', message, { errors: [{ field: 'params/transferId', rule: 'recorded_transfer', message: 'no transfer with this id involves this bank' }] });
  const visibleOr404 = async (bankId: string, id: string) => {
    const row = await visibleTransfer(ctx.ledger, ctx.walletFacts, bankId, id);
    if (row) return row;
    throw notFound("not recorded, or not involving this bank's wallets; a transfer accepted and still pending has no receipt yet");
  };

  r.get(
    '/v1/transfers/:transferId',
    {
      schema: {
        operationId: 'getTransfer',
        tags: ['transfers'],
        summary: "Read a transfer's outcome",
        description:
          "A recorded transfer (settled, rejected, or pending while in flight between shards) to the payer's and the payee's bank; a transfer accepted (202) and not yet recorded to the payer's bank only, as pending, or not_settled (code expired) once its expiry passed unrecorded.",
        params: transferParams,
        response: { 200: transferSchema, ...problemResponses(404) },
      },
    },
    async (req) => {
      const view = await readTransfer(ctx, req.principal, req.params.transferId);
      if (view) return view;
      throw notFound("neither recorded nor accepted and pending, or not involving this bank's wallets; resubmitting the same signed transfer is safe");
    },
  );

  r.get(
    '/v1/transfers/:transferId/receipt',
    {
      schema: {
        operationId: 'getTransferReceipt',
        tags: ['transfers'],
        summary: 'A receipt: batch header, shard signature and Merkle path',
        description: "Verifiable offline with the shards' public keys (docs/canonical-encoding.md; `verifyReceipt` in @cbdc/client). `403 receipt_withheld` when the receipt would prove another bank's customer's reason for a refusal.",
        params: transferParams,
        response: { 200: receiptSchema, ...problemResponses(403, 404) },
      },
    },
    async (req) => receiptFor(ctx.ledger, await visibleOr404(req.principal, req.params.transferId), req.principal),
  );

  r.get(
    '/v1/shards',
    {
      schema: {
        operationId: 'listShards',
        tags: ['transfers'],
        summary: 'Settlement shards and their public keys',
        description: 'The keys that sign batch headers, for verifying receipts. Pin them out of band: a key read from the API proves only what the API says.',
        response: { 200: shardsSchema },
      },
    },
    async () => {
      // Each shard's row from its own group's database.
      const parts = await ctx.ledger.readAll((sql, db) => sql<{ shard: number; public_key: Buffer; head_seq: bigint }[]>`select shard, public_key, head_seq from shards where shard = any(${db.shards as number[]}) order by shard`);
      const rows = parts.flat().sort((a, b) => a.shard - b.shard);
      return { shards: rows.map((s) => ({ shard: s.shard, publicKey: s.public_key.toString('hex'), headSeq: s.head_seq.toString() })) };
    },
  );
}
