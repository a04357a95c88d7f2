/** Mint and retire with dual control (through the one approval path); the supply report. */
import { z } from 'zod';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { jsonResponse, problemResponses } from '@cbdc/http/openapi';
import { supplyAcrossServers } from '@cbdc/db/in-flight';
import { actionStatusAt } from '@cbdc/shared/dual-control';
import { amountMinorSchema, bankIdSchema } from '@cbdc/shared/schemas';
import { approveActionIn, listActions, requestActionIn, type OperatorActionRow } from '../approvals/actions.js';
import { handlerOf } from '../approvals/handlers.js';
import { bankView, loadBanks } from '../banks/view.js';
import type { IssuerContext } from '../context.js';
import { issuanceListSchema, issuanceSchema, supplySchema } from '../schemas.js';
import { issuanceAction, type issuanceView } from './execute.js';
import { followIssuance, issuanceAnswer } from './follow-up.js';

/** After the central transaction: drive the request's treasury leg and answer with its outcome. */
async function afterCommit(ctx: IssuerContext, answer: { status: number; body: unknown }, executedStatus: number, log: FastifyBaseLogger) {
  if (answer.status !== executedStatus) return answer;
  const row = await followIssuance(ctx, (answer.body as ReturnType<typeof issuanceView>).id, log);
  return row ? issuanceAnswer(row, executedStatus) : answer;
}

const ISSUANCE_KINDS = ['mint', 'retire'] as const;

/** The request's own progress, once its action has executed (a retire under way or refused, a mint's leg). */
interface RequestProgress {
  chain_seq: bigint | null;
  status: 'pending_approval' | 'retiring' | 'executed' | 'refused';
  leg_status: 'sent' | 'delivered' | null;
  code: string | null;
}

/** An issuance as operators see it, from its action and (once executed) its request's progress and chain entry. */
function issuanceViewOf(a: OperatorActionRow, progress: RequestProgress | null, nowMs: number) {
  const actionStatus = actionStatusAt({ status: a.status, expiresAtMs: a.expires_at.getTime() }, nowMs);
  const chainSeq = progress?.chain_seq ?? null;
  return {
    id: a.id,
    kind: a.kind as 'mint' | 'retire',
    bankId: a.bank_id!,
    amountMinor: a.amount_minor!.toString(),
    requestedBy: a.requested_by,
    approvedBy: a.approved_by,
    status: progress && (progress.status === 'retiring' || progress.status === 'refused') ? progress.status : actionStatus,
    legStatus: progress?.leg_status ?? null,
    code: progress?.code ?? null,
    approvalReason: a.approval_reason,
    chainSeq: chainSeq === null ? null : chainSeq.toString(),
    createdAt: a.created_at.toISOString(),
    expiresAt: a.expires_at.toISOString(),
    executedAt: a.executed_at ? a.executed_at.toISOString() : null,
  };
}

