/**
 * Drives the gateway with a pre-signed pool through autocannon: closed model (a fixed number of
 * connections, as fast as answers come) or open model (a fixed request rate). Shows progress.
 */
import autocannon from 'autocannon';
import type { PreparedRequest } from './pool.js';

export interface LoadOptions {
  url: string;
  pool: PreparedRequest[];
  connections: number;
  /** Requests per second for an open-model run; omitted for max rate. */
  rate?: number;
  /** Upper bound; the run also ends when the pool is used up. */
  durationS: number;
  label: string;
}

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  startedAtMs: number;
  endedAtMs: number;
  status: Record<string, number>;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  let next = 0;
  const startedAtMs = Date.now();
  const instance = autocannon({
    url: o.url,
    connections: Math.min(o.connections, o.pool.length),
    pipelining: 1,
    amount: o.pool.length,
    duration: o.durationS,
    timeout: 30,
    ...(o.rate ? { overallRate: o.rate } : {}),
    requests: [
      {
        setupRequest: (req: autocannon.Request) => {
          const r = o.pool[next++ % o.pool.length];
          return { ...req, method: r.method, path: r.path, headers: r.headers, body: r.body };
        },
      },
    ],
  });
  let lastTick = Date.now();
  let ticks = 0;
  if (process.stderr.isTTY) autocannon.track(instance as unknown as autocannon.Instance, { renderProgressBar: true, renderResultsTable: false, renderLatencyTable: false });
  else
    (instance as unknown as NodeJS.EventEmitter).on('tick', (counter: { counter: number }) => {
      ticks += counter.counter;
      if (Date.now() - lastTick >= 2000) {
        process.stderr.write(`  ${o.label}: ${next}/${o.pool.length} requests sent, ${Math.round(ticks / ((Date.now() - lastTick) / 1000))} req/s\n`);
        lastTick = Date.now();
        ticks = 0;
      }
    });
  const result = await instance;
  const l = result.latency as unknown as Record<string, number>;
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: { p50: l.p50, p99: l.p99, p999: l.p99_9 ?? l['p99.9'] ?? l.p99, max: l.max },
    startedAtMs,
    endedAtMs: Date.now(),
    status: { '2xx': result['2xx'], '4xx': result['4xx'], '5xx': result['5xx'] },
  };
}
