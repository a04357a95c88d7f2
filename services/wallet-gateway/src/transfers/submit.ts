/**
 * Submitting customer-signed transfers: authorize against the calling bank, check what can be
 * checked without the ledger, verify signatures, answer replays from Postgres, queue the rest and
 * (unless async) wait for the committed outcome.
 *
 * What refuses a whole request (nothing queued): a payer that is not one of the bank's customer
 * wallets, or a payee that does not exist. What refuses one item of a batch (the others go on):
 * a bad signature, an expired or too-distant expiry, payer = payee, a closed wallet, a payment to
 * another bank's treasury.
 */
import { encodeTransfer, transferIdOf } from '@cbdc/shared/canonical';
import { ed25519VerifyRaw } from '@cbdc/shared/crypto';
import type { FundingAuthority } from '@cbdc/shared/funding-authority';
import { AUTH_HEADERS } from '@cbdc/shared/request-auth';
import { fundingIdOf, treasuryWalletId } from '@cbdc/shared/ids';
import type { JobItem } from '@cbdc/shared/job';
import { ApiError, problemOf, type Problem } from '@cbdc/shared/problem';
import type { SignedTransferWire } from '@cbdc/shared/schemas';
import { rejectionCodeSeenBy, type ApiErrorCode } from '@cbdc/shared/errors';
import type { GatewayContext } from '../context.js';
import type { WalletFacts } from '../wallets/store.js';
import type { CommittedOutcome } from './settlement-client.js';
import type { Sql } from '@cbdc/db/connect';
import { shardOf } from '@cbdc/shared/ids';
import { transfersByIds, transfersByIdsAcross, transferView, type TransferRow, type TransferView } from './store.js';

export type ItemResult =
  | { index: number; id: string; status: 'settled' | 'rejected'; transfer: FinalView }
  | { index: number; id: string; status: 'pending'; transfer: PendingView | TransferView }
  | { index: number; id: string | null; status: 'invalid'; problem: Problem };

export interface PendingView {
  id: string;
  kind: 'transfer' | 'funding';
  status: 'pending';
  payerWalletId: string;
  payeeWalletId: string;
  amountMinor: string;
  submittedAtMs: string;
}

type FinalView = TransferView & { status: 'settled' | 'rejected' };

export interface SubmitOptions {
  /** Answer as soon as the items are queued, without waiting for settlement. */
  async: boolean;
  /** Path of the items in the request, for error fields, e.g. "body/transfers". */
  fieldOf: (index: number, field: string) => string;
  /** Only redemptions (payee = the bank's own treasury) are allowed. */
  redemptionOnly?: boolean;
}

interface Prepared {
  index: number;
  shard: number;
  item: JobItem;
}

function itemProblem(index: number, id: string | null, code: ApiErrorCode, field: string, rule: string, message: string): ItemResult {
  return { index, id, status: 'invalid', problem: problemOf(code, message, [{ field, rule, message }]) };
}

/** The answer for an item whose transfer is recorded: its stored state. */
function resultOfRow(index: number, row: TransferRow): ItemResult {
  const view = transferView(row);
  return view.status === 'pending' ? { index, id: row.id, status: 'pending', transfer: view } : { index, id: row.id, status: view.status as FinalView['status'], transfer: view as FinalView };
}

/** Loads the wallets named by the request and refuses it whole if any is foreign or unknown. */
async function authorize(ctx: GatewayContext, bankId: string, refs: Array<{ payer: string; payee: string }>, o: SubmitOptions): Promise<Map<string, WalletFacts>> {
  const facts = await ctx.walletFacts.get([...new Set(refs.flatMap((r) => [r.payer, r.payee]))]);
  refs.forEach((r, index) => {
    const payer = facts.get(r.payer);
    if (!payer || payer.bankId !== bankId) {
      throw new ApiError('wallet_not_found', `payer ${r.payer} is not a wallet of bank ${bankId}; nothing in this request was submitted`, {
        errors: [{ field: o.fieldOf(index, 'payerWalletId'), rule: 'own_wallet', message: 'must be a wallet of the calling bank' }],
      });
    }
    if (!facts.has(r.payee)) {
      throw new ApiError('wallet_not_found', `payee ${r.payee} does not exist; nothing in this request was submitted`, {
        errors: [{ field: o.fieldOf(index, 'payeeWalletId'), rule: 'existing_wallet', message: 'must be an existing wallet' }],
      });
    }
  });
  return facts;
}

