/**
 * GET /v1/events: the bank's event feed (docs/events.md), merged across its shards and shard
 * groups (see feed.ts). Each database is read in one repeatable-read snapshot: the retention mark,
 * the head and the events of its shards agree, so a cursor is refused (410) exactly when an event
 * after it was pruned, never read past a gap.
 */
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Sql } from '@cbdc/db/connect';
import { eventSpans, eventsAfter } from '@cbdc/db/events';
import { problemResponses } from '@cbdc/http/openapi';
import { EVENT_TYPES, eventWire, payeeWalletOf, type StoredEvent } from '@cbdc/shared/events';
import { LIMITS } from '@cbdc/shared/limits';
import { ApiError } from '@cbdc/shared/problem';
import type { GatewayContext } from '../context.js';
import { decodeFeedCursor, encodeFeedCursor, mergeFeed, perShardReadOf, type FeedPositions } from './feed.js';

/** A cursor's text: 1,024 shards at up to 8 bytes each, in base64url, fit (Node's request line allows 16 KiB). */
const CURSOR_CHARS_MAX = 12_000;

export const eventWireSchema = z
  .object({
    id: z.string().meta({ description: 'evt_<shard>_<seq>: stable, unique per bank; the webhook-id of its deliveries', example: 'evt_0_42' }),
    type: z.string().meta({ description: 'One of the types of docs/events.md', example: 'payment.received' }),
    createdAt: z.string().meta({ description: 'When the change committed (ISO 8601, UTC)', example: '2026-01-31T09:30:00.000Z' }),
    data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).meta({ description: "The type's fields (docs/events.md); amounts are decimal strings of minor units" }),
  })
  .meta({ id: 'Event' });

const typesSchema = z
  .string()
  .max(1000, { error: 'types_max: at most 1000 characters' })
  .transform((text, ctx) => {
    const types = [...new Set(text.split(','))];
    const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
    if (unknown.length) ctx.addIssue({ code: 'custom', message: `event_type: unknown event type(s) ${unknown.join(', ')}; see docs/events.md`, input: text });
    return types;
  });

const feedQuery = z.strictObject({
  after: z
    .string()
    .max(CURSOR_CHARS_MAX, { error: `cursor_max: at most ${CURSOR_CHARS_MAX} characters` })
    .optional()
    .describe('The nextCursor of the previous page; omitted: from the oldest retained event'),
  limit: z.coerce
    .number({ error: 'integer: must be a whole number' })
    .int({ error: 'integer: must be a whole number' })
    .min(1, { error: 'page_size_min: must be at least 1' })
    .max(LIMITS.pageSizeMax, { error: `page_size_max: must be at most ${LIMITS.pageSizeMax}` })
    .default(LIMITS.pageSizeDefault),
  types: typesSchema.optional().describe('Comma-separated event types to return (others are passed over); all when omitted'),
});

const badCursor = (message: string) => new ApiError('invalid_request', 'bad cursor', { errors: [{ field: 'querystring/after', rule: 'cursor', message }] });

interface DatabaseRead {
  rows: StoredEvent[];
  full: number[];
}

/** One database's share of a page, in one snapshot: its shards' positions checked against retention and head, then their events. */
async function readDatabase(sql: Sql, bankId: string, shards: readonly number[], positions: FeedPositions, fromOldest: boolean, limit: number, types: string[] | null): Promise<DatabaseRead> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const spans = await eventSpans(tx, bankId, shards);
    const active: Array<{ shard: number; after: bigint }> = [];
    for (const shard of shards) {
      const span = spans.get(shard) ?? { prunedSeq: 0n, headSeq: 0n };
      if (fromOldest) positions[shard] = span.prunedSeq;
      const at = positions[shard];
      if (at < span.prunedSeq)
        throw new ApiError('cursor_expired', `events after this cursor on shard ${shard} are past their retention; read the feed again without \`after\` (from the oldest retained event)`, {
          errors: [{ field: 'querystring/after', rule: 'retained_cursor', message: 'points before the oldest retained event' }],
        });
      if (at > span.headSeq) throw badCursor('points past the newest event; use a cursor this feed returned');
      if (at < span.headSeq) active.push({ shard, after: at });
    }
    const perShard = perShardReadOf(limit, active.length);
    const rows = await eventsAfter(tx, bankId, active, perShard, types);
    const counts = new Map<number, number>();
    for (const r of rows) counts.set(r.shard, (counts.get(r.shard) ?? 0) + 1);
    return { rows, full: active.filter((a) => counts.get(a.shard) === perShard).map((a) => a.shard) };
  }) as Promise<DatabaseRead>;
}

export async function eventRoutes(app: FastifyInstance, ctx: GatewayContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/events',
    {
      schema: {
        operationId: 'listEvents',
        tags: ['events'],
        summary: "The bank's event feed, oldest first",
        description:
          "Every event of the bank's wallets, transfers, holds, requests and treasury, across all shards, oldest first (strictly in commit order per shard, and so per wallet). Page with `after` = the previous page's `nextCursor`; the cursor is always returned, also at the end, so the bank polls with it. Replayable from any cursor within retention; an expired cursor answers 410 `cursor_expired`. docs/events.md is the contract.",
        querystring: feedQuery,
        response: {
          200: z.object({
            events: z.array(eventWireSchema),
            nextCursor: z.string().meta({ description: 'Where the next page starts; opaque' }),
            hasMore: z.boolean().meta({ description: 'Whether more events may be read now (false: caught up when read)' }),
          }),
          ...problemResponses(400, 401, 410, 429, 503),
        },
      },
    },
    async (req) => {
      const { ledger } = ctx;
      const fromOldest = req.query.after === undefined;
      const positions = fromOldest ? Array.from({ length: ctx.shardCount }, () => 0n) : decodeFeedCursor(req.query.after!, ctx.shardCount);
      if (positions === null) throw badCursor('must be a cursor returned by this endpoint');
      const types = req.query.types ?? null;
      const reads = await ledger.readAll((sql, db) => readDatabase(sql, req.principal, db.shards, positions, fromOldest, req.query.limit, types));
      const { page, next, more } = mergeFeed(
        reads.flatMap((d) => d.rows),
        positions,
        new Set(reads.flatMap((d) => d.full)),
        req.query.limit,
      );
      // The payee's bank decides what a payee-side rejection code may say (see eventWire).
      const payees = [...new Set(page.flatMap((e) => (e.code !== null && payeeWalletOf(e) !== null ? [payeeWalletOf(e)!] : [])))];
      const facts = payees.length ? await ctx.walletFacts.get(payees) : new Map();
      return { events: page.map((e) => eventWire(e, (id) => facts.get(id)?.bankId ?? null)), nextCursor: encodeFeedCursor(next), hasMore: more };
    },
  );
}
