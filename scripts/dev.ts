/**
 * `npm start`: the whole system on this machine. Checks Postgres and Redis, creates and migrates
 * the database, generates development keys in .cbdc/ (once), starts the issuer, the settlement
 * worker, the wallet gateway and the webhook delivery service, then plays a demo scenario through the public APIs and leaves
 * everything running. `npm start -- --no-demo` skips the demo. Ctrl-C stops it all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BankClient, CbdcApiError, OperatorClient, newCustomerKey, signedRequest, signTransfer, verifyReceipt } from '@cbdc/client';
import { audit } from '@cbdc/db/audit';
import { assertPostgresReachable, connectPostgres, DEFAULT_DATABASE_URL } from '@cbdc/db/connect';
import { urlForService, type ServiceName } from '@cbdc/db/roles';
import { migrate } from '@cbdc/db/migrate';
import { ed25519PublicKeyOfSeed } from '@cbdc/shared/crypto';
import { formatYuan } from '@cbdc/shared/money';
import { sealingKeyPair } from '@cbdc/shared/webhooks';
import { assertRedisReachable, redisEnvOf, redisTargetFromEnv } from '@cbdc/shared/redis';

const DATABASE_URL = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
/** Redis as the services read it: REDIS_URL, or REDIS_CLUSTER_NODES (with REDIS_PASSWORD, REDIS_USERNAME). */
const REDIS = redisTargetFromEnv(process.env);
const ISSUER_PORT = Number(process.env.ISSUER_PORT ?? 4000);
const GATEWAY_PORT = Number(process.env.GATEWAY_PORT ?? 4100);
const SHARDS = Number(process.env.SETTLEMENT_SHARDS ?? 1);
const DIR = '.cbdc';
const YUAN = 100n;

interface DevKeys {
  issuer: string;
  shards: string[];
  attestation: string;
  operators: Record<'alice' | 'bob', string>;
  banks: Record<'demo-a' | 'demo-b', string>;
  /** The seed of the webhooks service's sealing key (endpoint secrets are stored sealed to it). */
  webhookSealing?: string;
}

function loadOrCreateKeys(): DevKeys {
  const file = join(DIR, 'dev-keys.json');
  mkdirSync(join(DIR, 'operators'), { recursive: true });
  const seed = () => randomBytes(32).toString('hex');
  let keys: DevKeys = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { issuer: seed(), shards: [], attestation: seed(), operators: { alice: seed(), bob: seed() }, banks: { 'demo-a': seed(), 'demo-b': seed() } };
  while (keys.shards.length < SHARDS) keys = { ...keys, shards: [...keys.shards, seed()] };
  // Key files from before webhooks get a sealing key too.
  if (!keys.webhookSealing) keys = { ...keys, webhookSealing: seed() };
  writeFileSync(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  for (const [id, key] of Object.entries(keys.operators)) {
    writeFileSync(join(DIR, 'operators', `${id}.json`), JSON.stringify({ publicKey: ed25519PublicKeyOfSeed(Buffer.from(key, 'hex')).toString('hex'), privateKey: key }, null, 2), { mode: 0o600 });
  }
  return keys;
}

const children: ChildProcess[] = [];
function startService(name: string, entry: string, env: Record<string, string>): void {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}] `;
  const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WritableStream) => {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) to.write(prefix + line + '\n');
    });
  };
  relay(child.stdout!, process.stdout);
  relay(child.stderr!, process.stderr);
  child.on('exit', (code) => {
    if (!stopping) {
      console.error(`${prefix}exited with code ${code}; stopping`);
      stop(1);
    }
  });
  children.push(child);
}

let stopping = false;
function stop(code = 0): void {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}

async function waitHealthy(url: string, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become healthy at ${url}`);
}

