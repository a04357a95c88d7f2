import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ERRORS, FOREIGN_VIEW_CODES, FOREIGN_VIEW_TITLES, REJECTION_CODES, REJECTION_TITLES, rejectionCodeSeenBy } from './errors.js';

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

  it('documents the codes shown to another bank', () => {
    expect(documented('Codes shown to another bank')).toEqual([...FOREIGN_VIEW_CODES]);
    for (const code of FOREIGN_VIEW_CODES) expect(doc).toContain(`| \`${code}\` | ${FOREIGN_VIEW_TITLES[code]} |`);
  });

  it('uses 4xx or 5xx statuses only, and unique codes', () => {
    for (const e of Object.values(API_ERRORS)) expect(e.status).toBeGreaterThanOrEqual(400);
    expect(new Set(REJECTION_CODES).size).toBe(REJECTION_CODES.length);
  });
});

describe('rejectionCodeSeenBy', () => {
  const payeeSide = ['payee_closed', 'payee_frozen', 'exceeds_balance_limit'];
  const payerSide = ['payer_closed', 'payer_frozen', 'exceeds_payment_limit', 'exceeds_daily_limit', 'insufficient_funds'];
  const neutral = ['malformed_item', 'nonce_reused', 'expired', 'payer_not_found', 'payee_not_found', 'hold_expiry_invalid', 'hold_not_found', 'hold_action_not_allowed', 'hold_not_open', 'hold_expired', 'capture_exceeds_hold'];
  // A payment request's state is no secret from the payer, whose app holds the request's payload.
  const requestCodes = ['request_not_found', 'request_payee_mismatch', 'request_cancelled', 'request_already_paid', 'request_expired', 'request_amount_mismatch'];

  it('covers every settlement outcome code once', () => {
    expect([...payeeSide, ...payerSide, ...neutral, ...requestCodes].sort()).toEqual([...REJECTION_CODES].sort());
  });

  it.each(payeeSide)("shows %s only as payee_unavailable to the payer's bank when the payee is another bank's", (code) => {
    expect(rejectionCodeSeenBy(code, 'bank-a', 'bank-a', 'bank-b')).toBe('payee_unavailable');
    expect(rejectionCodeSeenBy(code, 'bank-b', 'bank-a', 'bank-b')).toBe(code);
    expect(rejectionCodeSeenBy(code, 'bank-a', 'bank-a', 'bank-a')).toBe(code);
  });

  it.each(payerSide)("shows %s only as payer_unavailable to the payee's bank when the payer is another bank's", (code) => {
    expect(rejectionCodeSeenBy(code, 'bank-b', 'bank-a', 'bank-b')).toBe('payer_unavailable');
    expect(rejectionCodeSeenBy(code, 'bank-a', 'bank-a', 'bank-b')).toBe(code);
    expect(rejectionCodeSeenBy(code, 'bank-b', 'bank-b', 'bank-b')).toBe(code);
  });

  it.each([...neutral, ...requestCodes])('shows %s to both banks', (code) => {
    expect(rejectionCodeSeenBy(code, 'bank-a', 'bank-a', 'bank-b')).toBe(code);
    expect(rejectionCodeSeenBy(code, 'bank-b', 'bank-a', 'bank-b')).toBe(code);
  });

  it('passes no code through as none', () => expect(rejectionCodeSeenBy(null, 'bank-a', 'bank-a', 'bank-b')).toBeNull());
});
