/**
 * What an operator's request does once its central transaction has committed: a mint or retire
 * has steps left on the treasury's group (execute.ts), and an onboarded bank's treasury row is
 * created in its group. Run inline, on a fresh answer and on a replayed one alike, so that the
 * answer says what stands now; if a step fails (a group unreachable), the answer says how far it
 * got and the recovery pass completes it.
 */
import type { FastifyBaseLogger } from 'fastify';
import { ensureTreasuries } from '@cbdc/db/issuance-legs';
import type { Answer } from '@cbdc/http/idempotency';
import type { OperatorActionKind } from '@cbdc/shared/dual-control';
import { ApiError } from '@cbdc/shared/problem';
import type { IssuerContext } from '../context.js';
import { driveIssuance, issuanceView, type IssuanceRequestRow } from './execute.js';

/** Drives the request's remaining steps; on failure, logs and returns it as it stands. */
export async function followIssuance(ctx: IssuerContext, id: string, log: FastifyBaseLogger): Promise<IssuanceRequestRow | null> {
  try {
    return await driveIssuance(ctx, id);
  } catch (err) {
    log.warn({ err, issuance: id }, 'an issuance step failed; the recovery pass will complete it');
    const [row] = await ctx.sql<IssuanceRequestRow[]>`select * from issuance_requests where id = ${id}`;
    return row ?? null;
  }
}

/**
 * The answer for an issuance as it stands: executed (`executedStatus`), still under way (202:
 * a mint whose treasury leg is not yet delivered is executed, a retire not yet debited is not),
 * or refused (the retire's treasury did not hold the amount when its group debited it).
 */
export function issuanceAnswer(row: IssuanceRequestRow, executedStatus: number): Answer {
  if (row.status === 'refused') throw new ApiError('insufficient_treasury_balance', `treasury of ${row.bank_id} did not hold ${row.amount_minor} fen when its group debited it; retire ${row.id} is refused`);
  return { status: row.status === 'executed' ? executedStatus : 202, body: issuanceView(row) };
}

/** Follows up an executed action of `kind` (whose answer's issuance or bank id is `id`); returns the issuance row, if any. */
export async function followAction(ctx: IssuerContext, kind: OperatorActionKind, id: string, log: FastifyBaseLogger): Promise<IssuanceRequestRow | null> {
  if (kind === 'mint' || kind === 'retire') return followIssuance(ctx, id, log);
  if (kind === 'bank_onboarding') {
    await ensureTreasuries(ctx.topology, ctx.shardCount, [id]).catch((err: unknown) => log.warn({ err, bank: id }, 'the treasury could not be created yet; the recovery pass will'));
  }
  return null;
}
