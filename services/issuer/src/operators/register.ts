/** Registering an operator and changing an operator's key: both always under dual control. */
import type { OperatorWire } from '../schemas.js';
import type { Sql } from '@cbdc/db/connect';
import { ApiError } from '@cbdc/shared/problem';
import { appendActionEvent, type ActionHandler } from '../approvals/actions.js';

export interface OperatorRow {
  id: string;
  name: string;
  public_key: Buffer;
  created_by: string | null;
  created_at: Date;
}

export function operatorView(o: OperatorRow): OperatorWire {
  return { id: o.id, name: o.name, publicKey: o.public_key.toString('hex'), createdBy: o.created_by, createdAt: o.created_at.toISOString() };
}

const operatorExists = (id: string) => new ApiError('operator_exists', `operator ${id} already exists`, { errors: [{ field: 'body/id', rule: 'unique', message: 'is taken' }] });
const operatorNotFound = (id: string) => new ApiError('operator_not_found', `no operator ${id}`, { errors: [{ field: 'params/operatorId', rule: 'existing_operator', message: 'is not a registered operator' }] });

/** Adds an operator, in `tx`; `createdBy` requested it and the action records who approved. */
export async function registerOperator(tx: Sql, o: { id: string; name: string; publicKey: Buffer; createdBy: string; actionId: string }): Promise<OperatorRow> {
  const [row] = await tx<OperatorRow[]>`
    insert into operators (id, name, public_key, created_by, action_id) values (${o.id}, ${o.name}, ${o.publicKey}, ${o.createdBy}, ${o.actionId})
    on conflict (id) do nothing returning id, name, public_key, created_by, created_at`;
  if (!row) throw operatorExists(o.id);
  return row;
}

/** Replaces an operator's public key, in `tx`. */
export async function changeOperatorKey(tx: Sql, o: { id: string; publicKey: Buffer; actionId: string }): Promise<OperatorRow> {
  const [row] = await tx<OperatorRow[]>`
    update operators set public_key = ${o.publicKey}, action_id = ${o.actionId} where id = ${o.id} returning id, name, public_key, created_by, created_at`;
  if (!row) throw operatorNotFound(o.id);
  return row;
}

export const operatorRegistrationAction: ActionHandler = {
  async check(tx, _ctx, action) {
    const [existing] = await tx`select id from operators where id = ${action.params.id}`;
    if (existing) throw operatorExists(action.params.id);
  },
  async execute(tx, ctx, action) {
    const p = action.params;
    const row = await registerOperator(tx, { id: p.id, name: p.name, publicKey: Buffer.from(p.publicKey, 'hex'), createdBy: action.requested_by, actionId: action.id });
    await appendActionEvent(tx, ctx, action, { kind: 'operator_registered', subject: p.id, facts: { name: p.name, publicKey: p.publicKey.toLowerCase() } });
    return operatorView(row);
  },
};

export const operatorKeyChangeAction: ActionHandler = {
  async check(tx, _ctx, action) {
    const [existing] = await tx`select id from operators where id = ${action.params.operatorId}`;
    if (!existing) throw operatorNotFound(action.params.operatorId);
  },
  async execute(tx, ctx, action) {
    const row = await changeOperatorKey(tx, { id: action.params.operatorId, publicKey: Buffer.from(action.params.publicKey, 'hex'), actionId: action.id });
    await appendActionEvent(tx, ctx, action, { kind: 'operator_key_changed', subject: action.params.operatorId, facts: { publicKey: action.params.publicKey.toLowerCase() } });
    return operatorView(row);
  },
};
