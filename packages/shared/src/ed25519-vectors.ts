/**
 * The Ed25519 edge-case table: signatures and keys on which every verifier of the system must
 * give the same verdict (`ed25519.test.ts`, `receipt.test.ts`). Each vector is made here, for any
 * message, with @noble/curves' point arithmetic (nothing is copied from elsewhere): the
 * small-order points are the multiples of an 8-torsion point found by clearing the prime-order
 * part ([L]P) of points decoded from small y coordinates; signatures are computed from their
 * definition, S = r + k·a mod L with k = SHA-512(R || A || M) mod L, also for keys and nonces
 * that a normal signer would never use. `verifies` is the verdict of the system's one rule
 * (`./ed25519.ts`); `keyAccepted` whether the key may be registered.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ED25519_FIELD_PRIME, ED25519_GROUP_ORDER } from './ed25519.js';

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const L = ED25519_GROUP_ORDER;
const P = ED25519_FIELD_PRIME;

/** One row of the table: a key, a message, a signature and the verdicts every verifier must give. */
export interface Ed25519Vector {
  name: string;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  /** The verdict of the system's rule (libsodium's), which every verifier must give. */
  verifies: boolean;
  /** Whether the key passes the registration check (canonical, a point, prime-order subgroup). */
  keyAccepted: boolean;
}

function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0, rest = n; i < 32; i++, rest >>= 8n) out[i] = Number(rest & 0xffn);
  return out;
}

function fromLe(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** A deterministic scalar in [1, L) from a label. */
function scalarOf(label: string): bigint {
  return (fromLe(sha512(new TextEncoder().encode(`cbdc/ed25519-vectors/${label}`))) % (L - 1n)) + 1n;
}

/** [L]P, which leaves only the small-order component of P. */
function torsionPart(p: EdPoint): EdPoint {
  return p.multiplyUnsafe(L - 1n).add(p);
}

function decodes(bytes: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return null;
  }
}

/** The smallest y >= 2 (as an encoding) that decodes, filtered by `accept`. */
function firstY(accept: (y: bigint, point: EdPoint | null) => boolean): bigint {
  for (let y = 2n; y < 1000n; y++) if (accept(y, decodes(le32(y)))) return y;
  throw new Error('no such y below 1000');
}

/** The 8 points of small order: multiples 0..7 of a point of order 8. */
export function smallOrderPoints(): EdPoint[] {
  const y = firstY((_, p) => p !== null && !torsionPart(p).double().double().is0());
  const t8 = torsionPart(Point.fromBytes(le32(y), false));
  const points: EdPoint[] = [Point.ZERO];
  for (let i = 1; i < 8; i++) points.push(points[i - 1].add(t8));
  return points;
}

function challenge(r: Uint8Array, a: Uint8Array, message: Uint8Array): bigint {
  const bytes = new Uint8Array(64 + message.length);
  bytes.set(r, 0);
  bytes.set(a, 32);
  bytes.set(message, 64);
  return fromLe(sha512(bytes)) % L;
}

function signature(r: Uint8Array, s: bigint): Uint8Array {
  const out = new Uint8Array(64);
  out.set(r, 0);
  out.set(le32(s), 32);
  return out;
}

/** S = r + k·a mod L for the given R and A encodings: a signature from its definition. */
function signWith(a: bigint, aBytes: Uint8Array, r: bigint, rBytes: Uint8Array, message: Uint8Array): Uint8Array {
  return signature(rBytes, (r + challenge(rBytes, aBytes, message) * a) % L);
}

/** A nonce r whose challenge k, for R = [r]B + extra, satisfies `accept`. */
function nonceWhere(label: string, aBytes: Uint8Array, message: Uint8Array, extra: EdPoint, accept: (k: bigint) => boolean): { r: bigint; rBytes: Uint8Array } {
  for (let i = 0; i < 256; i++) {
    const r = scalarOf(`${label}/${i}`);
    const rBytes = Point.BASE.multiply(r).add(extra).toBytes();
    if (accept(challenge(rBytes, aBytes, message))) return { r, rBytes };
  }
  throw new Error(`no nonce found for ${label}`);
}

const DEFAULT_MESSAGE = new TextEncoder().encode('cbdc: the one Ed25519 rule');

