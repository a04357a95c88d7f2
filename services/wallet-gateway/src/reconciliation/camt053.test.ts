/**
 * The camt.053 export against the element sequences of ISO 20022 camt.053.001.08 (./camt053-schema.ts)
 * and the figures of the statement it exports.
 */
import { describe, expect, it } from 'vitest';
import { camt053Of, yuanOf, type StatementForCamt } from './camt053.js';
import { checkCamt053, findElements } from './camt053-schema.js';

const find = findElements;

const statement: StatementForCamt = {
  date: '2026-01-05',
  bankId: 'bank-a',
  walletId: 't_bank-a',
  from: '2026-01-05T00:00:00.000Z',
  to: '2026-01-06T00:00:00.000Z',
  openingBalanceMinor: '100000',
  closingBalanceMinor: '80050',
  totalCreditsMinor: '5050',
  totalDebitsMinor: '25000',
  creditCount: 2,
  debitCount: 1,
  entries: [
    {
      id: `debit:${'a'.repeat(64)}`,
      type: 'debit',
      direction: 'debit',
      amountMinor: '25000',
      settledAt: '2026-01-05T01:00:00.000Z',
      shard: 1,
      batchSeq: '7',
      leafIndex: 3,
      transferId: 'a'.repeat(64),
      issuanceId: null,
      counterpartyWalletId: `w_${'1'.repeat(24)}`,
    },
    {
      id: `credit:${'b'.repeat(64)}`,
      type: 'credit',
      direction: 'credit',
      amountMinor: '50',
      settledAt: '2026-01-05T02:00:00.000Z',
      shard: 1,
      batchSeq: '9',
      leafIndex: 0,
      transferId: 'b'.repeat(64),
      issuanceId: null,
      counterpartyWalletId: `w_${'2'.repeat(24)}`,
    },
    { id: 'mint:req-1', type: 'mint', direction: 'credit', amountMinor: '5000', settledAt: '2026-01-05T03:00:00.000Z', shard: 1, batchSeq: null, leafIndex: null, transferId: null, issuanceId: 'req-1', counterpartyWalletId: null },
  ],
};

describe('camt.053.001.08 export', () => {
  it('writes every element in the order and with the contents the schema allows', () => {
    const { problems, root } = checkCamt053(camt053Of(statement, { number: 1, last: true }, new Date('2026-01-07T00:00:00Z')));
    expect(problems).toEqual([]);
    const [stmt] = find(root, 'BkToCstmrStmt/Stmt');
    expect(find(stmt, 'Acct/Id/Othr/Id')[0].text).toBe('t_bank-a');
    const balances = find(stmt, 'Bal').map((b) => [find(b, 'Tp/CdOrPrtry/Cd')[0].text, find(b, 'Amt')[0].text, find(b, 'Amt')[0].attrs.Ccy, find(b, 'CdtDbtInd')[0].text]);
    expect(balances).toEqual([
      ['OPBD', '1000.00', 'CNY', 'CRDT'],
      ['CLBD', '800.50', 'CNY', 'CRDT'],
    ]);
    expect(find(stmt, 'TxsSummry/TtlNtries/NbOfNtries')[0].text).toBe('3');
    expect(find(stmt, 'TxsSummry/TtlNtries/TtlNetNtry/CdtDbtInd')[0].text).toBe('DBIT');
    expect(find(stmt, 'TxsSummry/TtlNtries/TtlNetNtry/Amt')[0].text).toBe('199.50');
    expect(find(stmt, 'TxsSummry/TtlCdtNtries/Sum')[0].text).toBe('50.50');
    const entries = find(stmt, 'Ntry');
    expect(entries.map((n) => [find(n, 'Amt')[0].text, find(n, 'CdtDbtInd')[0].text, find(n, 'BkTxCd/Prtry/Cd')[0].text, find(n, 'AcctSvcrRef')[0].text])).toEqual([
      ['250.00', 'DBIT', 'debit', '1:7:3'],
      ['0.50', 'CRDT', 'credit', '1:9:0'],
      ['50.00', 'CRDT', 'mint', 'issuance:1'],
    ]);
    // The counterparty: a debit's creditor account, a credit's debtor account; none for issuance.
    expect(find(entries[0], 'NtryDtls/TxDtls/RltdPties/CdtrAcct/Id/Othr/Id')[0].text).toBe(`w_${'1'.repeat(24)}`);
    expect(find(entries[1], 'NtryDtls/TxDtls/RltdPties/DbtrAcct/Id/Othr/Id')[0].text).toBe(`w_${'2'.repeat(24)}`);
    expect(find(entries[2], 'NtryDtls')).toEqual([]);
    expect(find(entries[0], 'AddtlNtryInf')[0].text).toContain('a'.repeat(64));
  });

  it('pages as the statement does, and a negative amount carries its sign in CdtDbtInd', () => {
    const { problems, root } = checkCamt053(camt053Of({ ...statement, openingBalanceMinor: '0', closingBalanceMinor: '0', entries: [] }, { number: 2, last: false }, new Date()));
    expect(problems).toEqual([]);
    expect(find(root, 'BkToCstmrStmt/Stmt/StmtPgntn/PgNb')[0].text).toBe('2');
    expect(find(root, 'BkToCstmrStmt/Stmt/StmtPgntn/LastPgInd')[0].text).toBe('false');
    expect([yuanOf(-12345n), yuanOf(5n), yuanOf(0n), yuanOf(9_223_372_036_854_775_807n)]).toEqual(['123.45', '0.05', '0.00', '92233720368547758.07']);
  });

  it('the checker itself refuses an element out of order and a missing required one', () => {
    const xml = camt053Of(statement, { number: 1, last: true }, new Date()).replace(/<CdtDbtInd>DBIT<\/CdtDbtInd>\s*<Sts>/, '<Sts>');
    expect(checkCamt053(xml).problems.some((p) => p.includes('Ntry: CdtDbtInd is required'))).toBe(true);
    const swapped = camt053Of(statement, { number: 1, last: true }, new Date()).replace(/(<Ccy>CNY<\/Ccy>)\s*(<Ownr>[\s\S]*?<\/Ownr>)/, '$2$1');
    expect(checkCamt053(swapped).problems.length).toBeGreaterThan(0);
  });
});
