/** Writes docs/errors.md from the error catalogue (packages/shared/src/errors.ts). A test checks they agree. */
import { writeFileSync } from 'node:fs';
import { API_ERRORS, FOREIGN_VIEW_CODES, FOREIGN_VIEW_TITLES, REJECTION_CODES, REJECTION_TITLES } from '@cbdc/shared/errors';

export function renderErrorsDoc(): string {
  const lines = [
    '# Error and outcome codes',
    '',
    'Generated from `packages/shared/src/errors.ts` by `npx tsx scripts/gen-errors-doc.ts`; `errors.test.ts` fails if they disagree.',
    '',
    '## API errors',
    '',
    'Every error answer is an RFC 9457 problem (`application/problem+json`):',
    '`{ "type": "urn:cbdc:error:<code>", "title", "status", "code", "detail", "errors": [{ "field", "rule", "message" }] }`.',
    '`errors` names each offending field (`body/transfers/3/amountMinor`, `header/idempotency-key`, `params/walletId`, `querystring/limit`) and the rule it broke.',
    '',
    '| code | HTTP status | meaning |',
    '| --- | --- | --- |',
    ...Object.entries(API_ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.title} |`),
    '',
    '## Settlement outcomes',
    '',
    'A transfer that reaches settlement is recorded as `settled`, or `rejected` with one of these codes, checked in this order (the first rule that fails names the outcome). The answer is HTTP 200 either way: the outcome is final, and resubmitting the same signed transfer returns it again.',
    '',
    '| order | code | meaning |',
    '| --- | --- | --- |',
    ...REJECTION_CODES.map((code, i) => `| ${i + 1} | \`${code}\` | ${REJECTION_TITLES[code]} |`),
    '',
    '## Codes shown to another bank',
    '',
    "A bank sees the precise code of a rejection when it describes its own customer or the transfer itself. A code that describes another bank's customer is shown as one of these instead, in every view (the answer to a submission, a batch item, a transfer read by id, a wallet's history); the payee's codes are `payee_closed`, `payee_frozen` and `exceeds_balance_limit`, the payer's `payer_closed`, `payer_frozen`, `exceeds_payment_limit`, `exceeds_daily_limit` and `insufficient_funds`. The gateway leaves another bank's closed payee to settlement (a `422 wallet_closed` would tell it apart). The stored transfer keeps the precise code, for the central bank (issuer, audit) and the customer's own bank. A receipt would prove the precise code (its leaf commits to it), so a bank that may not see it gets `receipt_withheld` instead.",
    '',
    '| code | meaning |',
    '| --- | --- |',
    ...FOREIGN_VIEW_CODES.map((code) => `| \`${code}\` | ${FOREIGN_VIEW_TITLES[code]} |`),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('gen-errors-doc.ts')) {
  writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
  console.log('wrote docs/errors.md');
}
