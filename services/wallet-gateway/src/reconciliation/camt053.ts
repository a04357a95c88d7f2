/**
 * A treasury statement as ISO 20022 camt.053.001.08 (BankToCustomerStatementV08), built with
 * xmlbuilder2 (which escapes every text and attribute). Pure: the statement view in, XML out.
 *
 * Mapping: the account is the treasury wallet (Acct/Id/Othr/Id, owned by the bank); OPBD and CLBD
 * balances are the opening and closing balances; TxsSummry holds the day's totals; each movement is
 * an Ntry, booked (BOOK) at its settlement time, with the shard, batch and leaf that committed it as
 * AcctSvcrRef, the entry type as a proprietary bank transaction code, the counterparty wallet as
 * DbtrAcct or CdtrAcct, and the entry and transfer ids (64 hex digits, longer than the 35 characters
 * the reference fields allow) in AddtlNtryInf. Amounts are in yuan with two decimals (the ledger's
 * fen / 100), currency CNY. A day of many entries is paged (StmtPgntn) as the JSON statement is.
 */
import { create } from 'xmlbuilder2';
import { sha256 } from '@cbdc/shared/crypto';

export const CAMT053_NAMESPACE = 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.08';
const CURRENCY = 'CNY';

/** What the export reads of a statement (the JSON view of ./routes.ts). */
export interface StatementForCamt {
  date: string;
  bankId: string;
  walletId: string;
  from: string;
  to: string;
  openingBalanceMinor: string;
  closingBalanceMinor: string;
  totalCreditsMinor: string;
  totalDebitsMinor: string;
  creditCount: number;
  debitCount: number;
  entries: ReadonlyArray<{
    id: string;
    type: string;
    direction: 'debit' | 'credit';
    amountMinor: string;
    settledAt: string;
    shard: number;
    batchSeq: string | null;
    leafIndex: number | null;
    transferId: string | null;
    issuanceId: string | null;
    counterpartyWalletId: string | null;
  }>;
}

/** Fen as yuan with two decimals, without sign. */
export function yuanOf(minor: bigint): string {
  const abs = minor < 0n ? -minor : minor;
  return `${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

const indicator = (minor: bigint) => (minor < 0n ? 'DBIT' : 'CRDT');

/** A short identifier (at most 35 characters, as camt's Max35Text) derived from the parts. */
function idOf(...parts: string[]): string {
  return sha256(Buffer.from(parts.join('\n'), 'utf8'))
    .subarray(0, 16)
    .toString('hex');
}

/** The camt.053.001.08 document of one page of a statement. */
export function camt053Of(s: StatementForCamt, page: { number: number; last: boolean }, createdAt: Date): string {
  const opening = BigInt(s.openingBalanceMinor);
  const closing = BigInt(s.closingBalanceMinor);
  const credits = BigInt(s.totalCreditsMinor);
  const debits = BigInt(s.totalDebitsMinor);
  const net = credits - debits;
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele(CAMT053_NAMESPACE, 'Document');
  const root = doc.ele('BkToCstmrStmt');
  root
    .ele('GrpHdr')
    .ele('MsgId')
    .txt(idOf('camt.053', s.walletId, s.date, String(page.number)))
    .up()
    .ele('CreDtTm')
    .txt(createdAt.toISOString())
    .up()
    .ele('MsgPgntn')
    .ele('PgNb')
    .txt(String(page.number))
    .up()
    .ele('LastPgInd')
    .txt(String(page.last));
  const stmt = root.ele('Stmt');
  stmt.ele('Id').txt(idOf('statement', s.walletId, s.date));
  stmt.ele('StmtPgntn').ele('PgNb').txt(String(page.number)).up().ele('LastPgInd').txt(String(page.last));
  stmt.ele('CreDtTm').txt(createdAt.toISOString());
  stmt.ele('FrToDt').ele('FrDtTm').txt(s.from).up().ele('ToDtTm').txt(s.to);
  const acct = stmt.ele('Acct');
  acct.ele('Id').ele('Othr').ele('Id').txt(s.walletId);
  acct.ele('Ccy').txt(CURRENCY);
  acct.ele('Ownr').ele('Id').ele('OrgId').ele('Othr').ele('Id').txt(s.bankId);
  for (const [code, minor, at] of [
    ['OPBD', opening, s.from],
    ['CLBD', closing, s.to],
  ] as const) {
    const bal = stmt.ele('Bal');
    bal.ele('Tp').ele('CdOrPrtry').ele('Cd').txt(code);
    bal.ele('Amt', { Ccy: CURRENCY }).txt(yuanOf(minor));
    bal.ele('CdtDbtInd').txt(indicator(minor));
    bal.ele('Dt').ele('DtTm').txt(at);
  }
  const summary = stmt.ele('TxsSummry');
  const total = summary.ele('TtlNtries');
  total.ele('NbOfNtries').txt(String(s.creditCount + s.debitCount));
  total.ele('Sum').txt(yuanOf(credits + debits));
  total.ele('TtlNetNtry').ele('Amt').txt(yuanOf(net)).up().ele('CdtDbtInd').txt(indicator(net));
  summary.ele('TtlCdtNtries').ele('NbOfNtries').txt(String(s.creditCount)).up().ele('Sum').txt(yuanOf(credits));
  summary.ele('TtlDbtNtries').ele('NbOfNtries').txt(String(s.debitCount)).up().ele('Sum').txt(yuanOf(debits));
  for (const e of s.entries) {
    const credit = e.direction === 'credit';
    const ntry = stmt.ele('Ntry');
    ntry.ele('Amt', { Ccy: CURRENCY }).txt(yuanOf(BigInt(e.amountMinor)));
    ntry.ele('CdtDbtInd').txt(credit ? 'CRDT' : 'DBIT');
    ntry.ele('Sts').ele('Cd').txt('BOOK');
    ntry.ele('BookgDt').ele('DtTm').txt(e.settledAt);
    ntry.ele('ValDt').ele('DtTm').txt(e.settledAt);
    ntry.ele('AcctSvcrRef').txt(e.batchSeq === null ? `issuance:${e.shard}` : `${e.shard}:${e.batchSeq}:${e.leafIndex}`);
    ntry.ele('BkTxCd').ele('Prtry').ele('Cd').txt(e.type).up().ele('Issr').txt('CBDC');
    if (e.counterpartyWalletId !== null) {
      const parties = ntry.ele('NtryDtls').ele('TxDtls').ele('RltdPties');
      parties
        .ele(credit ? 'DbtrAcct' : 'CdtrAcct')
        .ele('Id')
        .ele('Othr')
        .ele('Id')
        .txt(e.counterpartyWalletId);
    }
    ntry.ele('AddtlNtryInf').txt(e.transferId !== null ? `${e.id} transfer ${e.transferId}` : `${e.id} issuance ${e.issuanceId}`);
  }
  return doc.end({ prettyPrint: true });
}
