/** The webhook POST against real local servers: what it refuses to reach, redirects, the timeout. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from './post.js';

describe('one webhook POST', () => {
  let server: Server;
  let port = 0;
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      req.resume();
      if (req.url === '/redirect') res.writeHead(307, { location: `http://127.0.0.1:${port}/target` }).end();
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 2000).unref();
      else if (req.url === '/big') res.writeHead(200).end(Buffer.alloc(1 << 20));
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const allowed = { timeoutMs: 500, responseBytesMax: 1024, allowedHosts: new Set(['127.0.0.1']) };
  const strict = { ...allowed, allowedHosts: new Set<string>() };

  it('delivers to an allowed host', async () => {
    expect(await postWebhook(`http://127.0.0.1:${port}/ok`, {}, '{}', allowed)).toEqual({ ok: true, status: 200 });
  });

  it('never connects to a host that resolves to a private address, nor to a private literal, unless allowed', async () => {
    const before = hits.length;
    const byName = await postWebhook(`https://localhost:${port}/x`, {}, '{}', strict);
    expect(byName).toMatchObject({ ok: false, error: expect.stringMatching(/^address_refused/) });
    expect(await postWebhook(`https://127.0.0.1:${port}/x`, {}, '{}', strict)).toMatchObject({ ok: false, error: expect.stringMatching(/^address_refused/) });
    expect(await postWebhook(`http://127.0.0.1:${port}/x`, {}, '{}', strict)).toMatchObject({ ok: false, error: expect.stringMatching(/^url_https/) });
    expect(hits.length).toBe(before);
  });

  it('does not follow a redirect', async () => {
    const result = await postWebhook(`http://127.0.0.1:${port}/redirect`, {}, '{}', allowed);
    expect(result).toEqual({ ok: false, status: 307, error: 'HTTP 307: redirects are not followed' });
    expect(hits).not.toContain('/target');
  });

  it('gives up at its timeout, and reads a large answer only up to its bound', async () => {
    expect(await postWebhook(`http://127.0.0.1:${port}/slow`, {}, '{}', allowed)).toMatchObject({ ok: false, status: null, error: expect.stringMatching(/^timeout/) });
    expect(await postWebhook(`http://127.0.0.1:${port}/big`, {}, '{}', allowed)).toEqual({ ok: true, status: 200 });
  });
});
