/**
 * Drives the gateway with a pre-signed pool through autocannon: closed model (a fixed number of
 * connections, as fast as answers come) or open model (a fixed request rate). Shows progress.
 *
 * The open model needs care. autocannon's `overallRate` lets each connection send its share of a
 * second's requests as soon as that second starts, and every connection's second starts together:
 * at 50 requests/s all 50 leave at once, then nothing for a second. That measures how long a burst
 * of a whole second's work queues, not latency at that rate. So an open-model run is `lanes`
 * autocannon instances, each at an equal share of the rate, started 1/lanes of a second apart:
 * arrivals are spread evenly over every second.
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
  /** p99 of the answers that came in each second of the run, in order: where in the run the tail is. */
  p99BySecondMs: number[];
  startedAtMs: number;
  endedAtMs: number;
  status: Record<string, number>;
}

/** Evenly spaced open-model arrivals: at most this many instances (each 1/lanes of a second apart). */
const OPEN_MODEL_LANES_MAX = 100;

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const lanes = o.rate ? Math.max(1, Math.min(OPEN_MODEL_LANES_MAX, o.rate, o.pool.length)) : 1;
  const latencies: number[] = [];
  const bySecond: number[][] = [];
  let sent = 0;
  const startedAtMs = Date.now();

  const runLane = async (lane: number): Promise<autocannon.Result> => {
    // Lane i sends pool items i, i + lanes, i + 2 * lanes, ...; each pre-signed request is sent once.
    // At least one: there are never more lanes than requests in the pool.
    const share = Math.ceil((o.pool.length - lane) / lanes);
    if (o.rate) await new Promise((r) => setTimeout(r, (lane * 1000) / lanes));
    const rate = o.rate ? Math.floor(o.rate / lanes) + (lane < o.rate % lanes ? 1 : 0) : undefined;
    let next = 0;
    const instance = autocannon({
      url: o.url,
      connections: Math.max(1, Math.min(Math.ceil(o.connections / lanes), share)),
      pipelining: 1,
      amount: share,
      duration: o.durationS,
      timeout: 30,
      ...(rate ? { overallRate: rate } : {}),
      requests: [
        {
          setupRequest: (req: autocannon.Request) => {
            const r = o.pool[lane + lanes * (next++ % share)];
            sent++;
            return { ...req, method: r.method, path: r.path, headers: r.headers(), body: r.body };
          },
        },
      ],
    });
    (instance as unknown as NodeJS.EventEmitter).on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
      latencies.push(responseTimeMs);
      (bySecond[Math.floor((Date.now() - startedAtMs) / 1000)] ??= []).push(responseTimeMs);
    });
    return instance;
  };

  let lastTick = Date.now();
  let lastCount = 0;
  const progress = setInterval(() => {
    const now = Date.now();
    process.stderr.write(`  ${o.label}: ${sent}/${o.pool.length} requests sent, ${Math.round((latencies.length - lastCount) / ((now - lastTick) / 1000))} answers/s\n`);
    lastTick = now;
    lastCount = latencies.length;
  }, 2000);
  let results: autocannon.Result[];
  try {
    results = await Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(lane)));
  } finally {
    clearInterval(progress);
  }

  latencies.sort((a, b) => a - b);
  const sum = (f: (r: autocannon.Result) => number) => results.reduce((a, r) => a + f(r), 0);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    requests: sum((r) => r.requests.total),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    latencyMs: { p50: round(percentile(latencies, 0.5)), p99: round(percentile(latencies, 0.99)), p999: round(percentile(latencies, 0.999)), max: round(latencies.at(-1) ?? 0) },
    p99BySecondMs: Array.from(bySecond, (l) =>
      round(
        percentile(
          (l ?? []).sort((a, b) => a - b),
          0.99,
        ),
      ),
    ),
    startedAtMs,
    endedAtMs: Date.now(),
    status: { '2xx': sum((r) => r['2xx']), '4xx': sum((r) => r['4xx']), '5xx': sum((r) => r['5xx']) },
  };
}
