import { describe, expect, it } from 'vitest';
import { memoProblem, ruleOf, textProblem } from './text.js';

describe('memoProblem: the one memo rule of the gateway schema and the settlement core', () => {
  const refused: Array<[string, string, string]> = [
    ['NUL', 'a\u0000b', 'memo_printable'],
    ['a C0 control (tab)', 'a\tb', 'memo_printable'],
    ['a newline', 'a\nb', 'memo_printable'],
    ['DEL', 'a\u007fb', 'memo_printable'],
    ['a C1 control', 'a\u009bb', 'memo_printable'],
    ['a lone high surrogate', 'a\ud83d', 'memo_unicode'],
    ['a lone low surrogate', '\udc00a', 'memo_unicode'],
    ['a noncharacter', 'a\ufffe', 'memo_printable'],
    ['a noncharacter of the BMP block', 'a\ufdd0', 'memo_printable'],
    ['a private-use character', 'a\ue000', 'memo_printable'],
    ['an unassigned code point', 'a\u{e0080}', 'memo_printable'],
    ['a right-to-left override', 'pay \u202eevil', 'memo_printable'],
    ['a line separator', 'a\u2028b', 'memo_printable'],
    ['a decomposed accent (NFD)', 'cafe\u0301', 'memo_nfc'],
    ['141 bytes', 'x'.repeat(141), 'memo_max_bytes'],
    ['47 three-byte characters', '午'.repeat(47), 'memo_max_bytes'],
  ];
  for (const [name, memo, rule] of refused) {
    it(`refuses ${name} with ${rule}`, () => {
      const problem = memoProblem(memo);
      expect(problem).not.toBeNull();
      expect(ruleOf(problem!)).toBe(rule);
    });
  }

  const accepted: Array<[string, string]> = [
    ['the empty memo', ''],
    ['ASCII with spaces', 'lunch with Wang, 12:30'],
    ['CJK', '午饭 AA 制'],
    ['an emoji with a skin tone and a zero-width joiner', '👩🏽‍💻 rent'],
    ['a precomposed accent (NFC)', 'café'],
    ['exactly 140 bytes', 'x'.repeat(140)],
  ];
  for (const [name, memo] of accepted) {
    it(`accepts ${name}`, () => expect(memoProblem(memo)).toBeNull());
  }

  it('refuses a value that is not a string', () => {
    expect(ruleOf(memoProblem(42)!)).toBe('memo_type');
  });

  it('names the field it is given', () => {
    expect(ruleOf(textProblem('a\u0000', 'name', 100)!)).toBe('name_printable');
  });
});
