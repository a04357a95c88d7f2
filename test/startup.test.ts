/** Each service refuses to start in one line, naming what to start, when Postgres or Redis is unreachable or config is bad. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const KEY = 'ab'.repeat(32);
/** A valid Ed25519 public key (of the seed 0x01 x 32): settlement refuses weak gateway keys at start. */
const GATEWAY_PUBLIC_KEY = '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c';
const SERVICES = {
  issuer: { entry: 'services/issuer/src/server.ts', env: { ISSUER_SIGNING_KEY: KEY, PORT: '0' } },
  'wallet-gateway': { entry: 'services/wallet-gateway/src/server.ts', env: { GATEWAY_ATTESTATION_KEY: KEY, PORT: '0' } },
  settlement: { entry: 'services/settlement/src/server.ts', env: { GATEWAY_ATTESTATION_KEYS: `gateway:${GATEWAY_PUBLIC_KEY}`, SETTLEMENT_SHARD_KEYS: KEY } },
} as const;

function start(name: keyof typeof SERVICES, env: Record<string, string>) {
  const s = SERVICES[name];
  const result = spawnSync(process.execPath, ['--import', 'tsx', s.entry], { env: { PATH: process.env.PATH, ...s.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, lines: result.stderr.trim().split('\n') };
}

describe('start-up failures are one line', () => {
  for (const name of Object.keys(SERVICES) as Array<keyof typeof SERVICES>) {
    it(`${name}: unreachable Postgres`, () => {
      const r = start(name, { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/cbdc' });
      expect(r.code).toBe(1);
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:9\/cbdc .*start PostgreSQL or set DATABASE_URL/);
    });
  }

  it('wallet-gateway: unreachable Redis', () => {
    const r = start('wallet-gateway', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', REDIS_URL: 'redis://127.0.0.1:9' });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/cannot reach Redis at 127\.0\.0\.1:9 .*start redis-server or set REDIS_URL/);
  });

  it('settlement: a missing key is named', () => {
    const r = start('settlement', { SETTLEMENT_SHARD_KEYS: '' });
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain('SETTLEMENT_SHARD_KEYS');
  });
});
