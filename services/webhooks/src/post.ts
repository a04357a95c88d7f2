/**
 * One webhook POST, defended against the URL it goes to (the bank chose it): no redirect is
 * followed (a 3xx is a failure), the host's addresses are checked after resolution and the
 * connection goes to the address checked (no rebinding between the check and the connect), private
 * and loopback addresses are refused unless the host is allowed by configuration, the whole
 * exchange has a deadline, and at most `responseBytesMax` of the answer are read.
 */
import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { hostOf, isPrivateAddress } from '@cbdc/shared/webhooks';

export interface PostOptions {
  timeoutMs: number;
  responseBytesMax: number;
  /** Hosts that may be reached at private addresses (and over http). */
  allowedHosts: ReadonlySet<string>;
}

/** How a POST went: a 2xx is delivered; anything else says why not. */
export type PostResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses private addresses (a host resolving to one is not reached). */
function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused) return callback(Object.assign(new Error(`address_refused: ${hostname} resolves to ${refused.address}, a private address`), { code: 'EADDRREFUSED' }), []);
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0].address, addresses[0].family);
  });
}

/** POSTs `body` with `headers` to `url`; never throws. */
export function postWebhook(url: string, headers: Record<string, string>, body: string, o: PostOptions): Promise<PostResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, status: null, error: 'bad URL' });
  }
  const host = hostOf(target);
  const allowed = o.allowedHosts.has(host);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && allowed)) return Promise.resolve({ ok: false, status: null, error: 'url_https: only https is delivered to' });
  if (!allowed && isIP(host) !== 0 && isPrivateAddress(host)) return Promise.resolve({ ok: false, status: null, error: `address_refused: ${host} is a private address` });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(r);
    };
    const request = (target.protocol === 'https:' ? https : http).request(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'cbdc-webhooks/1' },
      ...(allowed ? {} : { lookup: guardedLookup as never }),
    });
    const deadline = setTimeout(() => {
      request.destroy();
      finish({ ok: false, status: null, error: `timeout: no complete answer within ${o.timeoutMs} ms` });
    }, o.timeoutMs);
    request.on('error', (error: Error) => finish({ ok: false, status: null, error: error.message.slice(0, 200) }));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > o.responseBytesMax) response.destroy();
      });
      const done = () => {
        if (status >= 200 && status < 300) finish({ ok: true, status });
        else finish({ ok: false, status, error: status >= 300 && status < 400 ? `HTTP ${status}: redirects are not followed` : `HTTP ${status}` });
      };
      response.on('end', done);
      response.on('close', done);
      response.on('error', done);
    });
    request.end(body);
  });
}
