/** Deletes expired idempotency keys and request nonces while a service runs. */
import type { FastifyInstance } from 'fastify';
import type { Sql } from '@cbdc/db/connect';
import type { IdempotencyKeys } from './idempotency.js';
import { pruneRequestNonces } from './request-nonces.js';

export interface PrunerOptions {
  sql: Sql;
  idempotency: IdempotencyKeys;
  now: () => number;
  intervalMs: number;
  rowsMax: number;
}

/** Deletes batches of at most `rowsMax` rows until a batch comes back short; returns the total. */
async function drain(deleteBatch: () => Promise<number>, rowsMax: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteBatch();
    total += deleted;
    if (deleted < rowsMax) return total;
  }
}

/**
 * Prunes both tables, in batches of `rowsMax` (short statements, short locks) until nothing
 * expired is left: a busy gateway claims thousands of nonces a second, more than one batch a run.
 */
export async function pruneExpiredRows(o: PrunerOptions): Promise<{ idempotencyKeys: number; requestNonces: number }> {
  return {
    idempotencyKeys: await drain(() => o.idempotency.prune(o.rowsMax), o.rowsMax),
    requestNonces: await drain(() => pruneRequestNonces(o.sql, o.now(), o.rowsMax), o.rowsMax),
  };
}

/**
 * Prunes every `intervalMs` until the app closes. Several processes pruning at once is harmless;
 * a failed run (Postgres away) is logged and the next one tries again.
 */
export function installExpiredRowsPruner(app: FastifyInstance, o: PrunerOptions): void {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = pruneExpiredRows(o)
      .catch((err: unknown) => app.log.warn({ err }, 'pruning expired idempotency keys and request nonces failed'))
      .finally(() => (running = null));
  }, o.intervalMs);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await running;
  });
}
