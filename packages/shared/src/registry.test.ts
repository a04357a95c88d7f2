import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519PublicKeyOfSeed, sha256, signerFromSeed } from './crypto.js';
import { authorityHashOf, encodeRegistryEvent, NO_AUTHORITY, registryEventHash, walletKeyFacts, walletOpenedFacts, walletTierFacts, type Authority, type RegistryEvent } from './registry.js';
import { RegistryReplay } from './registry-replay.js';
import { DEFAULT_AUDIENCE, requestStringToSign } from './request-auth.js';

const bankSeed = randomBytes(32);
const bankKey = ed25519PublicKeyOfSeed(bankSeed);
const customerKey = ed25519PublicKeyOfSeed(randomBytes(32));

function event(over: Partial<RegistryEvent>): RegistryEvent {
  return {
    chain: 'central',
    seq: 1n,
    prevHash: Buffer.alloc(32),
    kind: 'operator_registered',
    subject: 'alice',
    facts: { name: 'alice', publicKey: 'ab'.repeat(32) },
    actorKind: 'system',
    actorId: 'bootstrap',
    authorityHash: NO_AUTHORITY,
    signer: 'issuer',
    timeMs: 1_700_000_000_000n,
    ...over,
  };
}

/** A bank's signed request, as the gateway stores it. */
function bankRequest(path: string, body: object | null, seed = bankSeed): Authority {
  const raw = Buffer.from(body ? JSON.stringify(body) : '', 'utf8');
  const message = requestStringToSign({ audience: DEFAULT_AUDIENCE, method: 'POST', pathWithQuery: path, timestampMs: '1700000000000', nonce: `nonce-${randomBytes(8).toString('hex')}`, contentType: 'application/json', body: raw });
  return { message, signature: signerFromSeed(seed).sign(message), body: raw };
}

const onboarding = () => event({ seq: 2n, kind: 'bank_onboarded', subject: 'bank-a', facts: { name: 'Bank A', publicKey: bankKey.toString('hex'), treasuryWalletId: 't_bank-a', treasuryShard: '0' } });
const opening = (authority: Authority | null, over: Partial<RegistryEvent> = {}) =>
  event({
    chain: 'bank:bank-a/shard:0',
    kind: 'wallet_opened',
    subject: 'w_000000000000000000000001',
    facts: walletOpenedFacts({ bankId: 'bank-a', kind: 'customer', tier: 'II', publicKey: customerKey, customerRef: 'c-1', shard: 0 }),
    actorKind: 'bank',
    actorId: 'bank-a',
    authorityHash: authorityHashOf(authority),
    signer: 'gateway',
    ...over,
  });
const openBody = { publicKey: customerKey.toString('hex'), customerRef: 'c-1', tier: 'II' };

describe('registry event encoding', () => {
  it('is domain-tagged, orders facts by name, and commits to every field', () => {
    const base = event({});
    const bytes = encodeRegistryEvent(base);
    expect(bytes.subarray(0, 16).toString('latin1')).toBe('CBDC/registry/v1');
    expect(encodeRegistryEvent(event({ facts: { publicKey: 'ab'.repeat(32), name: 'alice' } }))).toEqual(bytes);
    const variants: Partial<RegistryEvent>[] = [
      { chain: 'bank:x' },
      { seq: 2n },
      { prevHash: sha256('x') },
      { kind: 'bank_onboarded' },
      { subject: 'bob' },
      { facts: { name: 'alice', publicKey: 'cd'.repeat(32) } },
      { actorKind: 'operator' },
      { actorId: 'other' },
      { authorityHash: sha256('a') },
      { signer: 'gateway' },
      { timeMs: 1n },
    ];
    for (const v of variants) expect(registryEventHash(event(v)).equals(registryEventHash(base)), JSON.stringify(Object.keys(v))).toBe(false);
  });
});