async function demo(keys: DevKeys, issuerUrl: string, gatewayUrl: string): Promise<void> {
  const alice = new OperatorClient(issuerUrl, 'alice', keys.operators.alice);
  const bob = new OperatorClient(issuerUrl, 'bob', keys.operators.bob);
  const existing = new Set((await alice.banks()).map((b) => b.id));
  const say = (line: string) => console.log(`[demo] ${line}`);
  for (const id of ['demo-a', 'demo-b'] as const) {
    if (existing.has(id)) continue;
    const pending = await alice.addBank({ id, name: id === 'demo-a' ? 'Demo Bank A' : 'Demo Bank B', publicKey: ed25519PublicKeyOfSeed(Buffer.from(keys.banks[id], 'hex')).toString('hex') });
    await bob.approveAction(pending.id);
    say(`onboarded ${id} (requested by alice, approved by bob)`);
  }
  const run = randomBytes(3).toString('hex');
  // Beyond one operator's limits (per action, and per operator and per bank over the window), a
  // second operator approves: bob does, and the demo says so.
  const approvedIfPending = async (what: string, r: { status: number; body: { id: string } }) => {
    if (r.status !== 202) return;
    await bob.approveAction(r.body.id);
    say(`${what} was beyond alice's single-operator limits: bob approved it`);
  };
  await approvedIfPending('the deposit for demo-a', await alice.reserve('demo-a', 'deposit', 2_000_000n * YUAN, `RTGS-${run}-A`));
  await approvedIfPending('the deposit for demo-b', await alice.reserve('demo-b', 'deposit', 500_000n * YUAN, `RTGS-${run}-B`));
  say('recorded reserve deposits: demo-a 2,000,000.00, demo-b 500,000.00');
  const big = await alice.issue('mint', 'demo-a', 1_500_000n * YUAN);
  say(`alice requested a mint of 1,500,000.00 for demo-a: ${big.body.status}`);
  const approved = await bob.approve(big.body.id);
  say(`bob approved it: issuance entry ${approved.chainSeq}`);
  await approvedIfPending('the mint for demo-b', await alice.issue('mint', 'demo-b', 400_000n * YUAN));
  say('alice minted 400,000.00 for demo-b (below the dual-control threshold)');

  const bankA = new BankClient(gatewayUrl, 'demo-a', keys.banks['demo-a']);
  const bankB = new BankClient(gatewayUrl, 'demo-b', keys.banks['demo-b']);
  const wang = newCustomerKey();
  const li = newCustomerKey();
  const wangWallet = await bankA.openWallet({ publicKey: wang.publicKey, customerRef: `wang-${run}`, tier: 'II' });
  const liWallet = await bankB.openWallet({ publicKey: li.publicKey, customerRef: `li-${run}`, tier: 'III' });
  say(`opened wallets ${wangWallet.id} (demo-a, tier II) and ${liWallet.id} (demo-b, tier III)`);
  await bankA.fund(wangWallet.id, 20_000n * YUAN, `fund-${run}-wang`);
  say('demo-a funded wang with 20,000.00 from its treasury');
  const pay = signTransfer({ payerWalletId: wangWallet.id, payeeWalletId: liWallet.id, amountMinor: 3_888n * YUAN, memo: 'tea' }, wang.privateKey);
  const paid = await bankA.transfer(pay.wire);
  say(`wang paid li 3,888.00 across banks: ${paid.body.status}${'batchSeq' in paid.body ? ` in shard ${paid.body.shard} batch ${paid.body.batchSeq}` : ''}`);
  const over = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: wangWallet.id, amountMinor: 6_000n * YUAN }, li.privateKey);
  const refused = await bankB.transfer(over.wire);
  say(`li tried to pay wang 6,000.00, above tier III's 5,000.00 per-payment cap: ${refused.body.status} (${'code' in refused.body ? refused.body.code : 'pending'})`);
  const redeem = signTransfer({ payerWalletId: liWallet.id, payeeWalletId: 't_demo-b', amountMinor: 888n * YUAN }, li.privateKey);
  await bankB.redeem(redeem.wire);
  say("li redeemed 888.00 to demo-b's treasury");
  await approvedIfPending('the retirement for demo-b', await alice.issue('retire', 'demo-b', 888n * YUAN));
  say('alice retired 888.00 from demo-b back into its reserve');
  const receipt = await bankB.receipt(pay.id);
  const shardKeys = Object.fromEntries((await bankB.shards()).map((s) => [s.shard, s.publicKey]));
  const problem = verifyReceipt(receipt, shardKeys);
  say(`li's bank verified the payment's receipt offline against the shard keys: ${problem === null ? 'valid' : `INVALID (${problem})`}`);
  // The payee's bank learns of the payment from its event feed (or a webhook), not by polling wallets.
  type Feed = { events: Array<{ type: string; data: Record<string, unknown> }>; nextCursor: string; hasMore: boolean };
  const creds = { keyId: 'demo-b', privateKey: Buffer.from(keys.banks['demo-b'], 'hex') };
  let cursor = '';
  let told = false;
  for (let page = 0; page < 100; page++) {
    const { body } = await signedRequest<Feed>(gatewayUrl, creds, 'GET', `/v1/events?limit=200${cursor ? `&after=${cursor}` : ''}`);
    told ||= body.events.some((e) => e.type === 'payment.received' && e.data.transferId === pay.id);
    cursor = body.nextCursor;
    if (!body.hasMore) break;
  }
  say(`demo-b's event feed (GET /v1/events) ${told ? 'told it of' : 'DID NOT show'} the payment received by li`);

  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  const report = await audit(sql);
  await sql.end();
  const supply = await alice.supply();
  say(`supply ${formatYuan(BigInt(supply.supplyMinor))} = wallet balances ${formatYuan(BigInt(supply.walletBalancesMinor))}; audit ${report.ok ? 'passed' : `FAILED: ${report.findings[0]?.subject}: ${report.findings[0]?.message}`}`);
}