/**
 * Refuses work at once while the database of a payer's shard cannot take writes (down, restarting,
 * read-only), before any query: a request that would wait for a connection or a commit that cannot
 * happen gets 503. Requests whose payers are in other groups carry on.
 */
function assertPayersWritable(ctx: GatewayContext, payerWalletIds: Iterable<string>): void {
  for (const id of new Set(payerWalletIds)) ctx.ledger.writable(ctx.ledger.ofWallet(id));
}

/** The database where a bank's fundings are recorded (its treasury's, the payer's) and their Idempotency-Keys kept. */
export function fundingDatabase(ctx: GatewayContext, bankId: string): Sql {
  return ctx.ledger.writable(ctx.ledger.ofWallet(treasuryWalletId(bankId)));
}

/** Checks, verifies and prepares customer-signed transfers. */
export async function submitSignedTransfers(ctx: GatewayContext, bankId: string, wires: SignedTransferWire[], o: SubmitOptions): Promise<ItemResult[]> {
  assertPayersWritable(
    ctx,
    wires.map((w) => w.payerWalletId),
  );
  const facts = await authorize(
    ctx,
    bankId,
    wires.map((w) => ({ payer: w.payerWalletId, payee: w.payeeWalletId })),
    o,
  );
  const now = ctx.now();
  const results: ItemResult[] = [];
  const prepared: Prepared[] = [];
  const unverified: Unverified[] = [];

  wires.forEach((w, index) => {
    // Canonical v2 when the transfer names a payment request (checked where the request lives, in settlement).
    const intent = { payerWalletId: w.payerWalletId, payeeWalletId: w.payeeWalletId, amountMinor: BigInt(w.amountMinor), nonce: BigInt(w.nonce), expiresAtMs: BigInt(w.expiresAtMs), memo: w.memo, requestId: w.requestId };
    const bytes = encodeTransfer(intent);
    const id = transferIdOf(bytes);
    const payer = facts.get(w.payerWalletId)!;
    const payee = facts.get(w.payeeWalletId)!;
    const fail = (code: ApiErrorCode, field: string, rule: string, message: string) => results.push(itemProblem(index, id, code, o.fieldOf(index, field), rule, message));

    if (payer.kind !== 'customer') return fail('wallet_is_treasury', 'payerWalletId', 'customer_wallet', 'a treasury pays customers through POST /v1/fundings');
    if (w.payerWalletId === w.payeeWalletId) return fail('same_wallet', 'payeeWalletId', 'differs_from_payer', 'must differ from the payer');
    if (intent.expiresAtMs <= BigInt(now)) return fail('transfer_expired', 'expiresAtMs', 'in_future', `expired at ${w.expiresAtMs}; the server time is ${now}`);
    if (intent.expiresAtMs > BigInt(now + ctx.limits.expiryAheadMsMax)) return fail('expiry_too_far', 'expiresAtMs', 'expiry_window', `must be at most ${ctx.limits.expiryAheadMsMax} ms after the server time`);
    const isRedemption = payee.kind === 'treasury' && w.payeeWalletId === treasuryWalletId(bankId);
    if (o.redemptionOnly && !isRedemption) return fail('not_a_redemption', 'payeeWalletId', 'own_treasury', `must be ${treasuryWalletId(bankId)}, this bank's treasury wallet`);
    if (payee.kind === 'treasury' && !isRedemption) return fail('payee_is_treasury', 'payeeWalletId', 'not_foreign_treasury', "another bank's treasury cannot be paid");
    if (payer.status === 'closed') return fail('wallet_closed', 'payerWalletId', 'open_wallet', 'the payer wallet is closed');
    // Another bank's closed payee is left to settlement, which records payee_closed and shows the
    // payer's bank payee_unavailable: a 422 here would tell it "closed" apart from frozen or full.
    if (payee.status === 'closed' && payee.bankId === bankId) return fail('wallet_closed', 'payeeWalletId', 'open_wallet', 'the payee wallet is closed');

    const signature = Buffer.from(w.signature, 'hex');
    const prepare = () => prepared.push({ index, shard: payer.shard, item: transferJobItem(w, id, bankId, now, payee.shard) });
    if (ed25519VerifyRaw(payer.publicKey!, bytes, signature)) return prepare();
    unverified.push({
      payerWalletId: w.payerWalletId,
      triedKey: payer.publicKey!,
      verifies: (key) => ed25519VerifyRaw(key, bytes, signature),
      prepare,
      fail: () => fail('bad_signature', 'signature', 'ed25519_customer_signature', "does not verify against the payer wallet's public key over the canonical bytes"),
    });
  });
  await verifyAgainstReloadedKeys(ctx, unverified);
  prepared.sort((a, b) => a.index - b.index);

  const all = [...(await recordedOutcomes(ctx, results, wires)), ...(await settle(ctx, prepared, o.async))].sort((a, b) => a.index - b.index);
  return all.map((r) => seenByPayerBank(r, bankId, facts.get(wires[r.index].payeeWalletId)!.bankId));
}