describe('registry replay', () => {
  const central = () => {
    const r = new RegistryReplay();
    expect(r.apply(event({}), null)).toEqual([]);
    expect(r.apply(onboarding(), null)).toEqual([]);
    return r;
  };

  it("derives a wallet from its opening, authorised by its bank's own signed request", () => {
    const r = central();
    const authority = bankRequest('/v1/wallets', openBody);
    expect(r.apply(opening(authority), authority)).toEqual([]);
    expect(r.wallets.get('w_000000000000000000000001')).toMatchObject({ bankId: 'bank-a', tier: 'II', publicKey: customerKey.toString('hex'), status: 'active' });
    expect(r.wallets.get('t_bank-a')).toMatchObject({ kind: 'treasury', bankId: 'bank-a' });
  });

  const cases: Array<[string, (r: RegistryReplay) => string[]]> = [
    ['a gateway event without authority', (r) => r.apply(opening(null), null)],
    [
      'an authority signed by another key',
      (r) => {
        const a = bankRequest('/v1/wallets', openBody, randomBytes(32));
        return r.apply(opening(a), a);
      },
    ],
    [
      'an authority for other facts (another tier)',
      (r) => {
        const a = bankRequest('/v1/wallets', { ...openBody, tier: 'I' });
        return r.apply(opening(a), a);
      },
    ],
    [
      'an authority for another request (a freeze)',
      (r) => {
        const a = bankRequest('/v1/wallets/w_000000000000000000000001/freeze', null);
        return r.apply(opening(a), a);
      },
    ],
    [
      'an authority used twice',
      (r) => {
        const a = bankRequest('/v1/wallets', openBody);
        r.apply(opening(a), a);
        return r.apply(opening(a, { seq: 2n, subject: 'w_000000000000000000000002' }), a);
      },
    ],
    [
      'an authority that is not the one the event commits to',
      (r) => {
        const a = bankRequest('/v1/wallets', openBody);
        return r.apply(opening(bankRequest('/v1/wallets', openBody)), a);
      },
    ],
    [
      "another bank changing a wallet's status",
      (r) => {
        const a = bankRequest('/v1/wallets', openBody);
        r.apply(opening(a), a);
        return r.apply(event({ chain: 'bank:bank-a/shard:0', seq: 2n, kind: 'wallet_status_changed', subject: 'w_000000000000000000000001', facts: { status: 'active', by: 'bank' }, actorKind: 'bank', actorId: 'bank-b' }), null);
      },
    ],
  ];
  it.each(cases)('refuses %s', (_name, act) => {
    expect(act(central()).length).toBeGreaterThan(0);
  });
});

