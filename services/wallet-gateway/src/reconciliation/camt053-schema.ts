/**
 * A check of a camt.053 document against the element sequences of ISO 20022 camt.053.001.08
 * (BankToCustomerStatementV08) for every element the export (./camt053.ts) writes: children in the
 * schema's order, the required ones present, the text lengths and amount formats the schema
 * allows. Not the whole XSD (that is not shipped in any package here): the part this export uses,
 * transcribed, so that the tests fail if the export drifts from it.
 */
import { create } from 'xmlbuilder2';
import { CAMT053_NAMESPACE } from './camt053.js';

/** The XSD sequence (in order) and required children of each element the export writes. */
const SEQUENCES: Record<string, { order: string[]; required: string[] }> = {
  Document: { order: ['BkToCstmrStmt'], required: ['BkToCstmrStmt'] },
  BkToCstmrStmt: { order: ['GrpHdr', 'Stmt', 'SplmtryData'], required: ['GrpHdr', 'Stmt'] },
  GrpHdr: { order: ['MsgId', 'CreDtTm', 'MsgRcpt', 'MsgPgntn', 'OrgnlBizQry', 'AddtlInf'], required: ['MsgId', 'CreDtTm'] },
  MsgPgntn: { order: ['PgNb', 'LastPgInd'], required: ['PgNb', 'LastPgInd'] },
  StmtPgntn: { order: ['PgNb', 'LastPgInd'], required: ['PgNb', 'LastPgInd'] },
  Stmt: {
    order: ['Id', 'StmtPgntn', 'ElctrncSeqNb', 'RptgSeq', 'LglSeqNb', 'CreDtTm', 'FrToDt', 'CpyDplctInd', 'RptgSrc', 'Acct', 'RltdAcct', 'Intrst', 'Bal', 'TxsSummry', 'Ntry', 'AddtlStmtInf'],
    required: ['Id', 'Acct'],
  },
  FrToDt: { order: ['FrDtTm', 'ToDtTm'], required: ['FrDtTm', 'ToDtTm'] },
  Acct: { order: ['Id', 'Tp', 'Ccy', 'Nm', 'Prxy', 'Ownr', 'Svcr'], required: [] },
  Ownr: { order: ['Nm', 'PstlAdr', 'Id', 'CtryOfRes', 'CtctDtls'], required: [] },
  OrgId: { order: ['AnyBIC', 'LEI', 'Othr'], required: [] },
  Othr: { order: ['Id', 'SchmeNm', 'Issr'], required: ['Id'] },
  Bal: { order: ['Tp', 'CdtLine', 'Amt', 'CdtDbtInd', 'Dt', 'Avlbty'], required: ['Tp', 'Amt', 'CdtDbtInd', 'Dt'] },
  Tp: { order: ['CdOrPrtry', 'SubTp'], required: ['CdOrPrtry'] },
  TxsSummry: { order: ['TtlNtries', 'TtlCdtNtries', 'TtlDbtNtries', 'TtlNtriesPerBkTxCd'], required: [] },
  TtlNtries: { order: ['NbOfNtries', 'Sum', 'TtlNetNtry'], required: [] },
  TtlNetNtry: { order: ['Amt', 'CdtDbtInd'], required: ['Amt', 'CdtDbtInd'] },
  TtlCdtNtries: { order: ['NbOfNtries', 'Sum'], required: [] },
  TtlDbtNtries: { order: ['NbOfNtries', 'Sum'], required: [] },
  Ntry: {
    order: ['NtryRef', 'Amt', 'CdtDbtInd', 'RvslInd', 'Sts', 'BookgDt', 'ValDt', 'AcctSvcrRef', 'Avlbty', 'BkTxCd', 'ComssnWvrInd', 'AddtlInfInd', 'AmtDtls', 'Chrgs', 'TechInptChanl', 'Intrst', 'CardTx', 'NtryDtls', 'AddtlNtryInf'],
    required: ['Amt', 'CdtDbtInd', 'Sts', 'BkTxCd'],
  },
  Sts: { order: ['Cd', 'Prtry'], required: [] },
  BkTxCd: { order: ['Domn', 'Prtry'], required: [] },
  Prtry: { order: ['Cd', 'Issr'], required: ['Cd'] },
  NtryDtls: { order: ['Btch', 'TxDtls'], required: [] },
  TxDtls: { order: ['Refs', 'Amt', 'CdtDbtInd', 'AmtDtls', 'Avlbty', 'BkTxCd', 'Chrgs', 'Intrst', 'RltdPties', 'RltdAgts', 'LclInstrm', 'Purp', 'RltdRmtInf', 'RmtInf', 'RltdDts'], required: [] },
  RltdPties: { order: ['InitgPty', 'Dbtr', 'DbtrAcct', 'UltmtDbtr', 'Cdtr', 'CdtrAcct', 'UltmtCdtr', 'TradgPty', 'Prtry'], required: [] },
};
/** Elements whose text the schema bounds (Max35Text, Max34Text), by the path's last two names. */
const MAX_LENGTHS: Record<string, number> = { 'GrpHdr/MsgId': 35, 'Stmt/Id': 35, 'Ntry/AcctSvcrRef': 35, 'Prtry/Cd': 35, 'Prtry/Issr': 35, 'Othr/Id': 34, 'Ntry/AddtlNtryInf': 500 };
const AMOUNT = /^[0-9]{1,16}\.[0-9]{2}$/;

