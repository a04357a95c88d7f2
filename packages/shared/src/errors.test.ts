import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ERRORS, REJECTION_CODES, REJECTION_TITLES } from './errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const documented = (section: string) => {
  const part = doc.split(`## ${section}`)[1].split('\n## ')[0];
  return [...part.matchAll(/^\|[^|]*\| `([a-z_]+)` \||^\| `([a-z_]+)` \|/gm)].map((m) => m[1] ?? m[2]);
};

describe('the error catalogue and docs/errors.md agree', () => {
  it('documents every API error code with its status, and no other', () => {
    expect(documented('API errors')).toEqual(Object.keys(API_ERRORS));
    for (const [code, e] of Object.entries(API_ERRORS)) expect(doc).toContain(`| \`${code}\` | ${e.status} | ${e.title} |`);
  });

  it('documents every settlement outcome code in precedence order', () => {
    expect(documented('Settlement outcomes')).toEqual([...REJECTION_CODES]);
    for (const code of REJECTION_CODES) expect(doc).toContain(REJECTION_TITLES[code]);
  });

  it('uses 4xx or 5xx statuses only, and unique codes', () => {
    for (const e of Object.values(API_ERRORS)) expect(e.status).toBeGreaterThanOrEqual(400);
    expect(new Set(REJECTION_CODES).size).toBe(REJECTION_CODES.length);
  });
});
