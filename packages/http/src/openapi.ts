/**
 * Shared pieces of the OpenAPI contract: the Problem schema every 4xx and 5xx answer uses, and the
 * error responses a route declares beside its success schemas. Every route's schema names an
 * operationId, tags, a summary and a response schema for each status it can answer.
 */
import { z } from 'zod';

export const fieldErrorSchema = z
  .object({
    field: z.string().meta({ description: 'Where: "body/transfers/3/amountMinor", "params/walletId", "header/idempotency-key"', example: 'body/amountMinor' }),
    rule: z.string().meta({ description: 'The rule it broke', example: 'positive_integer_string' }),
    message: z.string(),
  })
  .meta({ id: 'FieldError' });

/** RFC 9457 problem details with the catalogue code (docs/errors.md). */
export const problemSchema = z
  .object({
    type: z.string().meta({ example: 'urn:cbdc:error:invalid_request' }),
    title: z.string(),
    status: z.number().int(),
    code: z.string().meta({ description: 'Stable machine-readable code from the error catalogue (docs/errors.md)', example: 'invalid_request' }),
    detail: z.string().optional(),
    errors: z.array(fieldErrorSchema).optional().meta({ description: 'Each offending field and the rule it broke (bad input only)' }),
  })
  .catchall(z.unknown())
  .meta({ id: 'Problem' });

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input: `errors` names each field and rule; nothing was changed',
  401: 'The request signature, timestamp or nonce did not verify',
  403: 'Authenticated, but not allowed',
  404: "Not found, or not this bank's",
  409: 'Conflicts with the current state (an Idempotency-Key reused with another body, a state change not allowed)',
  410: 'Gone: what it points to is past its retention (the code says what to do)',
  413: 'The body is larger than the limit',
  415: 'The body is not application/json',
  422: 'Well-formed but refused by a rule (the code names it)',
  429: 'Rate limited; see Retry-After',
  503: 'A backing service is unavailable; nothing was done; retry after Retry-After',
};

/** The error responses of a route, as Problem schemas with a description each. */
export function problemResponses(...statuses: number[]): Record<number, typeof problemSchema> {
  const out: Record<number, typeof problemSchema> = {};
  for (const s of statuses) out[s] = problemSchema.meta({ description: PROBLEM_DESCRIPTIONS[s] ?? 'Problem details' }) as typeof problemSchema;
  return out;
}
