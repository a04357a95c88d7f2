/**
 * Reconciliation for banks (docs/api.md, "Reconciliation"): the bank-wide list of its wallets'
 * entries by settlement time, and its treasury's end-of-day statement. Reads only; every query is
 * scoped by the calling bank's id.
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { problemResponses } from '@cbdc/http/openapi';
import { treasuryWalletId } from '@cbdc/shared/ids';
import { ApiError } from '@cbdc/shared/problem';
import { walletIdSchema } from '@cbdc/shared/schemas';
import type { GatewayContext } from '../context.js';
import { transfersByIdsAcross } from '../transfers/store.js';
import { camt053Of } from './camt053.js';
import { afterPage, decodeListCursor, deltaOf, encodeListCursor, entryView, keyOf, mergeEntries, type EntryRow, type EntryTransfer, type ListPosition } from './entries.js';
import { dayRange, decodeStatementCursor, encodeStatementCursor, statementTotals } from './statement.js';
import { entryRows, treasuryNetUpTo, treasuryTotals } from './store.js';

const badCursor = (field = 'querystring/cursor') => new ApiError('invalid_request', 'bad cursor', { errors: [{ field, rule: 'cursor', message: 'must be a cursor this endpoint returned for the same range' }] });
const toCursor = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const fromCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

/** An ISO 8601 instant with a time zone (Z or an offset), as milliseconds. */
const instantSchema = z.iso.datetime({
  offset: true,
  error: (issue) => (issue.input === undefined ? 'required: is required' : 'datetime: must be an ISO 8601 date and time with a zone, such as 2026-01-31T00:00:00Z'),
});

const entryViewSchema = z
  .object({
    id: z.string().meta({ description: "Unique among the bank's entries: the type and the transfer (or issuance) id", example: 'debit:5f1c…' }),
    type: z.enum(['debit', 'credit', 'refund', 'mint', 'retire']),
    direction: z.enum(['debit', 'credit']).meta({ description: "From the bank's point of view: money out of, or into, `walletId`" }),
    walletId: z.string().meta({ description: "The bank's wallet the entry moves" }),
    amountMinor: z.string(),
    applied: z.boolean().meta({ description: "Whether it moved the wallet's balance (false: a request of the bank that settlement refused)" }),
    settledAt: z.string().meta({ description: 'When the shard of `walletId` committed it (its batch time)' }),
    settledAtMs: z.string(),
    shard: z.number().int(),
    kind: z.enum(['transfer', 'funding', 'redemption', 'mint', 'retire']),
    transferId: z.string().nullable(),
    issuanceId: z.string().nullable(),
    payerWalletId: z.string().nullable(),
    payeeWalletId: z.string().nullable(),
    counterpartyWalletId: z.string().nullable(),
    status: z.enum(['settled', 'rejected', 'pending']).meta({ description: 'The transfer as it stands now (pending: between shards); a credit is final where it is applied' }),
    code: z.string().nullable(),
    batchSeq: z.string().nullable().meta({ description: "The batch of `shard` that holds the entry's leaf (null for mint and retire)" }),
    leafIndex: z.number().int().nullable(),
  })
  .meta({ id: 'Entry' });

const statementEntrySchema = entryViewSchema.extend({ balanceAfterMinor: z.string().meta({ description: "The treasury's balance after this entry" }) }).meta({ id: 'StatementEntry' });

/** The treasury's statement of one UTC day, as JSON. */
const treasuryStatementSchema = z
  .object({
    date: z.string(),
    bankId: z.string(),
    walletId: z.string(),
    from: z.string(),
    to: z.string(),
    openingBalanceMinor: z.string(),
    closingBalanceMinor: z.string(),
    totalCreditsMinor: z.string(),
    totalDebitsMinor: z.string(),
    creditCount: z.number().int(),
    debitCount: z.number().int(),
    check: z.object({ openingPlusCreditsMinusDebitsMinor: z.string(), balanced: z.boolean() }),
    entries: z.array(statementEntrySchema),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'TreasuryStatement' });