/** The edge-case table for `message`. */
export function ed25519EdgeCases(message: Uint8Array = DEFAULT_MESSAGE): Ed25519Vector[] {
  const small = smallOrderPoints();
  const t8 = small[1];
  const identity = Point.ZERO.toBytes();
  const identityNonCanonical = le32(P + 1n);
  const a = scalarOf('key');
  const aBytes = Point.BASE.multiply(a).toBytes();
  const r = scalarOf('nonce');
  const rBytes = Point.BASE.multiply(r).toBytes();
  const valid = signWith(a, aBytes, r, rBytes, message);
  const vectors: Ed25519Vector[] = [];
  const add = (name: string, publicKey: Uint8Array, sig: Uint8Array, verifies: boolean, keyAccepted: boolean, msg = message) => vectors.push({ name, publicKey, message: msg, signature: sig, verifies, keyAccepted });

  add('valid signature', aBytes, valid, true, true);
  add('wrong message', aBytes, valid, false, true, new Uint8Array([...message, 0x2e]));
  add('non-canonical S (S + L)', aBytes, signature(rBytes, fromLe(valid.subarray(32)) + L), false, true);
  add('identity key, identity R, S = 0 (verifies for every message where accepted)', identity, signature(identity, 0n), false, false);
  add('identity key non-canonical (y = p + 1), identity R, S = 0', identityNonCanonical, signature(identity, 0n), false, false);
  const negativeZero = Uint8Array.from(identity);
  negativeZero[31] |= 0x80;
  add('identity key with x = 0 and the sign bit set, identity R, S = 0', negativeZero, signature(identity, 0n), false, false);
  small.forEach((t, i) => {
    // R = [r]B, S = r: the cofactored equation holds ([k]A is small order), the rule must refuse.
    add(`small-order point ${i} as A (R = rB, S = r)`, t.toBytes(), signature(rBytes, r), false, false);
  });
  small.forEach((t, i) => {
    // S = k·a: [S]B - [k]A is the identity, so R differs from it only by a small-order point.
    const tBytes = t.toBytes();
    add(`small-order point ${i} as R (S = k·a)`, aBytes, signature(tBytes, (challenge(tBytes, aBytes, message) * a) % L), false, true);
  });
  add('R = identity non-canonical (y = p + 1), S = k·a', aBytes, signature(identityNonCanonical, (challenge(identityNonCanonical, aBytes, message) * a) % L), false, true);

  const yNonCanonical = firstY((_, p) => p !== null && !p.isSmallOrder());
  add(`non-canonical A (y = p + ${yNonCanonical}, a point of large order), R = rB, S = r`, le32(P + yNonCanonical), signature(rBytes, r), false, false);
  const yNotOnCurve = firstY((_, p) => p === null);
  add(`A not a point (y = ${yNotOnCurve}), R = rB, S = r`, le32(yNotOnCurve), signature(rBytes, r), false, false);

  const mixedA = Point.BASE.multiply(a).add(t8).toBytes();
  const rejected = nonceWhere('mixed-a-rejected', mixedA, message, Point.ZERO, (k) => k % 8n !== 0n);
  add('mixed-order A (aB + T8), honest signature, k not divisible by 8', mixedA, signWith(a, mixedA, rejected.r, rejected.rBytes, message), false, false);
  const accepted = nonceWhere('mixed-a-accepted', mixedA, message, Point.ZERO, (k) => k % 8n === 0n);
  add('mixed-order A (aB + T8), honest signature, k divisible by 8 (why registration refuses such keys)', mixedA, signWith(a, mixedA, accepted.r, accepted.rBytes, message), true, false);
  const mixedR = nonceWhere('mixed-r', aBytes, message, t8, () => true);
  add('mixed-order R (rB + T8), S = r + k·a', aBytes, signWith(a, aBytes, mixedR.r, mixedR.rBytes, message), false, true);
  return vectors;
}

/** The table as JSON-ready hex (docs/vectors/ed25519-edge-cases.json), for implementers in other languages. */
export function ed25519EdgeCasesHex(message?: Uint8Array) {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return ed25519EdgeCases(message).map((v) => ({ name: v.name, publicKey: hex(v.publicKey), message: hex(v.message), signature: hex(v.signature), verifies: v.verifies, keyAccepted: v.keyAccepted }));
}
