/**
 * Postgres array literals ('{"a","b",NULL}') built in advance, so that a batch's parameters can be
 * encoded while the previous batch commits instead of when its statements are sent. Sent as text
 * and cast in the statement (`${literal}::text[]`), they mean exactly the arrays they were built
 * from: every string element is quoted with `"` and `\` escaped, so no content (commas, braces,
 * quotes, the word NULL, spaces) can change the shape; numbers go unquoted; null is NULL.
 */
export type ArrayElement = string | number | bigint | null;

const NEEDS_ESCAPE = /["\\]/g;

function element(value: ArrayElement): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return `"${value.replace(NEEDS_ESCAPE, '\\$&')}"`;
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return String(value);
}

/** The array literal of `values`, in order. */
export function arrayLiteral(values: readonly ArrayElement[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) out += (i ? ',' : '') + element(values[i]);
  return `${out}}`;
}