export async function reconciliationRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { ledger, limits } = ctx;
  const limitSchema = z.coerce
    .number({ error: 'integer: must be a whole number' })
    .int({ error: 'integer: must be a whole number' })
    .min(1, { error: 'page_size_min: must be at least 1' })
    .max(limits.entriesPageSizeMax, { error: `page_size_max: must be at most ${limits.entriesPageSizeMax}` })
    .default(limits.entriesPageSizeDefault);
  const cursorSchema = z.string().max(200, { error: 'cursor_max: must be at most 200 characters' }).optional();
  /** The newest settlement time a listing reaches now: older entries can no longer commit (see ./entries.ts). */
  const horizonMs = () => BigInt(ctx.now() - limits.entriesSettledLagMs);

  /** The wire form of entries: a leg's transfer is read from its payer's shard, and codes are shown as the bank may see them. */
  const viewsOf = async (rows: readonly EntryRow[], bankId: string) => {
    const legs = rows.filter((e) => e.source === 'leg');
    const legTransfers = await transfersByIdsAcross(
      ledger,
      legs.map((l) => ({ id: l.subject_id, shard: l.leg === 'credit' ? l.from_shard! : l.shard })),
    );
    const transferOf = (e: EntryRow): Omit<EntryTransfer, 'payerBankId' | 'payeeBankId'> | null => {
      if (e.source === 'issuance') return null;
      if (e.source !== 'leg') return { kind: e.kind as EntryTransfer['kind'], payerWalletId: e.payer_wallet_id!, payeeWalletId: e.payee_wallet_id!, status: e.status as EntryTransfer['status'], code: e.code };
      const t = legTransfers.get(e.subject_id);
      if (!t) throw new Error(`invariant broken: the transfer of ${e.leg} leg ${e.subject_id} is not at its payer's shard`);
      return { kind: t.kind, payerWalletId: t.payer_wallet_id, payeeWalletId: t.payee_wallet_id, status: t.status, code: t.code };
    };
    const transfers = rows.map(transferOf);
    // The banks of the wallets, only where a code is to be shown (it may describe another bank's customer).
    const coded = transfers.flatMap((t) => (t?.code ? [t.payerWalletId, t.payeeWalletId] : []));
    const facts = coded.length ? await ctx.walletFacts.get([...new Set(coded)]) : new Map();
    return rows.map((e, i) => {
      const t = transfers[i];
      const banked = t === null ? null : { ...t, payerBankId: facts.get(t.payerWalletId)?.bankId ?? null, payeeBankId: facts.get(t.payeeWalletId)?.bankId ?? null };
      return entryView(e, banked, bankId);
    });
  };

  const listQuery = z.strictObject({ settledFrom: instantSchema, settledTo: instantSchema, limit: limitSchema, cursor: cursorSchema }).superRefine((q, c) => {
    const from = Date.parse(q.settledFrom);
    const to = Date.parse(q.settledTo);
    if (!(to > from)) c.addIssue({ code: 'custom', path: ['settledTo'], message: 'after_from: must be after settledFrom' });
    else if (to - from > limits.entriesRangeMsMax) c.addIssue({ code: 'custom', path: ['settledTo'], message: `range_max: at most ${limits.entriesRangeMsMax / 86_400_000} days after settledFrom` });
    if (from < 0) c.addIssue({ code: 'custom', path: ['settledFrom'], message: 'datetime_min: must be 1970 or later' });
  });

  r.get(
    '/v1/transfers',
    {
      schema: {
        operationId: 'listEntries',
        tags: ['reconciliation'],
        summary: "The bank's entries by settlement time (reconciliation)",
        description:
          "Every movement of the bank's wallets (debits, credits, refunds, mints and retires) and each of its requests that settlement refused, with a settlement time in [settledFrom, settledTo), oldest first, over every shard. A page lists only entries older than the settled lag (`listedTo`); `nextCursor` continues the listing, and is null once the whole range is listed. See docs/api.md, Reconciliation.",
        querystring: listQuery,
        response: {
          200: z.object({
            entries: z.array(entryViewSchema),
            listedTo: z.string().meta({ description: 'Every entry of the range before this instant is listed up to the last one returned; later ones come on later pages' }),
            nextCursor: z.string().nullable(),
          }),
          ...problemResponses(400, 401, 429, 503),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const range = { fromMs: BigInt(Date.parse(q.settledFrom)), toMs: BigInt(Date.parse(q.settledTo)) };
      let position: ListPosition = { ...range, after: null };
      if (q.cursor) {
        const decoded = decodeListCursor(fromCursor(q.cursor));
        if (!decoded || decoded.fromMs !== range.fromMs || decoded.toMs !== range.toMs) throw badCursor();
        position = decoded;
      }
      const horizon = horizonMs();
      const listedTo = horizon < range.toMs ? horizon : range.toMs;
      const scope = { bankId: req.principal };
      const streams = listedTo <= range.fromMs ? [] : await ledger.readAll((sql) => entryRows(sql, scope, { fromMs: range.fromMs, toMs: listedTo }, position.after, q.limit));
      const { page, more } = mergeEntries(streams, q.limit);
      const { next } = afterPage(position, page, more, horizon);
      return {
        entries: await viewsOf(page, req.principal),
        listedTo: new Date(Number(listedTo > range.fromMs ? listedTo : range.fromMs)).toISOString(),
        nextCursor: next === null ? null : toCursor(encodeListCursor(next)),
      };
    },
  );

  const statementParams = z.strictObject({ date: z.string().refine((d) => dayRange(d) !== null, { error: 'date: must be a UTC calendar day YYYY-MM-DD, 1970 or later' }) });
  const statementQuery = z.strictObject({
    walletId: walletIdSchema.optional(),
    limit: limitSchema,
    cursor: cursorSchema,
    format: z.enum(['json', 'camt.053'], { error: 'format: json or camt.053' }).optional(),
  });
  /** ISO 20022 camt.053 when asked for by `format`, or by an Accept header that prefers XML to JSON. */
  const wantsCamt = (format: string | undefined, accept: string | undefined) =>
    format === 'camt.053' || (format === undefined && typeof accept === 'string' && /\b(application|text)\/xml\b/.test(accept) && !/\bapplication\/json\b/.test(accept));

  r.get(
    '/v1/treasury/statements/:date',
    {
      schema: {
        operationId: 'getTreasuryStatement',
        tags: ['reconciliation'],
        summary: "The bank's treasury statement of one ended UTC day (JSON, or ISO 20022 camt.053.001.08)",
        description:
          "Opening balance (the treasury's history before the day), every movement of the day in settlement order with the balance after it (paged), the totals of debits and credits, the closing balance (the balance now less every movement since the day ended), and the check that opening + credits - debits = closing. Only a day that ended at least the settled lag ago. With `format=camt.053` (or `Accept: application/xml`) the same page as an ISO 20022 camt.053.001.08 document, the next page's cursor in a `Link` header (rel=next). See docs/api.md, Reconciliation.",
        params: statementParams,
        querystring: statementQuery,
        response: {
          200: {
            description: 'The statement page: JSON, or with `format=camt.053` (or `Accept: application/xml`) the same page as an ISO 20022 camt.053.001.08 document',
            headers: { link: { description: 'camt.053 only: the next page, `<…?format=camt.053&limit=…&cursor=…>; rel="next"` (absent on the last page)', schema: { type: 'string' } } },
            content: {
              'application/json': { schema: treasuryStatementSchema },
              'application/xml': { schema: z.string().meta({ description: 'ISO 20022 camt.053.001.08 (BkToCstmrStmt) document' }) },
            },
          },
          ...problemResponses(400, 401, 404, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const { date } = req.params;
      const day = dayRange(date)!;
      if (day.endMs > horizonMs()) {
        throw new ApiError('invalid_request', `${date} has not ended long enough ago: a statement is for a UTC day that ended at least ${limits.entriesSettledLagMs} ms ago`, {
          errors: [{ field: 'params/date', rule: 'ended_day', message: `must be a UTC day that ended at least ${limits.entriesSettledLagMs} ms ago` }],
        });
      }
      const walletId = treasuryWalletId(req.principal);
      // A bank has one treasury; any other wallet id (another bank's treasury included) is not found.
      if (req.query.walletId !== undefined && req.query.walletId !== walletId) {
        throw new ApiError('wallet_not_found', `no treasury ${req.query.walletId} for this bank`, { errors: [{ field: 'querystring/walletId', rule: 'own_treasury', message: "is not this bank's treasury wallet" }] });
      }
      const position = req.query.cursor ? decodeStatementCursor(fromCursor(req.query.cursor), date, day) : null;
      if (req.query.cursor && position === null) throw badCursor();
      const after = position?.after ?? null;
      const scope = { bankId: req.principal, treasuryWalletId: walletId };
      const range = { fromMs: day.startMs, toMs: day.endMs };
      // One snapshot of the treasury's group: the balance and every movement it is derived from.
      const read = await ledger.read(ledger.ofWallet(walletId), (sql) =>
        sql.begin('isolation level repeatable read read only', async (tx) => {
          const totals = await treasuryTotals(tx, scope, day.startMs, day.endMs);
          if (totals === null) return null;
          const rows = await entryRows(tx, scope, range, after, req.query.limit);
          const before = after === null ? 0n : await treasuryNetUpTo(tx, scope, range, after);
          return { totals, rows, before };
        }),
      );
      if (read === null)
        throw new ApiError('wallet_not_found', `the treasury of ${req.principal} is not created yet`, { errors: [{ field: 'querystring/walletId', rule: 'own_treasury', message: 'the treasury wallet does not exist yet' }] });
      const { page, more } = mergeEntries([read.rows], req.query.limit);
      const totals = statementTotals(read.totals);
      if (!totals.check.balanced) req.log.error({ bank: req.principal, date, totals }, "a treasury statement does not balance: the treasury's balance differs from its history (run cbdc audit)");
      let balance = BigInt(totals.openingBalanceMinor) + read.before;
      const views = await viewsOf(page, req.principal);
      const entries = views.map((v, i) => {
        balance += deltaOf(page[i]);
        return { ...v, balanceAfterMinor: balance.toString() };
      });
      const pageNumber = position?.page ?? 1;
      const nextCursor = more ? toCursor(encodeStatementCursor(date, { page: pageNumber + 1, after: keyOf(page[page.length - 1]) })) : null;
      const statement = {
        date,
        bankId: req.principal,
        walletId,
        from: new Date(Number(day.startMs)).toISOString(),
        to: new Date(Number(day.endMs)).toISOString(),
        ...totals,
        entries,
        nextCursor,
      };
      if (!wantsCamt(req.query.format, req.headers.accept)) return statement;
      if (nextCursor !== null) reply.header('link', `<${req.url.split('?')[0]}?format=camt.053&limit=${req.query.limit}&cursor=${nextCursor}>; rel="next"`);
      // The XML is sent as it is; the JSON schema above describes the default answer.
      return (reply as FastifyReply)
        .type('application/xml; charset=utf-8')
        .serializer((payload: unknown) => payload as string)
        .send(camt053Of(statement, { number: pageNumber, last: nextCursor === null }, new Date(ctx.now())));
    },
  );
}
