/**
 * Webhooks end to end (docs/events.md): endpoints managed through the gateway, the delivery
 * service (services/webhooks) running in the test system, and real HTTP receivers that verify
 * every delivery with the standardwebhooks library. Deliveries are signed, in order per shard (and
 * so per wallet), each event at least once (the receiver dedupes); a receiver that is down is
 * retried until it answers; a slow receiver does not hold up another bank's; a crash of the
 * delivery process loses nothing; retries exhausted dead-letter the event, which is listed and
 * redelivered; a rotated secret signs beside the old one during the overlap, alone after it.
 * And the attacker's side: another bank's endpoints are 404 everywhere, URLs that would reach
 * inside are refused, the secret is shown once and stored sealed.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CbdcApiError, newCustomerKey, signedRequest, signTransfer, type BankClient } from '@cbdc/client';
import { startTestSystem, type TestSystem } from './support/system.js';
import { startReceiver, until, type Receiver } from './support/webhook-receiver.js';

const SHARDS = 2;
const YUAN = 100n;
type Bank = BankClient & { privateKeyHex: string };

interface EndpointView {
  id: string;
  url: string;
  eventTypes: string[] | null;
  enabled: boolean;
  previousSecretExpiresAt: string | null;
  secret?: string;
}

async function call<T>(bank: Bank, method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  return signedRequest<T>(bank.baseUrl, { keyId: bank.bankId, privateKey: Buffer.from(bank.privateKeyHex, 'hex') }, method, path, body, { headers });
}
const problemOf = (e: unknown) => (e instanceof CbdcApiError ? { ...e.problem, status: e.status } : { status: 0, code: String(e) });

async function createEndpoint(bank: Bank, receiver: Receiver, extra: Record<string, unknown> = {}): Promise<EndpointView> {
  const { body } = await call<EndpointView>(bank, 'POST', '/v1/webhook-endpoints', { url: receiver.url, ...extra });
  receiver.secrets.push(body.secret!);
  return body;
}

/** The ids of a bank's events stored after `sinceMs` (every group's database), of `types` if given. */
async function eventIds(sys: TestSystem, bankId: string, sinceMs: number, types?: string[]): Promise<string[]> {
  const parts = await Promise.all(sys.groupDbs.map((g) => g.sql<{ shard: number; seq: bigint }[]>`select shard, seq from events where bank_id = ${bankId} and at_ms >= ${sinceMs} ${types ? g.sql`and type = any(${types})` : g.sql``}`));
  return parts
    .flat()
    .map((r) => `evt_${r.shard}_${r.seq}`)
    .sort();
}

async function placeBank(sys: TestSystem, bankId: string, treasuryMinor: bigint): Promise<void> {
  const deposit = await sys.operators.alice.reserve(bankId, 'deposit', treasuryMinor, `dep-${bankId}`);
  if (deposit.status === 202) await sys.operators.bob.approveAction((deposit.body as { id: string }).id);
  const mint = await sys.operators.alice.issue('mint', bankId, treasuryMinor);
  if (mint.status === 202) await sys.operators.bob.approveAction(mint.body.id);
}

/** Opens `n` funded wallets of `bank`; returns them with their keys. */
async function openWallets(bank: Bank, n: number, tag: string) {
  const out: Array<{ id: string; privateKey: string }> = [];
  for (let i = 0; i < n; i++) {
    const key = newCustomerKey();
    const w = await bank.openWallet({ publicKey: key.publicKey, customerRef: `${tag}-${i}`, tier: 'II' });
    await bank.fund(w.id, 100n * YUAN, `${tag}-fund-${i}`);
    out.push({ id: w.id, privateKey: key.privateKey });
  }
  return out;
}

const allAccepted = (receiver: Receiver, ids: readonly string[]) => (ids.every((id) => receiver.accepted.has(id)) ? true : undefined);

