/** Mint and retire with dual control; the supply report. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyKeyOf } from '@cbdc/http/idempotency';
import { moneyInFlightMinor } from '@cbdc/db/in-flight';
import { ApiError } from '@cbdc/shared/problem';
import { amountMinorSchema, bankIdSchema } from '@cbdc/shared/schemas';
import { bankView, loadBanks } from '../banks/routes.js';
import type { IssuerContext } from '../context.js';
import { checkCoverable, executeIssuance, issuanceView, type IssuanceRequestRow } from './execute.js';

export async function issuanceRoutes(app: FastifyInstance, ctx: IssuerContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sql } = ctx;

  r.post('/v1/issuances', {
    schema: {
      tags: ['issuance'],
      summary: 'Request a mint or retire',
      description: 'Executes at once (201) up to the dual-control threshold; above it, waits for a second operator\'s approval (202).',
      body: z.strictObject({ kind: z.enum(['mint', 'retire'], { error: 'issuance_kind: must be mint or retire' }), bankId: bankIdSchema, amountMinor: amountMinorSchema }),
    },
  }, async (req, reply) => {
    return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
      const amount = BigInt(req.body.amountMinor);
      const needsApproval = amount > ctx.dualControlThresholdMinor;
      const [bank] = await tx`select id from banks where id = ${req.body.bankId}`;
      if (!bank) throw new ApiError('bank_not_found', `no bank ${req.body.bankId}`, { errors: [{ field: 'body/bankId', rule: 'existing_bank', message: 'is not a registered bank' }] });
      const [request] = await tx<IssuanceRequestRow[]>`
        insert into issuance_requests (id, kind, bank_id, amount_minor, requested_by, status)
        values (${randomUUID()}, ${req.body.kind}, ${req.body.bankId}, ${amount.toString()}, ${req.principal}, 'pending_approval') returning *`;
      if (!needsApproval) return { status: 201, body: issuanceView(await executeIssuance(tx as never, ctx.signer, request, ctx.now())) };
      // Refuse now what could not execute now; approval checks again, as balances move meanwhile.
      await checkCoverable(tx as never, request);
      return { status: 202, body: issuanceView(request) };
    });
  });

  r.get('/v1/issuances', {
    schema: { tags: ['issuance'], summary: 'List issuance requests, newest first', querystring: z.strictObject({ status: z.enum(['pending_approval', 'executed']).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }) },
  }, async (req) => {
    const rows = await sql<IssuanceRequestRow[]>`select * from issuance_requests ${req.query.status ? sql`where status = ${req.query.status}` : sql``} order by created_at desc limit ${req.query.limit}`;
    return { issuances: rows.map(issuanceView) };
  });

  r.post('/v1/issuances/:issuanceId/approve', {
    schema: { tags: ['issuance'], summary: 'Approve a pending mint or retire (a second, different operator)', params: z.strictObject({ issuanceId: z.string().uuid({ error: 'uuid: must be an issuance id' }) }) },
  }, async (req, reply) => {
    return ctx.idempotency.inTransaction(req, reply, idempotencyKeyOf(req, false), async (tx) => {
      const [request] = await tx<IssuanceRequestRow[]>`select * from issuance_requests where id = ${req.params.issuanceId} for update`;
      if (!request) throw new ApiError('issuance_not_found', `no issuance ${req.params.issuanceId}`);
      if (request.status !== 'pending_approval') throw new ApiError('issuance_not_pending', `issuance ${request.id} is ${request.status}`);
      if (request.requested_by === req.principal) throw new ApiError('approver_is_requester', `${req.principal} requested this issuance; another operator must approve it`);
      const [approved] = await tx<IssuanceRequestRow[]>`update issuance_requests set approved_by = ${req.principal} where id = ${request.id} returning *`;
      return { status: 200, body: issuanceView(await executeIssuance(tx as never, ctx.signer, approved, ctx.now())) };
    });
  });

  r.get('/v1/supply', { schema: { tags: ['issuance'], summary: 'Currency outstanding, backing, and each bank\'s position' } }, async () => {
    const [head] = await sql<{ seq: bigint; hash: Buffer; supply_minor: bigint; public_key: Buffer | null }[]>`select seq, hash, supply_minor, public_key from issuance_head`;
    const [totals] = await sql<{ balances: bigint | null; free: bigint | null }[]>`
      select (select sum(balance_minor) from wallets)::bigint as balances, (select sum(free_minor) from bank_reserves)::bigint as free`;
    return {
      supplyMinor: head.supply_minor.toString(),
      backingMinor: head.supply_minor.toString(),
      walletBalancesMinor: (totals.balances ?? 0n).toString(),
      inFlightMinor: (await moneyInFlightMinor(sql)).toString(),
      freeReserveMinor: (totals.free ?? 0n).toString(),
      chain: { seq: head.seq.toString(), headHash: head.hash.toString('hex'), issuerPublicKey: head.public_key?.toString('hex') ?? null },
      banks: (await loadBanks(ctx)).map(bankView),
    };
  });
}
