/**
 * A bank's webhook receiver for tests: a real node:http server on 127.0.0.1 that verifies every
 * delivery with the standardwebhooks library (signature and timestamp) before accepting it, and
 * dedupes by webhook-id as a receiver must (deliveries are at least once). What it answers is up to
 * the test: `answer` decides per request (accept, refuse with a status, or hang past the sender's
 * timeout).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  id: string;
  timestamp: string;
  signatures: string[];
  body: string;
  event: { id: string; type: string; createdAt: string; data: Record<string, string | number | boolean | null> };
}

/** Accept (2xx), hang (never answer: the sender times out), accept after a delay, or refuse with this status. */
export type Answer = 'accept' | 'hang' | { acceptAfterMs: number } | number;

export interface Receiver {
  url: string;
  /** The signing secrets it verifies with (any one verifying is enough, as during a rotation). */
  secrets: string[];
  /** Every verified delivery, in arrival order, repeats included. */
  deliveries: Delivery[];
  /** Each event once, in the order first accepted (the receiver's dedupe). */
  accepted: Map<string, Delivery>;
  /** Deliveries that did not verify. */
  unverified: number;
  /** Requests the sender gave up on before this receiver answered (its timeout). */
  aborted: number;
  answer: (d: Delivery, n: number) => Answer;
  close(): Promise<void>;
}

function headersOf(h: IncomingHttpHeaders): Record<string, string> {
  return { 'webhook-id': String(h['webhook-id']), 'webhook-timestamp': String(h['webhook-timestamp']), 'webhook-signature': String(h['webhook-signature']) };
}

export async function startReceiver(): Promise<Receiver> {
  const hanging = new Set<() => void>();
  const receiver: Receiver = {
    url: '',
    secrets: [],
    deliveries: [],
    accepted: new Map(),
    unverified: 0,
    aborted: 0,
    answer: () => 'accept',
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = headersOf(req.headers);
      const verified = receiver.secrets.some((s) => {
        try {
          new Webhook(s).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      if (!verified) {
        receiver.unverified++;
        res.writeHead(401).end();
        return;
      }
      const d: Delivery = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signatures: headers['webhook-signature'].split(' '), body, event: JSON.parse(body) };
      receiver.deliveries.push(d);
      const answer = receiver.answer(d, receiver.deliveries.length);
      if (answer === 'hang') {
        const release = () => res.writeHead(200).end();
        hanging.add(release);
        res.on('close', () => {
          if (!res.writableEnded) receiver.aborted++;
          hanging.delete(release);
        });
        return;
      }
      const accept = () => {
        if (!receiver.accepted.has(d.id)) receiver.accepted.set(d.id, d);
        res.writeHead(204).end();
      };
      if (answer === 'accept') return accept();
      if (typeof answer === 'object') {
        setTimeout(accept, answer.acceptAfterMs);
        return;
      }
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  receiver.close = async () => {
    for (const release of hanging) release();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return receiver;
}

/** Waits until `probe` returns something other than undefined (polling), or fails naming `what`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
