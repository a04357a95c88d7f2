/**
 * Hashing and Ed25519 on the server side. Signing goes through node:crypto; every verification
 * goes through libsodium under the system's one Ed25519 rule (described in `./ed25519.ts`, whose
 * portable implementation the clients use; `ed25519.test.ts` proves the two agree on a table of
 * edge cases). node:crypto's verify is not used: OpenSSL accepts the all-identity signature that
 * verifies for every message under the identity key, and a small-order R.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import sodium from 'sodium-native';
import { ed25519PublicKeyProblem, type Ed25519KeyRule } from './ed25519.js';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** SHA-256 of the given bytes. */
export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Parses a lowercase or uppercase hex string of exactly `bytes` bytes, or returns null. */
export function parseHex(text: string, bytes: number): Buffer | null {
  if (text.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  return Buffer.from(text, 'hex');
}

/** A node:crypto private KeyObject from a raw 32-byte Ed25519 seed. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('Ed25519 private key (seed) must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 seed. */
export function ed25519PublicKeyOfSeed(seed: Uint8Array): Buffer {
  const spki = createPublicKey(ed25519PrivateKey(seed)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(ED25519_SPKI_PREFIX.length));
}

/** Signs a message with an Ed25519 private key; returns the 64-byte signature. */
export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

/**
 * Verifies an Ed25519 signature under the system's one rule, with libsodium (sodium-native):
 * S < L, A canonical and not of small order, R not of small order, and the cofactorless equation
 * compared byte for byte (see `./ed25519.ts`). About twice as fast as node:crypto here and it
 * takes the raw 32-byte key. Every server-side verification (requests, transfers, chains, the
 * audit) calls this function. False for any malformed input rather than throwing.
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return sodium.crypto_sign_verify_detached(toBuffer(signature), toBuffer(message), toBuffer(publicKey));
}

/** The same function as `ed25519Verify`, under the name the existing callers use. */
export const ed25519VerifyRaw = ed25519Verify;

/**
 * Why a raw Ed25519 public key cannot be registered (not canonical, not a point, small order, or
 * outside the prime-order subgroup), or null if it can. libsodium's
 * `crypto_core_ed25519_is_valid_point` decides (about 90 µs); only a refused key is examined
 * again, by the portable rule, to name the reason.
 */
export function ed25519PublicKeyCheck(publicKey: Uint8Array): { rule: Ed25519KeyRule; message: string } | null {
  if (publicKey.length === 32 && sodium.crypto_core_ed25519_is_valid_point(toBuffer(publicKey))) return null;
  return ed25519PublicKeyProblem(publicKey) ?? { rule: 'ed25519_public_key_mixed_order', message: "is refused by libsodium's point validation" };
}

/** Throws if a configured Ed25519 public key (of an operator, a shard, the issuer) could not be registered. */
export function assertEd25519PublicKey(name: string, publicKey: Uint8Array): void {
  const problem = ed25519PublicKeyCheck(publicKey);
  if (problem) throw new Error(`${name}: ${problem.rule}: the Ed25519 public key ${Buffer.from(publicKey).toString('hex')} ${problem.message}`);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An Ed25519 signer built once from a seed, for services that sign many entries. */
export interface Signer {
  publicKey: Buffer;
  sign(message: Uint8Array): Buffer;
}

/** Builds a Signer from a raw 32-byte seed; its public key passes the registration check. */
export function signerFromSeed(seed: Uint8Array): Signer {
  const key = ed25519PrivateKey(seed);
  const publicKey = ed25519PublicKeyOfSeed(seed);
  assertEd25519PublicKey('signing key', publicKey);
  return { publicKey, sign: (message) => ed25519Sign(key, message) };
}
