/**
 * The one path of every operator action that needs, or may need, a second operator: mints and
 * retires, reserve deposits and withdrawals, onboarding a bank, registering or re-keying an
 * operator. A request is recorded in `operator_actions`; the pure rule of @cbdc/shared/dual-control
 * decides, from the single-operator totals over the rolling window, whether it executes at once
 * or waits for a second operator until it expires. Each kind supplies a handler: `check` refuses
 * now what could not execute now, `execute` performs the state change in the same transaction.
 *
 * Every decision and approval first locks the issuance head row (the first lock of the order
 * issuance head, shard head, bank reserve, wallet), so two concurrent requests cannot both fit
 * under a window maximum that only one of them fits under.
 */
import type { OperatorActionWire } from '../schemas.js';
import { randomUUID } from 'node:crypto';
import type { Sql } from '@cbdc/db/connect';
import { actionStatusAt, approvalRefusal, isMoneyAction, secondOperatorNeeded, type DualControlReason, type OperatorActionKind, type SingleOperatorTotals } from '@cbdc/shared/dual-control';
import { ApiError } from '@cbdc/shared/problem';
import { appendRegistryEvent, CENTRAL_CHAIN } from '@cbdc/db/registry';
import type { Authority, Facts, RegistryKind } from '@cbdc/shared/registry';
import { issuerRegistrySigner, type IssuerContext } from '../context.js';

export interface OperatorActionRow {
  id: string;
  kind: OperatorActionKind;
  bank_id: string | null;
  amount_minor: bigint | null;
  params: Record<string, string>;
  requested_by: string;
  approved_by: string | null;
  status: 'pending_approval' | 'executed';
  approval_reason: DualControlReason | null;
  requester_authority: { message: string; signature: string; body: string } | null;
  created_at: Date;
  expires_at: Date;
  executed_at: Date | null;
}

/** What one kind of action does; `execute` returns the body of the answer once it has executed. */
export interface ActionHandler {
  check(tx: Sql, ctx: IssuerContext, action: OperatorActionRow): Promise<void>;
  execute(tx: Sql, ctx: IssuerContext, action: OperatorActionRow): Promise<unknown>;
}

export interface ActionRequest {
  kind: OperatorActionKind;
  bankId: string | null;
  amountMinor: bigint | null;
  params: Record<string, string>;
  requestedBy: string;
  /** The requester's signed request, kept for the registry event the action writes when it executes. */
  authority?: Authority | null;
}

/**
 * Records what an executed action changed in the central registry chain, signed by the issuer,
 * with the requesting operator's signed request as its authority (the audit verifies it).
 */
export async function appendActionEvent(tx: Sql, ctx: IssuerContext, action: OperatorActionRow, event: { kind: RegistryKind; subject: string; facts: Facts }): Promise<void> {
  await appendRegistryEvent(tx as never, issuerRegistrySigner(ctx), { chain: CENTRAL_CHAIN, ...event, actorKind: 'operator', actorId: action.requested_by, authority: requesterAuthority(action), timeMs: ctx.now() });
}

/** The requester's signed request of an action, as its registry event's authority. */
export function requesterAuthority(action: OperatorActionRow): Authority | null {
  const a = action.requester_authority;
  return a ? { message: Buffer.from(a.message, 'hex'), signature: Buffer.from(a.signature, 'hex'), body: Buffer.from(a.body, 'hex') } : null;
}

export type ActionOutcome = { executed: true; action: OperatorActionRow; body: unknown } | { executed: false; action: OperatorActionRow };

/** The wire form of an action; a pending action past its expiry reads as expired. */
export function actionView(a: OperatorActionRow, nowMs: number): OperatorActionWire {
  return {
    id: a.id,
    kind: a.kind,
    bankId: a.bank_id,
    amountMinor: a.amount_minor === null ? null : a.amount_minor.toString(),
    params: a.params,
    requestedBy: a.requested_by,
    approvedBy: a.approved_by,
    status: actionStatusAt({ status: a.status, expiresAtMs: a.expires_at.getTime() }, nowMs),
    approvalReason: a.approval_reason,
    createdAt: a.created_at.toISOString(),
    expiresAt: a.expires_at.toISOString(),
    executedAt: a.executed_at ? a.executed_at.toISOString() : null,
  };
}

async function serialiseOperatorActions(tx: Sql): Promise<void> {
  await tx`select 1 from issuance_head for update`;
}

/** Amounts of this kind executed without a second operator, or still pending, in the window: by the requester and for the bank. */
export async function singleOperatorTotals(tx: Sql, kind: OperatorActionKind, requestedBy: string, bankId: string | null, windowStartMs: number, nowMs: number): Promise<SingleOperatorTotals> {
  const [row] = await tx<{ requester: bigint; bank: bigint }[]>`
    select coalesce(sum(amount_minor) filter (where requested_by = ${requestedBy}), 0)::bigint as requester,
           coalesce(sum(amount_minor) filter (where bank_id = ${bankId}), 0)::bigint as bank
    from operator_actions
    where kind = ${kind} and created_at > ${new Date(windowStartMs)} and (requested_by = ${requestedBy} or bank_id = ${bankId})
      and ((status = 'executed' and approved_by is null) or (status = 'pending_approval' and expires_at > ${new Date(nowMs)}))`;
  return { requesterMinor: row.requester, bankMinor: row.bank };
}