describe('registry replay of tier changes and key replacements', () => {
  const W = 'w_000000000000000000000001';
  const newKey = ed25519PublicKeyOfSeed(randomBytes(32));
  const opened = () => {
    const r = new RegistryReplay();
    r.apply(event({}), null);
    r.apply(onboarding(), null);
    const a = bankRequest('/v1/wallets', openBody);
    expect(r.apply(opening(a), a)).toEqual([]);
    return r;
  };
  const change = (kind: 'wallet_tier_changed' | 'wallet_key_replaced', facts: Record<string, string>, authority: Authority | null, over: Partial<RegistryEvent> = {}) =>
    event({ chain: 'bank:bank-a/shard:0', seq: 2n, kind, subject: W, facts, actorKind: 'bank', actorId: 'bank-a', authorityHash: authorityHashOf(authority), signer: 'gateway', ...over });
  const tierChange = (tier: string, previousTier: string, authority: Authority | null, over: Partial<RegistryEvent> = {}) => change('wallet_tier_changed', walletTierFacts({ tier, previousTier, reason: 'KYC done' }), authority, over);
  const keyChange = (shardHeadSeq: bigint, authority: Authority | null, over: Partial<RegistryEvent> = {}, previous = customerKey) =>
    change('wallet_key_replaced', walletKeyFacts({ publicKey: newKey, previousPublicKey: previous, reason: 'device lost', shardHeadSeq }), authority, over);

  it("applies a tier change authorised by the bank's request for exactly that tier and reason", () => {
    const r = opened();
    const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'IV', reason: 'KYC done' });
    expect(r.apply(tierChange('IV', 'II', a), a)).toEqual([]);
    expect(r.wallets.get(W)).toMatchObject({ tier: 'IV', tierRef: 'registry bank:bank-a/shard:0 event 2', keyRef: 'registry bank:bank-a/shard:0 event 1' });
  });

  it('applies a key replacement and keeps the key history by shard batch', () => {
    const r = opened();
    const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: newKey.toString('hex'), reason: 'device lost' });
    expect(r.apply(keyChange(12n, a), a)).toEqual([]);
    expect(r.wallets.get(W)).toMatchObject({ publicKey: newKey.toString('hex'), keyRef: 'registry bank:bank-a/shard:0 event 2' });
    expect(r.keyAt(W, 12n)).toBe(customerKey.toString('hex'));
    expect(r.keyAt(W, 13n)).toBe(newKey.toString('hex'));
  });

  it('does not apply a tier or key change whose authority fails: the values in force stay', () => {
    const r = opened();
    expect(r.apply(keyChange(3n, null), null)).not.toEqual([]);
    const wrong = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'I', reason: 'KYC done' });
    expect(r.apply(tierChange('IV', 'II', wrong, { seq: 3n }), wrong)).not.toEqual([]);
    expect(r.wallets.get(W)).toMatchObject({ tier: 'II', publicKey: customerKey.toString('hex'), tierRef: 'registry bank:bank-a/shard:0 event 1', keyRef: 'registry bank:bank-a/shard:0 event 1' });
    expect(r.keyAt(W, 100n)).toBe(customerKey.toString('hex'));
  });

  const refused: Array<[string, (r: RegistryReplay) => string[]]> = [
    ['a tier change without authority', (r) => r.apply(tierChange('IV', 'II', null), null)],
    [
      'a tier change whose request asked for another tier',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'III', reason: 'KYC done' });
        return r.apply(tierChange('IV', 'II', a), a);
      },
    ],
    [
      'a tier change whose request names another reason',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'IV', reason: 'other' });
        return r.apply(tierChange('IV', 'II', a), a);
      },
    ],
    [
      "a tier change authorised by a request for another wallet's tier",
      (r) => {
        const a = bankRequest('/v1/wallets/w_000000000000000000000002/tier', { tier: 'IV', reason: 'KYC done' });
        return r.apply(tierChange('IV', 'II', a), a);
      },
    ],
    [
      'a tier change from a tier the wallet did not have',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'IV', reason: 'KYC done' });
        return r.apply(tierChange('IV', 'III', a), a);
      },
    ],
    [
      'a tier change to no tier',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: '', reason: 'KYC done' });
        return r.apply(tierChange('', 'II', a), a);
      },
    ],
    [
      "a tier change of a treasury (by the bank's own request)",
      (r) => {
        const a = bankRequest('/v1/wallets/t_bank-a/tier', { tier: 'IV', reason: 'KYC done' });
        return r.apply(tierChange('IV', '', a, { subject: 't_bank-a' }), a);
      },
    ],
    [
      'a tier change by another bank, signed with its own registered key',
      (r) => {
        const bankB = randomBytes(32);
        const facts = { name: 'Bank B', publicKey: ed25519PublicKeyOfSeed(bankB).toString('hex'), treasuryWalletId: 't_bank-b', treasuryShard: '0' };
        expect(r.apply(event({ seq: 3n, kind: 'bank_onboarded', subject: 'bank-b', facts }), null)).toEqual([]);
        const a = bankRequest(`/v1/wallets/${W}/tier`, { tier: 'IV', reason: 'KYC done' }, bankB);
        return r.apply(tierChange('IV', 'II', a, { actorId: 'bank-b' }), a);
      },
    ],
    ['a key replacement without authority', (r) => r.apply(keyChange(3n, null), null)],
    [
      'a key replacement whose request names another key',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: customerKey.toString('hex'), reason: 'device lost' });
        return r.apply(keyChange(3n, a), a);
      },
    ],
    [
      'a key replacement of a key that was not in force',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: newKey.toString('hex'), reason: 'device lost' });
        return r.apply(keyChange(3n, a, {}, ed25519PublicKeyOfSeed(randomBytes(32))), a);
      },
    ],
    [
      'a key replacement made at an earlier shard batch than the one before it',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: newKey.toString('hex'), reason: 'device lost' });
        expect(r.apply(keyChange(9n, a), a)).toEqual([]);
        const back = { publicKey: customerKey.toString('hex'), reason: 'found it' };
        const b = bankRequest(`/v1/wallets/${W}/key`, back);
        const facts = walletKeyFacts({ publicKey: customerKey, previousPublicKey: newKey, reason: 'found it', shardHeadSeq: 8n });
        return r.apply(change('wallet_key_replaced', facts, b, { seq: 3n }), b);
      },
    ],
    [
      'a key replacement after the wallet was closed',
      (r) => {
        r.apply(event({ chain: 'bank:bank-a/shard:0', seq: 2n, kind: 'wallet_status_changed', subject: W, facts: { status: 'closed', by: 'central' }, actorKind: 'system' }), null);
        const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: newKey.toString('hex'), reason: 'device lost' });
        return r.apply(keyChange(3n, a, { seq: 3n }), a);
      },
    ],
    [
      'a key replacement in another chain than the wallet’s',
      (r) => {
        const a = bankRequest(`/v1/wallets/${W}/key`, { publicKey: newKey.toString('hex'), reason: 'device lost' });
        return r.apply(keyChange(3n, a, { chain: 'bank:bank-a/shard:1' }), a);
      },
    ],
  ];
  it.each(refused)('refuses %s', (_name, act) => {
    expect(act(opened()).length).toBeGreaterThan(0);
  });
});
