/**
 * Webhooks (docs/events.md): what the gateway, which manages a bank's endpoints, and the delivery
 * service share. Signing secrets, sealed at rest; the rule for an endpoint's URL; the backoff.
 *
 * A signing secret is `whsec_` and 32 random bytes in base64 (the Standard Webhooks form). The
 * gateway creates it, shows it once, and stores it only sealed (a libsodium sealed box, X25519 and
 * XSalsa20-Poly1305) to the delivery service's public key, bound to its endpoint's id: the gateway
 * cannot read a stored secret back, nor can anyone who reads the database without the delivery
 * service's sealing key, and a sealed secret copied to another endpoint does not open there.
 */
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import sodium from 'sodium-native';
import { z } from 'zod';

/** A new signing secret. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The X25519 key pair of the delivery service's sealing key (a 32-byte seed). */
export function sealingKeyPair(seed: Buffer): { publicKey: Buffer; secretKey: Buffer } {
  if (seed.length !== 32) throw new Error('a sealing key seed is 32 bytes');
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const secretKey = sodium.sodium_malloc(sodium.crypto_box_SECRETKEYBYTES) as unknown as Buffer;
  sodium.crypto_box_seed_keypair(publicKey, secretKey, seed);
  return { publicKey, secretKey };
}

const bound = (endpointId: string, secret: string) => Buffer.from(`${endpointId}\n${secret}`, 'utf8');

/** Seals `secret` of `endpointId` to the delivery service's public key. */
export function sealSecret(publicKey: Buffer, endpointId: string, secret: string): Buffer {
  const message = bound(endpointId, secret);
  const sealed = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(sealed, message, publicKey);
  return sealed;
}

/** Opens a sealed secret of `endpointId`; null if it does not open with this key or names another endpoint. */
export function openSecret(keys: { publicKey: Buffer; secretKey: Buffer }, endpointId: string, sealed: Buffer): string | null {
  if (sealed.length <= sodium.crypto_box_SEALBYTES) return null;
  const message = Buffer.alloc(sealed.length - sodium.crypto_box_SEALBYTES);
  if (!sodium.crypto_box_seal_open(message, sealed, keys.publicKey, keys.secretKey)) return null;
  const text = message.toString('utf8');
  const prefix = `${endpointId}\n`;
  return text.startsWith(prefix) ? text.slice(prefix.length) : null;
}

/** Addresses no webhook is sent to unless its host is allowed by configuration: private, loopback, link-local, reserved. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 127], // :: and ::1
  ['::ffff:0:0', 96], // IPv4-mapped: checked again as IPv4 below
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv6');

/** Whether `address` (an IP literal) is one a webhook may not reach unless allowed. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  return PRIVATE.check(address, 'ipv6');
}

/** Which URLs endpoints may have: https to public hosts, and whatever `allowedHosts` (configuration) adds. */
export interface WebhookUrlPolicy {
  /** Hosts (names or IP literals, lowercase) that may be reached over http and at private addresses (tests: 127.0.0.1). */
  allowedHosts: ReadonlySet<string>;
  urlBytesMax: number;
}

/** The bare host of a URL (IPv6 literals without their brackets), lowercase. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** Why `text` cannot be an endpoint's URL ({ rule, message }), or null. */
export function webhookUrlProblem(text: string, policy: WebhookUrlPolicy): { rule: string; message: string } | null {
  if (Buffer.byteLength(text, 'utf8') > policy.urlBytesMax) return { rule: 'url_max', message: `at most ${policy.urlBytesMax} bytes` };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { rule: 'url', message: 'must be an absolute URL' };
  }
  const host = hostOf(url);
  const allowed = policy.allowedHosts.has(host);
  if (url.username !== '' || url.password !== '') return { rule: 'url_credentials', message: 'must not carry a user name or password' };
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) return { rule: 'url_https', message: 'must use https' };
  if (url.hash !== '') return { rule: 'url_fragment', message: 'must not have a fragment' };
  if (allowed) return null;
  if (isIP(host) !== 0 ? isPrivateAddress(host) : host === 'localhost' || /\.(localhost|local|internal|home\.arpa)$/.test(host) || !host.includes('.')) {
    return { rule: 'url_public_host', message: 'must name a public host (private, loopback and internal addresses are refused)' };
  }
  return null;
}

/**
 * The delay before retry `attempt` (1 for the first retry) of a failed delivery: exponential from
 * `baseMs`, capped at `maxMs`, with full jitter (a random share of it, `random` in [0, 1)) so that
 * the retries of many endpoints failing at once do not arrive together. Never below `baseMs / 2`.
 */
export function retryDelayMs(attempt: number, o: { baseMs: number; maxMs: number }, random: number): number {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(Math.round(o.baseMs / 2), Math.round(ceiling * random));
}

/** WEBHOOK_ALLOWED_HOSTS: comma-separated host names or IP literals, lowercase; empty by default. */
export const webhookAllowedHostsSchema = z
  .string()
  .regex(/^([a-z0-9.:-]{1,253}(,[a-z0-9.:-]{1,253})*)?$/, { error: 'WEBHOOK_ALLOWED_HOSTS must be comma-separated host names or IP literals, lowercase' })
  .default('')
  .transform((text) => (text === '' ? [] : text.split(',')));
