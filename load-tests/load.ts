/**
 * `npm run load -- [options]`: one load run of your choosing against a fresh system (started and
 * seeded here, stopped afterwards), for engineers exploring behaviour. The benchmark (`npm run
 * bench`) runs a fixed set of these with baselines.
 *
 *   --wallets 100000        seeded customer wallets, split across two banks
 *   --mix uniform|hot       hot: a fifth of all payments go to one merchant
 *   --per-request 1|N       1 posts /v1/transfers; N posts /v1/transfers/batch with N transfers
 *   --transfers 50000       size of the pre-signed pool (the run ends when it is used up)
 *   --connections 64
 *   --rate 2000             requests per second (open model); omit for max rate (closed model)
 *   --shards 1
 */
import { parseArgs } from 'node:util';
import { seedPopulation, startBenchSystem } from './src/fixture.js';
import { buildPool, type Mix } from './src/pool.js';
import { runLoad } from './src/run-load.js';

const { values } = parseArgs({
  options: {
    wallets: { type: 'string', default: '100000' },
    mix: { type: 'string', default: 'uniform' },
    'per-request': { type: 'string', default: '1' },
    transfers: { type: 'string', default: '50000' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string' },
    shards: { type: 'string', default: '1' },
  },
});
if (values.mix !== 'uniform' && values.mix !== 'hot') throw new Error('--mix must be uniform or hot');

const sys = await startBenchSystem({ shards: Number(values.shards) });
try {
  const pop = await seedPopulation(sys, { banks: 2, walletCount: Number(values.wallets), fundMinor: 1_000_000n, onProgress: (l) => process.stderr.write(`seed: ${l}\n`) });
  const pool = buildPool(pop, sys.keys.banks, { transfers: Number(values.transfers), mix: values.mix as Mix, perRequest: Number(values['per-request']), amountMaxMinor: 100 });
  const result = await runLoad({ url: sys.gatewayUrl, pool, connections: Number(values.connections), rate: values.rate ? Number(values.rate) : undefined, durationS: 600, label: 'load' });
  const [row] = await sys.sql<{ settled: number; rejected: number }[]>`
    select count(*) filter (where status = 'settled')::int as settled, count(*) filter (where status = 'rejected')::int as rejected from transfers where kind = 'transfer'`;
  const seconds = (result.endedAtMs - result.startedAtMs) / 1000;
  console.log(JSON.stringify({ ...result, seconds, settled: row.settled, rejected: row.rejected, settledPerSecond: Math.round(row.settled / seconds) }, null, 2));
} finally {
  await sys.stop();
}
