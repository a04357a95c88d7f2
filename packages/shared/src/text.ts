/**
 * What a string from the wire must be before anything stores it. Postgres `text` cannot hold
 * U+0000 and stores only well-formed UTF-8; a value it refuses inside a settlement transaction
 * would fail every job merged into that transaction. So each rule here is one pure function that
 * returns null for an acceptable value or a problem "rule: message" (the form the zod schemas and
 * the problem renderer use), and the gateway's schemas and the settlement core call the same one.
 */
import { LIMITS } from './limits.js';

/**
 * Characters refused in free text: controls (C0, DEL, C1), lone surrogates, private use,
 * unassigned code points and noncharacters (Cn), the line and paragraph separators, and the
 * bidirectional embedding, override and isolate controls (they make text display other than it
 * reads). Other format characters (zero-width joiners in emoji, soft hyphens) are accepted.
 */
const REFUSED_CHARACTER = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/** In a `u` regular expression a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The first refused character of `s`, as "U+XXXX at index i", or null. */
function refusedCharacterOf(s: string): string | null {
  const m = REFUSED_CHARACTER.exec(s);
  if (!m) return null;
  return `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at index ${m.index}`;
}

/**
 * Free text a person reads (memo, bank name, reserve reference): well-formed Unicode, printable
 * (see REFUSED_CHARACTER), in Normalization Form C, at most `bytesMax` bytes of UTF-8. A string
 * that is not NFC is refused rather than normalised, because the caller may have signed its bytes.
 */
export function textProblem(s: unknown, field: string, bytesMax: number): string | null {
  if (typeof s !== 'string') return `${field}_type: must be a string`;
  // A lone surrogate would be written as U+FFFD: stored bytes other than the signed ones.
  if (LONE_SURROGATE.test(s)) return `${field}_unicode: must be well-formed Unicode (no lone surrogate)`;
  if (Buffer.byteLength(s, 'utf8') > bytesMax) return `${field}_max_bytes: must be at most ${bytesMax} bytes of UTF-8`;
  const refused = refusedCharacterOf(s);
  if (refused) return `${field}_printable: must hold printable characters only (no NUL, control, unassigned, private-use or bidirectional-control character); found ${refused}`;
  if (s.normalize('NFC') !== s) return `${field}_nfc: must be in Unicode Normalization Form C`;
  return null;
}

/** Why a transfer memo cannot be accepted (see docs/canonical-encoding.md), or null if it can. */
export function memoProblem(memo: unknown): string | null {
  return textProblem(memo, 'memo', LIMITS.memoBytesMax);
}

/** The rule name of a problem returned by the functions above. */
export function ruleOf(problem: string): string {
  return problem.slice(0, problem.indexOf(':'));
}
