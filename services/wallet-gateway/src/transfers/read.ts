/**
 * Reading one transfer by id for a bank: its recorded row (final, or pending while in flight
 * between shards), or, before its batch commits, the record of its acceptance (./accepted.ts).
 */
import { ApiError } from '@cbdc/shared/problem';
import type { GatewayContext } from '../context.js';
import { acceptedView, type AcceptedView } from './accepted.js';
import { findTransfer, type TransferRow, type TransferView, transferViewFor, withBanks } from './store.js';

/** The view of a recorded row for `bankId`, if its payer or its payee is one of the bank's wallets. */
async function recordedView(ctx: GatewayContext, bankId: string, row: TransferRow): Promise<TransferView | null> {
  const [banked] = await withBanks(ctx.walletFacts, [row]);
  return banked.payer_bank_id === bankId || banked.payee_bank_id === bankId ? transferViewFor(banked, bankId) : null;
}

/**
 * Transfer `id` as `bankId` may see it, or null (404). The row and the acceptance record are read
 * at once. A record is shown only to the bank that submitted it, which is the payer's: the payee's
 * bank learns of a payment when it is recorded, not while it may still be refused. The record is
 * removed once settlement has recorded the item, so when neither is found the row is read again:
 * it may have been committed between the two reads.
 */
export async function readTransfer(ctx: GatewayContext, bankId: string, id: string): Promise<TransferView | AcceptedView | null> {
  const [row, accepted] = await Promise.allSettled([findTransfer(ctx.ledger, id), ctx.settlement.acceptedRecord(id)]);
  if (row.status === 'rejected') throw row.reason;
  if (row.value) return recordedView(ctx, bankId, row.value);
  if (accepted.status === 'rejected') {
    throw new ApiError('dependency_unavailable', 'the settlement queue (Redis) did not answer: a transfer accepted and not yet recorded cannot be read; retry', { headers: { 'retry-after': '1' } });
  }
  const found = accepted.value ? acceptedView(accepted.value.stored, id, accepted.value.shard, ctx.now(), ctx.limits.requestClockSkewMs) : null;
  if (found && found.bankId === bankId && (await ctx.walletFacts.get([found.view.payerWalletId])).get(found.view.payerWalletId)?.bankId === bankId) return found.view;
  const again = await findTransfer(ctx.ledger, id);
  return again ? recordedView(ctx, bankId, again) : null;
}
