import { newCustomerKey, signTransfer } from '@cbdc/client';
import { shardQueue } from '@cbdc/shared/job';
import { keySlot } from '@cbdc/shared/redis-slot';
import { startRedisCluster } from './infra/cluster/redis-cluster.ts';
import { startTestSystem } from './test/support/system.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cluster = await startRedisCluster({ password: 'pw', nodeTimeoutMs: 1500 });
const sys = await startTestSystem({ shards: 4, redis: cluster.target, limits: { settleWaitMs: 3000 } });
const bank = await sys.addBank('bank-a');
await sys.operators.alice.reserve('bank-a', 'deposit', 100_000_000n, 'dep-1');
await sys.operators.alice.issue('mint', 'bank-a', 100_000_000n);
const key = newCustomerKey();
const byShard: string[][] = [[], [], [], []];
for (let i = 0; byShard.some((l) => l.length < 4); i++) { const w = await bank.openWallet({ publicKey: key.publicKey, customerRef: `c${i}`, tier: 'II' }); byShard[w.shard].push(w.id); }
for (const l of byShard) for (const id of l) await bank.fund(id, 1_000_000n, `f-${id}`);
const w0 = sys.workers[0].worker as any;
const stats = { calls: 0, returns: 0, lastCallAt: 0, lastReturnAt: 0, lastErr: '', lastBlock: false, gotJob: 0 };
const orig = w0.getNextJob.bind(w0);
w0.getNextJob = async (...a: any[]) => { stats.calls++; stats.lastCallAt = Date.now(); stats.lastBlock = a[1]?.block; try { const r = await orig(...a); if (r) stats.gotJob++; return r; } catch (e) { stats.lastErr = (e as Error).message; throw e; } finally { stats.returns++; stats.lastReturnAt = Date.now(); } };
let stop = false; let settled0 = 0; let lastSettled0 = Date.now();
const loops = Array.from({ length: 4 }, async (_, n) => { while (!stop) { const s = n % 4; const l = byShard[s]; try { const r = await bank.transfer(signTransfer({ payerWalletId: l[0], payeeWalletId: l[1 + Math.floor(Math.random() * 3)], amountMinor: 1n }, key.privateKey).wire); if (r.body.status === 'settled' && s === 0) { settled0++; lastSettled0 = Date.now(); } } catch { await sleep(100); } } });
for (let round = 0; round < 12; round++) {
  await sleep(2000);
  const slot = keySlot(shardQueue(sys.queuePrefix, 0).prefix);
  const victim = await cluster.masterOfSlot(slot);
  const t = Date.now(); const before = settled0;
  await cluster.killNode(victim.port);
  while (Date.now() - t < 40_000 && lastSettled0 < t) await sleep(100);
  console.log(`round ${round}: killed ${victim.port}; shard 0 ${lastSettled0 > t ? `resumed after ${lastSettled0 - t} ms` : 'STUCK'} (settled ${settled0 - before})`);
  if (lastSettled0 < t) {
    const w = sys.workers[0].worker as any;
    const desc = (c: any) => { try { return `status ${c?.status} isCluster ${c?.isCluster} nodes ${c?.nodes?.('all').map((n: any) => `${n.options.port}:${n.status}`).join(',')} offlineQ ${c?.offlineQueue?.length}`; } catch (e) { return String(e); } };
    console.log('worker conn', desc(w.connection?._client), '\nblocking', desc(w.blockingConnection?._client), '\nstats', JSON.stringify({ ...stats, now: Date.now(), killedAt: t }));
    await sleep(5000);
    console.log('stats 5s later', JSON.stringify({ ...stats, now: Date.now() }));
    break;
  }
  await cluster.startNode(victim.port);
  await cluster.waitUntilHealthy();
}
stop = true; await Promise.all(loops);
await sys.close(); await cluster.stop(); process.exit(0);