/** The queue item of a customer-signed transfer whose signature verified. */
function transferJobItem(w: SignedTransferWire, id: string, bankId: string, now: number, payeeShard: number): JobItem {
  return {
    id,
    kind: 'transfer',
    bankId,
    payerWalletId: w.payerWalletId,
    payeeWalletId: w.payeeWalletId,
    amountMinor: w.amountMinor,
    nonce: w.nonce,
    expiresAtMs: w.expiresAtMs,
    memo: w.memo,
    signature: w.signature,
    submittedAtMs: now,
    payeeShard,
    ...(w.requestId ? { requestId: w.requestId } : {}),
  };
}

/** A transfer whose signature did not verify against the payer's cached key. */
interface Unverified {
  payerWalletId: string;
  triedKey: Buffer;
  verifies(key: Buffer): boolean;
  prepare(): void;
  fail(): void;
}

/**
 * Transfers whose signature failed against a cached key get one more try against the key read
 * afresh: a customer's key may have been replaced through another gateway process since it was
 * cached (see WalletFactsCache). Only failures pay for the read; a bad signature stays refused.
 */
async function verifyAgainstReloadedKeys(ctx: GatewayContext, unverified: Unverified[]): Promise<void> {
  if (unverified.length === 0) return;
  const fresh = await ctx.walletFacts.reload([...new Set(unverified.map((u) => u.payerWalletId))]);
  for (const u of unverified) {
    const key = fresh.get(u.payerWalletId)?.publicKey;
    if (key && !key.equals(u.triedKey) && u.verifies(key)) u.prepare();
    else u.fail();
  }
}

/** An item's result as the payer's bank may see it: another bank's payee refusing shows as `payee_unavailable`. */
function seenByPayerBank(result: ItemResult, bankId: string, payeeBankId: string): ItemResult {
  if (result.status === 'invalid' || !('code' in result.transfer)) return result;
  const code = rejectionCodeSeenBy(result.transfer.code ?? null, bankId, bankId, payeeBankId);
  return code === (result.transfer.code ?? null) ? result : ({ ...result, transfer: { ...result.transfer, code } } as ItemResult);
}

/**
 * Checks whose answer changes with time or wallet state, unlike the signed content itself: the
 * signature too, once the customer's key has been replaced (a transfer signed with the old key
 * before that stays settled, and its retry is answered so).
 */
const STATE_DEPENDENT: ReadonlySet<string> = new Set<ApiErrorCode>(['transfer_expired', 'wallet_closed', 'bad_signature']);

