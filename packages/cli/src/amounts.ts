/** Amounts typed by operators: yuan with up to two decimals, turned into fen without floating point. */
const YUAN_PATTERN = /^(0|[1-9]\d{0,16})(\.\d{1,2})?$/;

/** Parses "1234.5" as 123450 fen; null if it is not a positive amount of yuan. */
export function parseYuan(text: string): bigint | null {
  const t = text.replace(/[,_]/g, '');
  if (!YUAN_PATTERN.test(t)) return null;
  const [whole, fraction = ''] = t.split('.');
  const fen = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0') || '0');
  return fen > 0n ? fen : null;
}