describe('webhooks, delivered by the delivery service to real receivers', () => {
  let sys: TestSystem;
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  };
  let banks: Record<'a' | 'b' | 'slow' | 'fast' | 'dead' | 'rot', Bank>;

  beforeAll(async () => {
    // A long POST timeout: the slow receiver's requests stay open while the other bank is served.
    sys = await startTestSystem({ shards: SHARDS, webhooks: { limits: { webhookAttemptsMax: 5, webhookDeliveryTimeoutMs: 15_000 } } });
    const ids = ['a', 'b', 'slow', 'fast', 'dead', 'rot'] as const;
    banks = {} as typeof banks;
    for (const id of ids) {
      banks[id] = await sys.addBank(`wh-${id}`);
      await placeBank(sys, `wh-${id}`, 10_000n * YUAN);
    }
  }, 120_000);
  afterAll(async () => {
    // Receivers first: a request still hanging would hold the delivery process's stop until its timeout.
    await Promise.all(receivers.map((r) => r.close()));
    await sys?.close();
  });

  it('delivers every event signed, in order per shard, each at least once; the receiver dedupes', async () => {
    const r = await receiver();
    const endpoint = await createEndpoint(banks.a, r);
    // After the endpoint exists: it is sent what happens from its creation on (an event a moment before is not its).
    const since = Date.now();
    const wallets = await openWallets(banks.a, 4, 'order');
    for (let round = 0; round < 3; round++) {
      for (const [i, w] of wallets.entries()) {
        const t = signTransfer({ payerWalletId: w.id, payeeWalletId: wallets[(i + 1) % wallets.length].id, amountMinor: BigInt(10 + round) }, w.privateKey);
        await banks.a.transfer(t.wire);
      }
    }
    const expected = await eventIds(sys, 'wh-a', since);
    await until('every event of bank a', () => allAccepted(r, expected));
    expect(r.unverified).toBe(0);
    // Exactly the bank's events, and in each shard's order (a wallet's events are all on its shard).
    expect([...r.accepted.keys()].sort()).toEqual(expected);
    for (let shard = 0; shard < SHARDS; shard++) {
      const seqs = [...r.accepted.keys()].filter((id) => id.startsWith(`evt_${shard}_`)).map((id) => Number(id.split('_')[2]));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    for (const d of r.accepted.values()) {
      expect(d.event.id).toBe(d.id);
      expect(d.signatures).toHaveLength(1);
    }
    expect(endpoint.eventTypes).toBeNull();
  });

  it('retries a receiver that is down until it answers, then delivers', async () => {
    const r = await receiver();
    // Down (503, then connection-level trouble is the same to the sender) for its first three requests.
    r.answer = (_, n) => (n <= 3 ? 503 : 'accept');
    await createEndpoint(banks.b, r);
    // After the endpoint exists: it is sent what happens from its creation on (an event a moment before is not its).
    const since = Date.now();
    await openWallets(banks.b, 1, 'down');
    const expected = await eventIds(sys, 'wh-b', since);
    await until('bank b delivered after the receiver came back', () => allAccepted(r, expected));
    // The three refused deliveries were sent again: the first of each shard's stream was refused at least once.
    expect(r.deliveries.length).toBe(expected.length + 3);
    expect([...r.accepted.keys()].sort()).toEqual(expected);
  });

  it("a slow receiver does not hold up another bank's endpoint", async () => {
    const slow = await receiver();
    slow.answer = () => 'hang'; // answers nothing until the sender's timeout (15 s) ends the request
    const fast = await receiver();
    await createEndpoint(banks.slow, slow);
    await createEndpoint(banks.fast, fast);
    // After the endpoint exists: it is sent what happens from its creation on (an event a moment before is not its).
    const since = Date.now();
    await Promise.all([openWallets(banks.slow, 3, 'slow'), openWallets(banks.fast, 3, 'fast')]);
    const expected = await eventIds(sys, 'wh-fast', since);
    await until('the slow receiver holding requests', () => (slow.deliveries.length > 0 ? true : undefined));
    await until('the fast bank delivered', () => allAccepted(fast, expected));
    // All of it while the slow receiver's requests were still open: none had timed out yet.
    expect(slow.aborted).toBe(0);
    expect(slow.accepted.size).toBe(0);
  });

  it('loses nothing when the delivery process crashes mid-stream', async () => {
    const r = await receiver();
    // A receiver slow enough that the stream is still going when the process dies.
    r.answer = () => ({ acceptAfterMs: 100 });
    const types = ['transfer.settled', 'payment.received'];
    await createEndpoint(banks.a, r, { eventTypes: types });
    // After the endpoint exists: it is sent what happens from its creation on (an event a moment before is not its).
    const since = Date.now();
    await openWallets(banks.a, 6, 'crash');
    const expected = await eventIds(sys, 'wh-a', since, types);
    await until('some deliveries', () => (r.accepted.size >= 2 ? true : undefined));
    const acceptedBeforeCrash = r.accepted.size;
    await sys.webhooks!.crashAndRestart();
    expect(acceptedBeforeCrash).toBeLessThan(expected.length);
    await until('every event after the crash', () => allAccepted(r, expected));
    expect([...r.accepted.keys()].sort()).toEqual(expected);
  });

  it('dead-letters an event whose retries are exhausted, moves on, lists it, and redelivers it on request', async () => {
    const r = await receiver();
    let poisoned = '';
    r.answer = (d) => (d.event.data.walletId === poisoned ? 500 : 'accept');
    const endpoint = await createEndpoint(banks.dead, r);
    const [w] = await openWallets(banks.dead, 1, 'dead-1');
    poisoned = w.id;
    const t = signTransfer({ payerWalletId: w.id, payeeWalletId: 't_wh-dead', amountMinor: 1n }, w.privateKey);
    await banks.dead.redeem(t.wire);
    type Letters = { deadLetters: Array<{ eventId: string; status: string; attempts: number; lastError: string; event: { id: string } }>; nextCursor: string | null };
    const letters = await until('a dead letter', async () => {
      const { body } = await call<Letters>(banks.dead, 'GET', `/v1/webhook-endpoints/${endpoint.id}/dead-letters`);
      return body.deadLetters.length > 0 ? body.deadLetters : undefined;
    });
    expect(letters[0]).toMatchObject({ status: 'dead', attempts: sys.webhooks!.limits.webhookAttemptsMax, lastError: 'HTTP 500' });
    expect(letters[0].event.id).toBe(letters[0].eventId);
    // The endpoint moved on: a later event of another wallet is delivered.
    const [other] = await openWallets(banks.dead, 1, 'dead-2');
    await until('a later event', () => ([...r.accepted.values()].some((d) => d.event.data.walletId === other.id) ? true : undefined));
    poisoned = '';
    const redelivered = await call<{ status: string }>(banks.dead, 'POST', `/v1/webhook-endpoints/${endpoint.id}/dead-letters/${letters[0].eventId}/redeliver`, {});
    expect(redelivered.status).toBe(202);
    await until('the redelivery', () => (r.accepted.has(letters[0].eventId) ? true : undefined));
    await until('the dead letter marked redelivered', async () => {
      const { body } = await call<Letters>(banks.dead, 'GET', `/v1/webhook-endpoints/${endpoint.id}/dead-letters`);
      return body.deadLetters.find((l) => l.eventId === letters[0].eventId)?.status === 'redelivered' ? true : undefined;
    });
  });

  it('signs with both secrets during a rotation overlap, and with the new one alone after it', async () => {
    const r = await receiver();
    const endpoint = await createEndpoint(banks.rot, r);
    const verifies = (secret: string, d: { body: string; id: string; timestamp: string; signatures: string[] }) => {
      try {
        new Webhook(secret).verify(d.body, { 'webhook-id': d.id, 'webhook-timestamp': d.timestamp, 'webhook-signature': d.signatures.join(' ') });
        return true;
      } catch {
        return false;
      }
    };
    /** Makes events until one is delivered signed `signatures` times (the delivery process reads endpoints every second). */
    const nextDeliveryWith = async (signatures: number, tag: string) => {
      for (let i = 0; i < 50; i++) {
        const since = Date.now() - 1;
        await openWallets(banks.rot, 1, `${tag}-${i}`);
        const ids = await eventIds(sys, 'wh-rot', since);
        await until(`deliveries of ${tag}`, () => allAccepted(r, ids));
        const found = ids.map((id) => r.accepted.get(id)!).find((d) => d.signatures.length === signatures);
        if (found) return found;
      }
      throw new Error(`no delivery signed ${signatures} times`);
    };
    const { body: rotated } = await call<EndpointView>(banks.rot, 'POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { overlapMs: 3_600_000 });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.previousSecretExpiresAt).not.toBeNull();
    r.secrets.push(rotated.secret!);
    const during = await nextDeliveryWith(2, 'overlap');
    expect(verifies(endpoint.secret!, during)).toBe(true);
    expect(verifies(rotated.secret!, during)).toBe(true);
    // A rotation with no overlap: only the newest secret signs from then on.
    const { body: again } = await call<EndpointView>(banks.rot, 'POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { overlapMs: 0 });
    expect(again.previousSecretExpiresAt).toBeNull();
    r.secrets.push(again.secret!);
    const after = await nextDeliveryWith(1, 'after');
    expect(verifies(again.secret!, after)).toBe(true);
    expect(verifies(rotated.secret!, after)).toBe(false);
    expect(verifies(endpoint.secret!, after)).toBe(false);
    expect(r.unverified).toBe(0);
  });

  describe("the attacker's side", () => {
    let victim: EndpointView;
    beforeAll(async () => {
      victim = await createEndpoint(banks.fast, await receiver(), { description: 'victim' });
    });

    it.each([
      ['read', 'GET', ''],
      ['change', 'PATCH', '', { url: 'https://attacker.example/hook' }],
      ['delete', 'DELETE', ''],
      ['rotate', 'POST', '/rotate-secret', {}],
      ['list dead letters', 'GET', '/dead-letters'],
    ] as const)("another bank cannot %s a bank's endpoint: 404, as for one that does not exist", async (_, method, suffix, body?: unknown) => {
      const theirs = await call(banks.b, method, `/v1/webhook-endpoints/${victim.id}${suffix}`, body).catch(problemOf);
      const none = await call(banks.b, method, `/v1/webhook-endpoints/we_000000000000000000000000${suffix}`, body).catch(problemOf);
      expect(theirs).toMatchObject({ status: 404, code: 'webhook_endpoint_not_found' });
      expect({ ...theirs, detail: undefined }).toEqual({ ...none, detail: undefined });
      const still = await call<EndpointView>(banks.fast, 'GET', `/v1/webhook-endpoints/${victim.id}`);
      expect(still.body).toMatchObject({ url: victim.url, enabled: true });
    });

    it("another bank cannot redeliver a bank's dead letter, nor list it among its own", async () => {
      const own = await createEndpoint(banks.b, await receiver());
      const redeliver = await call(banks.b, 'POST', `/v1/webhook-endpoints/${victim.id}/dead-letters/evt_0_1/redeliver`, {}).catch(problemOf);
      expect(redeliver).toMatchObject({ status: 404, code: 'webhook_endpoint_not_found' });
      const mine = await call(banks.b, 'POST', `/v1/webhook-endpoints/${own.id}/dead-letters/evt_0_1/redeliver`, {}).catch(problemOf);
      expect(mine).toMatchObject({ status: 404, code: 'dead_letter_not_found', errors: [{ field: 'params/eventId' }] });
      expect((await call<{ endpoints: EndpointView[] }>(banks.b, 'GET', '/v1/webhook-endpoints')).body.endpoints.map((e) => e.id)).not.toContain(victim.id);
    });

    it.each([
      ['http to a public host', 'http://hooks.example.com/x', 'url_https'],
      ['credentials in the URL', 'https://user:pw@hooks.example.com/x', 'url_credentials'],
      ['a private address', 'https://10.1.2.3/x', 'url_public_host'],
      ['the metadata address', 'https://169.254.169.254/latest', 'url_public_host'],
      ['loopback over https', 'https://127.0.0.2/x', 'url_public_host'],
      ['IPv6 loopback', 'https://[::1]/x', 'url_public_host'],
      ['an IPv4-mapped private address', 'https://[::ffff:10.0.0.1]/x', 'url_public_host'],
      ['localhost', 'https://localhost/x', 'url_public_host'],
      ['an internal name', 'https://hooks.internal/x', 'url_public_host'],
      ['not a URL', 'hooks', 'url'],
      ['a fragment', 'https://hooks.example.com/x#y', 'url_fragment'],
      ['a URL too long', `https://hooks.example.com/${'a'.repeat(2100)}`, 'url_max'],
    ])('refuses %s, naming body/url, and creates nothing', async (_, url, rule) => {
      const before = (await call<{ endpoints: EndpointView[] }>(banks.b, 'GET', '/v1/webhook-endpoints')).body.endpoints.length;
      const error = await call(banks.b, 'POST', '/v1/webhook-endpoints', { url }).catch(problemOf);
      expect(error).toMatchObject({ status: 400, code: 'invalid_request', errors: [{ field: 'body/url', rule }] });
      expect((await call<{ endpoints: EndpointView[] }>(banks.b, 'GET', '/v1/webhook-endpoints')).body.endpoints.length).toBe(before);
    });

    it('refuses unknown event types naming the field', async () => {
      const error = await call(banks.b, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/x', eventTypes: ['transfer.settled', 'money.printed'] }).catch(problemOf);
      expect(error).toMatchObject({ status: 400, errors: [{ field: 'body/eventTypes/1', rule: 'event_type' }] });
    });

    it('shows the secret once: a replay of the create answers without it; the stored secret is sealed', async () => {
      const key = 'create-endpoint-once-1';
      const first = await call<EndpointView>(banks.slow, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/once' }, { 'idempotency-key': key });
      const replay = await call<EndpointView>(banks.slow, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/once' }, { 'idempotency-key': key });
      expect(first.body.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toEqual({ ...first.body, secret: undefined });
      expect(await call<EndpointView>(banks.slow, 'GET', `/v1/webhook-endpoints/${first.body.id}`).then((r) => r.body.secret)).toBeUndefined();
      const [row] = await sys.db.sql<{ secret_sealed: Buffer }[]>`select secret_sealed from webhook_endpoints where id = ${first.body.id}`;
      const [stored] = await sys.db.sql<{ response: unknown }[]>`select response from idempotency_keys where key = ${key}`;
      const secretBytes = Buffer.from(first.body.secret!.slice('whsec_'.length), 'base64');
      expect(row.secret_sealed.includes(secretBytes)).toBe(false);
      expect(row.secret_sealed.toString('latin1')).not.toContain(first.body.secret!);
      expect(JSON.stringify(stored.response)).not.toContain(first.body.secret!);
    });

    it('bounds the endpoints of a bank', async () => {
      const existing = (await call<{ endpoints: EndpointView[] }>(banks.dead, 'GET', '/v1/webhook-endpoints')).body.endpoints.length;
      for (let i = existing; i < 10; i++) await call(banks.dead, 'POST', '/v1/webhook-endpoints', { url: `https://hooks.example.com/${i}` });
      const error = await call(banks.dead, 'POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/11' }).catch(problemOf);
      expect(error).toMatchObject({ status: 409, code: 'webhook_endpoint_limit' });
    });

    it('disables and deletes an endpoint', async () => {
      const r = await receiver();
      const e = await createEndpoint(banks.b, r);
      const disabled = await call<EndpointView>(banks.b, 'PATCH', `/v1/webhook-endpoints/${e.id}`, { enabled: false, eventTypes: ['payment.received'] });
      expect(disabled.body).toMatchObject({ enabled: false, eventTypes: ['payment.received'] });
      expect((await call(banks.b, 'DELETE', `/v1/webhook-endpoints/${e.id}`)).status).toBe(204);
      expect(await call(banks.b, 'GET', `/v1/webhook-endpoints/${e.id}`).catch(problemOf)).toMatchObject({ status: 404 });
    });
  });
});