/**
 * A resubmission of a transfer that was recorded is answered with its recorded outcome, even once
 * it has expired, a wallet has closed or the payer's key has been replaced since: a bank retrying
 * late learns that it settled, rather than an error suggesting it did not. (The id names the
 * content, not the signature; a bank learns this way only what it may read of its own payer's
 * transfers by id.)
 */
async function recordedOutcomes(ctx: GatewayContext, results: ItemResult[], wires: SignedTransferWire[]): Promise<ItemResult[]> {
  const lateId = (r: ItemResult) => (r.status === 'invalid' && r.id !== null && STATE_DEPENDENT.has(r.problem.code) ? r.id : null);
  const late = results.flatMap((r) => {
    const id = lateId(r);
    return id === null ? [] : [{ id, shard: shardOf(wires[r.index].payerWalletId, ctx.shardCount) }];
  });
  if (late.length === 0) return results;
  const rows = await transfersByIdsAcross(ctx.ledger, late);
  return results.map((r) => {
    const row = rows.get(lateId(r) ?? '');
    return row ? resultOfRow(r.index, row) : r;
  });
}

/** A funding's result; `replayed` when it was answered from the transfer an earlier request with its key recorded. */
export type FundingResult = ItemResult & { replayed?: true };

/** Prepares a funding: the bank's treasury pays one of its customer wallets. */
export async function submitFunding(ctx: GatewayContext, bankId: string, authority: FundingAuthority, walletId: string, amountMinor: string, async: boolean): Promise<FundingResult> {
  const { idempotencyKey } = authority;
  const treasury = treasuryWalletId(bankId);
  const on = fundingDatabase(ctx, bankId);
  const facts = await ctx.walletFacts.get([walletId, treasury]);
  const wallet = facts.get(walletId);
  if (!wallet || wallet.bankId !== bankId) throw new ApiError('wallet_not_found', `no wallet ${walletId} for bank ${bankId}`, { errors: [{ field: 'body/walletId', rule: 'own_wallet', message: 'must be a wallet of the calling bank' }] });
  if (wallet.kind !== 'customer') throw new ApiError('wallet_is_treasury', 'a treasury cannot fund itself', { errors: [{ field: 'body/walletId', rule: 'customer_wallet', message: 'must be a customer wallet' }] });
  if (wallet.status === 'closed') throw new ApiError('wallet_closed', `wallet ${walletId} is closed`, { errors: [{ field: 'body/walletId', rule: 'open_wallet', message: 'the wallet is closed' }] });
  const id = fundingIdOf(bankId, idempotencyKey);
  const same = (t: { payer_wallet_id: string; payee_wallet_id: string; amount_minor: bigint }) => t.payee_wallet_id === walletId && t.amount_minor.toString() === amountMinor;
  const reused = () =>
    new ApiError('idempotency_key_reused', 'this Idempotency-Key was used for a different funding', { errors: [{ field: 'header/idempotency-key', rule: 'same_request', message: 'was used with a different wallet or amount' }] });
  const existing = (await transfersByIds(on, [id])).get(id);
  if (existing && !same(existing)) throw reused();
  // Recorded already (a retry, or a request driven again after a crashed one's lease): its row answers.
  if (existing) return { ...resultOfRow(0, existing), replayed: true };
  const now = ctx.now();
  const [result] = await settle(
    ctx,
    [
      {
        index: 0,
        shard: facts.get(treasury)!.shard,
        item: { id, kind: 'funding', bankId, payerWalletId: treasury, payeeWalletId: walletId, amountMinor, nonce: null, expiresAtMs: null, memo: '', signature: null, submittedAtMs: now, payeeShard: wallet.shard, authority },
      },
    ],
    async,
  );
  if (result.status !== 'settled' && result.status !== 'rejected') return result;
  // Answered from the row recorded under this id, never from what this request asked for: a
  // funding is told it settled only with the wallet and amount that settled.
  const recorded = (await transfersByIds(on, [id])).get(id);
  if (!recorded) return { index: 0, id, status: 'pending', transfer: { id, kind: 'funding', status: 'pending', payerWalletId: treasury, payeeWalletId: walletId, amountMinor, submittedAtMs: String(now) } };
  if (!same(recorded)) throw reused();
  return resultOfRow(0, recorded);
}

