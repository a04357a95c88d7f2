/**
 * Thrown inside a batch's transaction when an insert hits the id or nonce uniqueness that the
 * batch was decided without looking up: the transaction rolls back and the batch is decided again
 * with the lookups (see commitBatch in store.ts).
 */
export class RecordedBeforeError extends Error {}

export function isUniqueViolationOf(error: unknown, constraints: readonly string[]): boolean {
  const e = error as { code?: string; constraint_name?: string };
  return e?.code === '23505' && constraints.includes(e.constraint_name ?? '');
}