export async function issuanceRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;

  r.post(
    '/v1/issuances',
    {
      schema: {
        operationId: 'requestIssuance',
        tags: ['issuance'],
        summary: 'Request a mint or retire',
        description:
          "Executes at once (201) within the dual-control limits (the single-action threshold and the requester's and the bank's single-operator totals over the window); beyond them, waits for a second operator's approval (202). `404 bank_not_found`; `409 insufficient_reserve` (a mint), `409 insufficient_treasury_balance` (a retire). A retry with the same Idempotency-Key answers with the outcome as it then stands.",
        requestHeaders: { 'idempotency-key': 'optional' },
        body: z.strictObject({ kind: z.enum(ISSUANCE_KINDS, { error: 'issuance_kind: must be mint or retire' }), bankId: bankIdSchema, amountMinor: amountMinorSchema }),
        response: {
          201: jsonResponse(issuanceSchema, { description: 'Executed: a mint with `legStatus` `delivered` once its treasury is credited (`sent` while on its way), a retire once its treasury is debited' }),
          202: jsonResponse(issuanceSchema, { description: 'Waiting for a second operator (`pending_approval`), or a retire whose treasury debit is under way (`retiring`)' }),
          ...problemResponses(404, 409),
        },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          const outcome = await requestActionIn(tx as never, ctx, issuanceAction, {
            kind: req.body.kind,
            bankId: req.body.bankId,
            amountMinor: BigInt(req.body.amountMinor),
            params: {},
            requestedBy: req.principal,
            authority: req.signedRequest,
          });
          return outcome.executed ? { status: 201, body: outcome.body } : { status: 202, body: issuanceViewOf(outcome.action, null, ctx.now()) };
        },
        { after: (answer) => afterCommit(ctx, answer, 201, req.log) },
      );
    },
  );

  r.get(
    '/v1/issuances',
    {
      schema: {
        operationId: 'listIssuances',
        tags: ['issuance'],
        summary: 'List issuance requests, newest first',
        description: 'Mints and retires, optionally in one status.',
        querystring: z.strictObject({ status: z.enum(['pending_approval', 'executed', 'expired']).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }),
        response: { 200: issuanceListSchema },
      },
    },
    async (req) => {
      const rows = await listActions(ctx, { kinds: ISSUANCE_KINDS, status: req.query.status, limit: req.query.limit });
      const requests = await sql<(RequestProgress & { id: string })[]>`select id, chain_seq, status, leg_status, code from issuance_requests where id = any(${rows.map((a) => a.id)})`;
      const progressOf = new Map(requests.map((r) => [r.id, r]));
      return { issuances: rows.map((a) => issuanceViewOf(a, progressOf.get(a.id) ?? null, ctx.now())) };
    },
  );

  r.post(
    '/v1/issuances/:issuanceId/approve',
    {
      schema: {
        operationId: 'approveIssuance',
        tags: ['issuance'],
        summary: 'Approve a pending mint or retire (a second, different operator); the same as POST /v1/approvals/{id}/approve',
        description:
          "Answers the issuance as it then stands: 200 once executed, 202 while a retire's treasury debit is under way. `403 approver_is_requester`, `404 action_not_found`, `409 action_not_pending` / `approval_expired` / `insufficient_reserve` / `insufficient_treasury_balance`.",
        requestHeaders: { 'idempotency-key': 'optional' },
        params: z.strictObject({ issuanceId: z.string().uuid({ error: 'uuid: must be an issuance id' }) }),
        response: {
          200: jsonResponse(issuanceSchema, { description: 'Executed' }),
          202: jsonResponse(issuanceSchema, { description: 'A retire whose treasury debit is under way (`retiring`)' }),
          ...problemResponses(403, 404, 409),
        },
      },
    },
    async (req, reply) => {
      return ctx.idempotency.inTransaction(
        req,
        reply,
        idempotencyKeyOf(req, false),
        async (tx) => {
          const { body } = await approveActionIn(tx as never, ctx, handlerOf, req.params.issuanceId, req.principal, ISSUANCE_KINDS);
          return { status: 200, body };
        },
        { after: (answer) => afterCommit(ctx, answer, 200, req.log) },
      );
    },
  );

  r.get(
    '/v1/supply',
    {
      schema: {
        operationId: 'getSupply',
        tags: ['issuance'],
        summary: "Currency outstanding, backing, and each bank's position, across every database",
        description: 'Supply = backing = wallet balances + in flight (between shards, and between the central database and a shard group); read while no mint or retire step can commit.',
        response: { 200: supplySchema },
      },
    },
    async () => {
      const s = await supplyAcrossServers(ctx.topology);
      return {
        supplyMinor: s.supplyMinor.toString(),
        backingMinor: s.supplyMinor.toString(),
        walletBalancesMinor: s.walletBalancesMinor.toString(),
        heldMinor: s.heldMinor.toString(),
        inFlightMinor: (s.transfersInFlightMinor + s.issuanceInFlightMinor).toString(),
        transfersInFlightMinor: s.transfersInFlightMinor.toString(),
        issuanceInFlightMinor: s.issuanceInFlightMinor.toString(),
        freeReserveMinor: s.freeReserveMinor.toString(),
        chain: { seq: s.chainSeq.toString(), headHash: s.headHash.toString('hex'), issuerPublicKey: s.issuerPublicKey?.toString('hex') ?? null },
        groups: s.groups.map((g) => ({ group: g.id, shards: [...g.shards], walletBalancesMinor: g.walletBalancesMinor.toString(), heldMinor: g.heldMinor.toString(), transfersInFlightMinor: g.transfersInFlightMinor.toString() })),
        banks: (await loadBanks(sql, ctx)).map(bankView),
      };
    },
  );
}
