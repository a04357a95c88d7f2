/**
 * Money is an integer number of minor units (fen, 1/100 yuan), held as `bigint` in code and
 * carried as a decimal string on the wire. A JavaScript `number` never holds an amount.
 */

/** The largest amount the system represents: 2^63 - 1 fen, the range of a Postgres bigint. */
export const AMOUNT_MINOR_MAX = 2n ** 63n - 1n;

/** The wire form of a positive amount: digits only, no sign, no leading zero, no exponent. */
export const POSITIVE_AMOUNT_PATTERN = /^[1-9][0-9]{0,18}$/;

/** Formats fen as yuan with two decimals, for people: 123456n -> "1,234.56". */
export function formatYuan(minor: bigint): string {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (abs % 100n).toString().padStart(2, '0');
  return `${negative ? '-' : ''}${whole}.${cents}`;
}