async function markExecuted(tx: Sql, id: string, nowMs: number): Promise<OperatorActionRow> {
  const [row] = await tx<OperatorActionRow[]>`update operator_actions set status = 'executed', executed_at = ${new Date(nowMs)} where id = ${id} returning *`;
  return row;
}

/** Records an action and executes it at once if one operator may do it alone; else it waits for approval. */
export async function requestAction(ctx: IssuerContext, handler: ActionHandler, request: ActionRequest): Promise<ActionOutcome> {
  return ctx.sql.begin((tx) => requestActionIn(tx as unknown as Sql, ctx, handler, request));
}

/** `requestAction` inside the caller's transaction (for example one that also claims an Idempotency-Key). */
export async function requestActionIn(tx: Sql, ctx: IssuerContext, handler: ActionHandler, request: ActionRequest): Promise<ActionOutcome> {
  await serialiseOperatorActions(tx);
  const nowMs = ctx.now();
  const policy = ctx.dualControl;
  const totals = isMoneyAction(request.kind) ? await singleOperatorTotals(tx, request.kind, request.requestedBy, request.bankId, nowMs - policy.windowMs, nowMs) : { requesterMinor: 0n, bankMinor: 0n };
  const reason = secondOperatorNeeded(policy, request.kind, request.amountMinor, totals);
  const [action] = await tx<OperatorActionRow[]>`
    insert into operator_actions (id, kind, bank_id, amount_minor, params, requested_by, status, approval_reason, created_at, expires_at, requester_authority)
    values (${randomUUID()}, ${request.kind}, ${request.bankId}, ${request.amountMinor === null ? null : request.amountMinor.toString()}, ${tx.json(request.params)},
            ${request.requestedBy}, 'pending_approval', ${reason}, ${new Date(nowMs)}, ${new Date(nowMs + policy.approvalTtlMs)},
            ${request.authority ? tx.json({ message: request.authority.message.toString('hex'), signature: request.authority.signature.toString('hex'), body: request.authority.body.toString('hex') }) : null})
    returning *`;
  await handler.check(tx, ctx, action);
  if (reason !== null) return { executed: false, action } as const;
  const body = await handler.execute(tx, ctx, action);
  return { executed: true, action: await markExecuted(tx, action.id, nowMs), body } as const;
}

/** A second, different operator approves a pending, unexpired action, which then executes. */
export async function approveAction(
  ctx: IssuerContext,
  handlerOf: (kind: OperatorActionKind) => ActionHandler,
  actionId: string,
  approver: string,
  kinds?: readonly OperatorActionKind[],
): Promise<{ action: OperatorActionRow; body: unknown }> {
  return ctx.sql.begin((tx) => approveActionIn(tx as unknown as Sql, ctx, handlerOf, actionId, approver, kinds));
}

/** `approveAction` inside the caller's transaction. */
export async function approveActionIn(
  tx: Sql,
  ctx: IssuerContext,
  handlerOf: (kind: OperatorActionKind) => ActionHandler,
  actionId: string,
  approver: string,
  kinds?: readonly OperatorActionKind[],
): Promise<{ action: OperatorActionRow; body: unknown }> {
  await serialiseOperatorActions(tx);
  const nowMs = ctx.now();
  const [action] = await tx<OperatorActionRow[]>`select * from operator_actions where id = ${actionId} for update`;
  if (!action || (kinds && !kinds.includes(action.kind))) throw new ApiError('action_not_found', `no pending action ${actionId}`, { errors: [{ field: 'params/id', rule: 'existing_action', message: 'is not an operator action' }] });
  const refusal = approvalRefusal({ status: action.status, requestedBy: action.requested_by, expiresAtMs: action.expires_at.getTime() }, approver, nowMs);
  if (refusal === 'action_not_pending') throw new ApiError(refusal, `action ${action.id} is ${action.status}`);
  if (refusal === 'approval_expired') throw new ApiError(refusal, `action ${action.id} expired at ${action.expires_at.toISOString()}; request it again`);
  if (refusal === 'approver_is_requester') throw new ApiError(refusal, `${approver} requested this action; another operator must approve it`);
  const [approved] = await tx<OperatorActionRow[]>`update operator_actions set approved_by = ${approver} where id = ${action.id} returning *`;
  const handler = handlerOf(approved.kind);
  await handler.check(tx, ctx, approved);
  const body = await handler.execute(tx, ctx, approved);
  return { action: await markExecuted(tx, action.id, nowMs), body };
}

/** Actions, newest first, optionally of some kinds and in one status (as a reader sees it). */
export async function listActions(ctx: IssuerContext, o: { kinds?: readonly OperatorActionKind[]; status?: 'pending_approval' | 'executed' | 'expired'; limit: number }): Promise<OperatorActionRow[]> {
  const { sql } = ctx;
  const now = new Date(ctx.now());
  const status =
    o.status === 'executed'
      ? sql`and status = 'executed'`
      : o.status === 'pending_approval'
        ? sql`and status = 'pending_approval' and expires_at > ${now}`
        : o.status === 'expired'
          ? sql`and status = 'pending_approval' and expires_at <= ${now}`
          : sql``;
  return sql<OperatorActionRow[]>`
    select * from operator_actions where true ${o.kinds ? sql`and kind = any(${o.kinds as string[]})` : sql``} ${status}
    order by created_at desc, id limit ${o.limit}`;
}