async function main(): Promise<void> {
  const sql = connectPostgres(DATABASE_URL.replace(/\/[^/]*$/, '/postgres'), { max: 1 });
  try {
    await assertPostgresReachable(sql, DATABASE_URL);
  } finally {
    await sql.end();
  }
  await assertRedisReachable(REDIS);
  await migrate(DATABASE_URL, (line) => console.log(`[migrate] ${line}`));
  const keys = loadOrCreateKeys();
  const operatorsEnv = Object.entries(keys.operators)
    .map(([id, k]) => `${id}:${ed25519PublicKeyOfSeed(Buffer.from(k, 'hex')).toString('hex')}`)
    .join(',');
  const sealingPublicKey = sealingKeyPair(Buffer.from(keys.webhookSealing!, 'hex')).publicKey.toString('hex');
  const gatewayKeys = `dev-gateway:${ed25519PublicKeyOfSeed(Buffer.from(keys.attestation, 'hex')).toString('hex')}`;
  writeFileSync(
    join(DIR, 'services.env'),
    [
      `GATEWAY_ATTESTATION_KEY=${keys.attestation}`,
      `GATEWAY_KEY_ID=dev-gateway`,
      `GATEWAY_ATTESTATION_KEYS=${gatewayKeys}`,
      `ISSUER_SIGNING_KEY=${keys.issuer}`,
      `ISSUER_BOOTSTRAP_OPERATORS=${operatorsEnv}`,
      `SETTLEMENT_SHARDS=${SHARDS}`,
      `SETTLEMENT_SHARD_KEYS=${keys.shards.slice(0, SHARDS).join(',')}`,
      `WEBHOOK_SEALING_KEY=${keys.webhookSealing}`,
      `WEBHOOK_SEALING_PUBLIC_KEY=${sealingPublicKey}`,
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  // Each service gets only its own secrets (the gateway its attestation key, settlement the
  // gateway's public key and the shard keys, the issuer its signing key) and connects to Postgres
  // with its own role (packages/db/roles/roles.sql), which holds only the grants it needs.
  const common = { ...redisEnvOf(REDIS), SETTLEMENT_SHARDS: String(SHARDS), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  const db = (service: ServiceName) => ({ DATABASE_URL: urlForService(DATABASE_URL, service) });
  startService('issuer', 'services/issuer/src/server.ts', { ...common, ...db('issuer'), ISSUER_SIGNING_KEY: keys.issuer, ISSUER_BOOTSTRAP_OPERATORS: operatorsEnv, PORT: String(ISSUER_PORT) });
  startService('settlement', 'services/settlement/src/server.ts', { ...common, ...db('settlement'), GATEWAY_ATTESTATION_KEYS: gatewayKeys, SETTLEMENT_SHARD_KEYS: keys.shards.slice(0, SHARDS).join(',') });
  // Webhook receivers on this machine (127.0.0.1, localhost) may use http: a developer's own receiver.
  const webhookHosts = process.env.WEBHOOK_ALLOWED_HOSTS ?? '127.0.0.1,localhost';
  startService('gateway', 'services/wallet-gateway/src/server.ts', {
    ...common,
    ...db('gateway'),
    GATEWAY_ATTESTATION_KEY: keys.attestation,
    GATEWAY_KEY_ID: 'dev-gateway',
    PORT: String(GATEWAY_PORT),
    WEBHOOK_SEALING_PUBLIC_KEY: sealingPublicKey,
    WEBHOOK_ALLOWED_HOSTS: webhookHosts,
  });
  startService('webhooks', 'services/webhooks/src/server.ts', { ...common, ...db('webhooks'), WEBHOOK_SEALING_KEY: keys.webhookSealing!, WEBHOOK_ALLOWED_HOSTS: webhookHosts });
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  const issuerUrl = `http://127.0.0.1:${ISSUER_PORT}`;
  const gatewayUrl = `http://127.0.0.1:${GATEWAY_PORT}`;
  await waitHealthy(issuerUrl, 'issuer');
  await waitHealthy(gatewayUrl, 'wallet gateway');
  console.log(`issuer admin API   ${issuerUrl}  (OpenAPI: ${issuerUrl}/openapi.json)`);
  console.log(`wallet gateway API ${gatewayUrl}  (OpenAPI: ${gatewayUrl}/openapi.json)`);
  if (!process.argv.includes('--no-demo')) await demo(keys, issuerUrl, gatewayUrl);
  console.log('\nTry: npm run cbdc -- --operator alice supply | bank list | audit     (Ctrl-C stops everything)');
  if (process.argv.includes('--exit-after-demo')) stop(0);
}

main().catch((error: Error) => {
  const message = error instanceof CbdcApiError ? `${error.problem.code}: ${error.problem.detail ?? error.problem.title}` : error.message;
  console.error(`start: ${message}`);
  stop(1);
});
