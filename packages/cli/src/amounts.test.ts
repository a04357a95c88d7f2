import { describe, expect, it } from 'vitest';
import { parseYuan } from './amounts.js';

describe('parseYuan', () => {
  it.each([
    ['1', 100n],
    ['0.01', 1n],
    ['1234.5', 123450n],
    ['1,000,000.00', 100000000n],
    ['92233720368547758.07', 9223372036854775807n],
  ])('reads %s as %s fen', (text, fen) => expect(parseYuan(text)).toBe(fen));

  it.each(['0', '0.00', '-1', '1.234', '1e6', 'abc', '', '.5', '01'])('refuses %s', (text) => expect(parseYuan(text)).toBeNull());
});