/**
 * Queues items and waits (bounded) for their outcomes. A fresh outcome is answered from the
 * committed batch it comes with; only duplicates (a resubmission: the outcome recorded the first
 * time) and results of transfers between shards are read back from Postgres.
 */
async function settle(ctx: GatewayContext, prepared: Prepared[], async: boolean): Promise<ItemResult[]> {
  if (prepared.length === 0) return [];
  const pending = (p: Prepared): ItemResult => ({
    index: p.index,
    id: p.item.id,
    status: 'pending',
    transfer: { id: p.item.id, kind: p.item.kind, status: 'pending', payerWalletId: p.item.payerWalletId, payeeWalletId: p.item.payeeWalletId, amountMinor: p.item.amountMinor, submittedAtMs: String(p.item.submittedAtMs) },
  });
  // Every item answered pending is readable by id at once: recorded as accepted once it is queued, before the answer.
  const recordAccepted = (items: Prepared[]) => ctx.settlement.recordAccepted(items, ctx.now());

  ctx.settlement.checkCapacity(new Set(prepared.map((p) => p.shard)), prepared.length);
  const submission = ctx.settlement.submit(prepared.map((p) => ({ shard: p.shard, item: p.item })));
  await submission.enqueued;
  if (async) {
    ctx.settlement.release(prepared.map((p) => p.item.id));
    await recordAccepted(prepared);
    return prepared.map(pending);
  }

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ctx.limits.settleWaitMs)));
  const outcomes = await Promise.all(submission.outcomes.map((o) => Promise.race([o, timeout])));
  clearTimeout(timer);
  ctx.settlement.release(prepared.filter((_, i) => outcomes[i] === null).map((p) => p.item.id));

  const readBack = prepared.filter((_, i) => outcomes[i] !== null && (outcomes[i]!.type !== 'origin' || outcomes[i]!.status === 'duplicate'));
  const rows = await transfersByIdsAcross(
    ctx.ledger,
    readBack.map((p) => ({ id: p.item.id, shard: p.shard })),
  );
  const unrecorded: Prepared[] = [];
  const stillPending = (p: Prepared) => {
    unrecorded.push(p);
    return pending(p);
  };
  const results = prepared.map((p, i): ItemResult => {
    const outcome: CommittedOutcome | null = outcomes[i];
    if (outcome === null) return stillPending(p);
    if (outcome.status === 'unauthorized') {
      const field = p.item.kind === 'funding' ? `header/${AUTH_HEADERS.signature}` : 'signature';
      return itemProblem(p.index, p.item.id, 'authority_refused', field, 'authority_in_force', 'settlement refused it: its signature does not verify against the key in force; nothing was recorded');
    }
    const row = rows.get(p.item.id);
    if (row) return resultOfRow(p.index, row);
    if (outcome.type !== 'origin' || (outcome.status !== 'settled' && outcome.status !== 'rejected')) return stillPending(p);
    const it = p.item;
    return {
      index: p.index,
      id: it.id,
      status: outcome.status,
      transfer: {
        id: it.id,
        kind: it.kind,
        status: outcome.status,
        code: outcome.code ?? null,
        payerWalletId: it.payerWalletId,
        payeeWalletId: it.payeeWalletId,
        amountMinor: it.amountMinor,
        nonce: it.nonce,
        expiresAtMs: it.expiresAtMs,
        memo: it.memo,
        requestId: it.requestId ?? null,
        shard: outcome.shard,
        batchSeq: outcome.batchSeq!,
        submittedAtMs: String(it.submittedAtMs),
        settledAtMs: String(outcome.timeMs),
      },
    };
  });
  if (unrecorded.length > 0) await recordAccepted(unrecorded);
  return results;
}
