/**
 * A degraded network link in user space, for kernels without tc netem (this machine's: no
 * sch_netem, no tc classifiers). A TCP relay, placed between a client and a server, holds every
 * chunk for `delayMs` in each direction (order kept) and, with probability `lossPercent`, holds a
 * chunk for a further retransmission timeout, which is what a lost segment costs a TCP stream
 * (Linux's minimum RTO is 200 ms). TCP retransmits lost segments, so to the application a lossy
 * link is a link with stalls; this relay models exactly that and nothing below it (no congestion
 * window shrinking). `hosts.ts` `degrade()` uses tc netem where the kernel has it.
 */
import net from 'node:net';

export interface LinkConditions {
  delayMs: number;
  lossPercent: number;
}

export interface EmulatedLink {
  /** Where clients connect. */
  host: string;
  port: number;
  set(conditions: LinkConditions): void;
  close(): Promise<void>;
}

/** Linux's minimum retransmission timeout: what one lost segment stalls a stream for, at least. */
const RETRANSMIT_MS = 200;

/** Relays `listen` to `target` with the given conditions (none at first). */
export async function emulateLink(listen: { host: string; port?: number }, target: { host: string; port: number }): Promise<EmulatedLink> {
  let conditions: LinkConditions = { delayMs: 0, lossPercent: 0 };
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) => {
    let lastAt = 0;
    from.on('data', (chunk) => {
      const { delayMs, lossPercent } = conditions;
      if (delayMs === 0 && lossPercent === 0 && lastAt <= Date.now()) {
        to.write(chunk);
        return;
      }
      const lost = Math.random() * 100 < lossPercent;
      const at = Math.max(Date.now() + delayMs + (lost ? Math.max(RETRANSMIT_MS, 2 * delayMs) : 0), lastAt);
      lastAt = at;
      setTimeout(() => to.writable && to.write(chunk), at - Date.now());
    });
    from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastAt - Date.now())));
  };
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
    sockets.add(client).add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listen.port ?? 0, listen.host, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: listen.host,
    port,
    set(next) {
      if (!(next.delayMs >= 0 && next.delayMs <= 1000 && next.lossPercent >= 0 && next.lossPercent <= 50)) throw new Error('link conditions: delay 0..1000 ms, loss 0..50 %');
      conditions = next;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
