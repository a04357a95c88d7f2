/** Parsing a service's environment with one zod schema, failing with a message naming the variable. */
import type { z } from 'zod';

/** Parses `env` with `schema`; throws an Error whose message names every bad variable and its rule. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): Readonly<z.output<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration: ${lines.join('; ')}`);
  }
  return Object.freeze(result.data);
}