/** The part of a DOM element (xmlbuilder2's node) this reads. */
interface XmlElement {
  nodeType: number;
  localName: string;
  namespaceURI: string | null;
  textContent: string | null;
  childNodes: ArrayLike<XmlElement>;
  attributes: ArrayLike<{ name: string; value: string }>;
}

export interface El {
  name: string;
  path: string;
  children: El[];
  text: string;
  attrs: Record<string, string>;
}

function parse(xml: string): El {
  const walk = (node: XmlElement, parent: string): El => {
    const path = parent ? `${parent}/${node.localName}` : node.localName;
    const children = Array.from(node.childNodes)
      .filter((c): c is XmlElement => c.nodeType === 1)
      .map((c) => walk(c, path));
    const attrs = Object.fromEntries(Array.from(node.attributes).map((a) => [a.name, a.value]));
    return { name: node.localName, path, children, text: node.textContent ?? '', attrs };
  };
  return walk(create(xml).root().node as unknown as XmlElement, '');
}

/** Every problem the document has against the camt.053.001.08 sequences above; [] when it conforms. */
export function checkCamt053(xml: string): { problems: string[]; root: El } {
  const root = parse(xml);
  const problems: string[] = [];
  const ns = (create(xml).root().node as unknown as XmlElement).namespaceURI;
  if (ns !== CAMT053_NAMESPACE) problems.push(`Document: namespace ${ns}, not ${CAMT053_NAMESPACE}`);
  const visit = (el: El) => {
    const spec = SEQUENCES[el.name];
    if (spec && el.children.length > 0) {
      let at = 0;
      for (const child of el.children) {
        const i = spec.order.indexOf(child.name, at);
        if (i < 0) problems.push(`${child.path}: not allowed here, or out of the order ${spec.order.join(', ')}`);
        else at = i;
      }
      for (const r of spec.required) if (!el.children.some((c) => c.name === r)) problems.push(`${el.path}: ${r} is required`);
    }
    const tail = el.path.split('/').slice(-2).join('/');
    if (el.children.length === 0 && MAX_LENGTHS[tail] !== undefined && el.text.length > MAX_LENGTHS[tail]) problems.push(`${el.path}: longer than ${MAX_LENGTHS[tail]}`);
    if (['Amt', 'Sum'].includes(el.name) && !AMOUNT.test(el.text)) problems.push(`${el.path}: ${el.text} is not an amount`);
    if (el.name === 'CdtDbtInd' && !['CRDT', 'DBIT'].includes(el.text)) problems.push(`${el.path}: ${el.text}`);
    el.children.forEach(visit);
  };
  visit(root);
  return { problems, root };
}

/** The elements at `path` (names joined by "/") below `el`. */
export function findElements(el: El, path: string): El[] {
  const [head, ...rest] = path.split('/');
  const here = el.children.filter((c) => c.name === head);
  return rest.length === 0 ? here : here.flatMap((c) => findElements(c, rest.join('/')));
}
