/**
 * The one Ed25519 rule of this system, written out with @noble/curves' point arithmetic so that
 * it runs anywhere JavaScript does (a bank's browser or app, the client library). The servers
 * check the same rule with libsodium (`@cbdc/shared/crypto`), about 25 times faster; the
 * vector table (`ed25519-vectors.ts`, tested in `ed25519.test.ts`) proves the two agree.
 *
 * The rule is libsodium's `crypto_sign_verify_detached` (RFC 8032 section 5.1.7, strict):
 * - the signature is 64 bytes R || S and the key A is 32 bytes;
 * - S < L (no malleable S + L);
 * - A is a canonical encoding (y < p, no x = 0 with the sign bit set), decodes to a point, and is
 *   not one of the 8 points of small order;
 * - R, in any encoding, is not one of the 8 points of small order;
 * - the cofactorless equation holds byte for byte: encode([S]B - [k]A) = R, k = SHA-512(R || A ||
 *   M) mod L. Comparing encodings also refuses a non-canonical R.
 * @noble/curves' own `verify` is cofactored and accepts a small-order R even with
 * `{ zip215: false }` (and, by default, the all-identity signature that verifies for every
 * message), which is why it is not called here.
 *
 * A signature is only as good as its key, so keys are also checked once, where they are
 * registered (`ed25519PublicKeyProblem`): canonical, a point, not of small order, and in the
 * prime-order subgroup. Mixed-order keys (aB + T, T of small order) are refused there: under the
 * cofactorless rule about one honest signature in 8 from such a key verifies, the others do not.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;

/** The order L of the prime-order subgroup. */
export const ED25519_GROUP_ORDER: bigint = Point.Fn.ORDER;
/** The field prime p = 2^255 - 19. */
export const ED25519_FIELD_PRIME: bigint = Point.Fp.ORDER;

/** The reasons a public key is refused at registration; each is the `rule` of the 400 answer. */
export type Ed25519KeyRule = 'ed25519_public_key_length' | 'ed25519_public_key_not_canonical' | 'ed25519_public_key_not_a_point' | 'ed25519_public_key_small_order' | 'ed25519_public_key_mixed_order';

const KEY_RULE_MESSAGES: Record<Ed25519KeyRule, string> = {
  ed25519_public_key_length: 'must be 32 bytes',
  ed25519_public_key_not_canonical: 'is not the canonical encoding of a point (y >= p, or x = 0 with the sign bit set)',
  ed25519_public_key_not_a_point: 'does not decode to a point of the curve',
  ed25519_public_key_small_order: 'is a point of small order (a weak key: signatures for it can be forged)',
  ed25519_public_key_mixed_order: 'is not in the prime-order subgroup (it has a small-order component)',
};

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** The y coordinate an encoding names, sign bit cleared (may be >= p for a non-canonical one). */
function encodedY(bytes: Uint8Array): bigint {
  const copy = Uint8Array.from(bytes);
  copy[31] &= 0x7f;
  return littleEndian(copy);
}

/** Decodes a point strictly (y < p, RFC 8032), or null. */
function decodeStrict(bytes: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return null;
  }
}

/**
 * Whether a 32-byte encoding names a point of small order, in any encoding: the y coordinate is
 * taken modulo p and the sign bit is ignored, as libsodium's block list does.
 */
export function isSmallOrderEncoding(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  const y = encodedY(bytes) % ED25519_FIELD_PRIME;
  const reduced = new Uint8Array(32);
  let rest = y;
  for (let i = 0; i < 32; i++, rest >>= 8n) reduced[i] = Number(rest & 0xffn);
  const point = decodeStrict(reduced);
  return point !== null && point.isSmallOrder();
}

/** Why a raw Ed25519 public key cannot be registered, or null if it can. */
export function ed25519PublicKeyProblem(publicKey: Uint8Array): { rule: Ed25519KeyRule; message: string } | null {
  const problem = (rule: Ed25519KeyRule) => ({ rule, message: KEY_RULE_MESSAGES[rule] });
  if (publicKey.length !== 32) return problem('ed25519_public_key_length');
  if (encodedY(publicKey) >= ED25519_FIELD_PRIME) return problem(isSmallOrderEncoding(publicKey) ? 'ed25519_public_key_small_order' : 'ed25519_public_key_not_canonical');
  const point = decodeStrict(publicKey);
  if (point === null) {
    // A y that names a point, with x = 0 and the sign bit set: only the identity and the point of order 2.
    return problem(isSmallOrderEncoding(publicKey) ? 'ed25519_public_key_small_order' : 'ed25519_public_key_not_a_point');
  }
  if (point.isSmallOrder()) return problem('ed25519_public_key_small_order');
  if (!point.isTorsionFree()) return problem('ed25519_public_key_mixed_order');
  return null;
}

/**
 * Verifies an Ed25519 signature under this system's one rule (see the top of this file), in
 * portable JavaScript; false for any malformed input rather than throwing.
 */
export function ed25519VerifyPortable(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const rBytes = signature.subarray(0, 32);
  const s = littleEndian(signature.subarray(32, 64));
  if (s >= ED25519_GROUP_ORDER) return false;
  if (isSmallOrderEncoding(rBytes)) return false;
  if (encodedY(publicKey) >= ED25519_FIELD_PRIME || isSmallOrderEncoding(publicKey)) return false;
  const a = decodeStrict(publicKey);
  if (a === null) return false;
  const hashed = new Uint8Array(64 + message.length);
  hashed.set(rBytes, 0);
  hashed.set(publicKey, 32);
  hashed.set(message, 64);
  const k = littleEndian(sha512(hashed)) % ED25519_GROUP_ORDER;
  const check = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k)).toBytes();
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= check[i] ^ rBytes[i];
  return diff === 0;
}
