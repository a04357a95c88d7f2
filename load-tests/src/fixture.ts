/**
 * The system under load: a fresh database, the three services as real processes (as deployed),
 * and a seeded population of banks and funded wallets. Seeding writes wallet rows in bulk and
 * funds them through settlement itself (attested funding jobs), so every balance has a recorded,
 * audited history.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
import { encodeTransfer, transferIdOf, type TransferIntent } from '@cbdc/shared/canonical';
import type { SignedTransferWire } from '@cbdc/shared/schemas';
import postgres from 'postgres';
import { OperatorClient } from '@cbdc/client';
import { connectPostgres, type Sql } from '@cbdc/db/connect';
import { editPostgresUrl } from '@cbdc/db/postgres-url';
import { migrate } from '@cbdc/db/migrate';
import { connectTopology, topologyOfPool, type Topology } from '@cbdc/db/topology';
import type { ShardGroupSpec } from '@cbdc/shared/topology';
import { urlForService } from '@cbdc/db/roles';
import { recordSeededWallets } from '@cbdc/db/registry-seed';
import { ed25519PublicKeyOfSeed, signerFromSeed, type Signer } from '@cbdc/shared/crypto';
import { fundingAuthorityFor } from '@cbdc/shared/funding-authority';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { fundingIdOf, newWalletId, shardOf, treasuryWalletId } from '@cbdc/shared/ids';
import type { JobItem } from '@cbdc/shared/job';
import { consumerRedis, deleteKeysMatching, redisEnvOf, redisTargetFromEnv, untilReady, type RedisTarget } from '@cbdc/shared/redis';
import { attestedJobs, BENCH_GATEWAY_KEY_ID, byShardOf, enqueueJobs, openShardQueues } from './queues.js';

export const ADMIN_URL = process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The Redis of this environment, read as the services read it (REDIS_URL, or REDIS_CLUSTER_NODES and REDIS_PASSWORD). */
export const REDIS: RedisTarget = redisTargetFromEnv(process.env);

export { BENCH_GATEWAY_KEY_ID };

export interface Keys {
  issuer: Buffer;
  shards: Buffer[];
  attestation: Buffer;
  operator: Buffer;
  /** A second operator: onboarding a bank needs two (dual control). */
  approver: Buffer;
  banks: Map<string, Buffer>;
}

export type ServiceName = 'issuer' | 'settlement' | 'gateway';

/** Where a service process runs: behind a command prefix (`ip netns exec <ns>`: a host), listening on `host`. */
export interface Placement {
  prefix: string[];
  host: string;
}

/** A database holding some shards' ledgers (wallets, transfers, legs, batches, their registry chains). */
export interface Ledger {
  shards: readonly number[];
  sql: Sql;
}

export interface BenchSystem {
  adminUrl: string;
  /** The Redis the services run on: one server or a cluster. */
  redis: RedisTarget;
  /** The central database (banks, operators, reserves, issuance); in the one-database system, everything. */
  databaseUrl: string;
  sql: Sql;
  /** Where the shards' ledgers are: `sql` alone, or one database per shard group. */
  ledgers: readonly Ledger[];
  /** Every database as its owner, as the audit and the supply report read them: the central one and each group's. */
  topology: Topology;
  /** The shard groups (SHARD_DATABASES without a role); none in the one-database system. */
  shardGroups: readonly ShardGroupSpec[];
  /** The database of `shard`'s ledger. */
  ledgerOf(shard: number): Sql;
  queuePrefix: string;
  shardCount: number;
  gatewayUrl: string;
  /** Every gateway host's URL (the first is `gatewayUrl`). */
  gatewayUrls: string[];
  issuerUrl: string;
  keys: Keys;
  /** Process ids, to measure their CPU ("settlement", and "settlement-g1"... with a process per group). */
  pids: Record<string, number>;
  /** Sends a signal to a service process (SIGKILL, SIGSTOP, SIGCONT...). */
  signal(service: ServiceName, signal: NodeJS.Signals): void;
  /** Starts a service again with the environment it had, plus `env` (after it was killed, or killing it); waits until it is healthy. */
  restart(service: ServiceName, env?: Record<string, string>): Promise<void>;
  /** Starts one more settlement process (a second worker for the same shards); returns its pid. */
  addSettlementProcess(env?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  shards: number;
  /** Postgres to create the database on, and Redis; the machine's own by default. */
  adminUrl?: string;
  redis?: RedisTarget;
  /** Environment per service, over the defaults. */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Start a service again when it exits by itself, as systemd or Kubernetes would. */
  supervise?: boolean;
  /** Where service output goes: inherited by default; "ignore" for tests that kill services. */
  serviceOutput?: 'inherit' | 'ignore';
  /** Each line a service writes to stdout (its log), with the process's label; stdout is then not inherited. */
  onServiceLine?: (label: string, line: string) => void;
  gatewayPort?: number;
  issuerPort?: number;
  /** GATEWAY_PROCESSES: gateway processes sharing the port (1 by default; the bench uses one per core). */
  gatewayProcesses?: number;
  env?: Record<string, string>;
  /** Hosts for the services (infra/cluster/hosts.ts); this namespace and 127.0.0.1 by default. */
  placement?: Partial<Record<ServiceName, Placement>>;
  /** More gateway hosts, each with its own attestation key (`bench-gateway-<n>`), on the same port. */
  moreGateways?: Placement[];
  /**
   * Settlement hosts, each serving `shardIds` with only those shards' keys (instead of the one
   * settlement process of `placement.settlement` serving every shard).
   */
  settlementHosts?: { placement: Placement; shardIds: number[] }[];
  /**
   * Postgres servers for the shard groups (SHARD_DATABASES): a database is created on each, and
   * shard s is in group s mod groups. Absent, every shard's ledger is in the central database.
   */
  groupAdminUrls?: readonly string[];
  /** One settlement process per shard group, holding only its shards' keys (as settlement hosts would); one for all by default. */
  settlementPerGroup?: boolean;
  /** The services to start (all three by default); the settlement-only benchmark needs no gateway. */
  services?: readonly ServiceName[];
}

/** The shards of group `group` of `groupCount`: shard s is in group s mod groupCount. */
export function shardsOfGroup(groupCount: number, shardCount: number, group: number): number[] {
  return Array.from({ length: shardCount }, (_, s) => s).filter((s) => s % groupCount === group);
}

/** SHARD_DATABASES for one service: each group's URL with the service's role. */
export function shardDatabasesOf(groups: readonly ShardGroupSpec[], service: 'issuer' | 'settlement' | 'gateway' | 'auditor'): string {
  return groups.map((g) => `${g.shards.join(',')}=${urlForService(g.url, service)}`).join(';');
}

/** A port nobody listens on now, so that a stale process from an earlier run cannot answer for ours. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`a service exited with code ${child.exitCode} before becoming healthy`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not become healthy`);
}

/** Starts a fresh system. */
function settleEnvOf(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('SETTLE_') && e[1] !== undefined));
}

export async function startBenchSystem(o: SystemOptions): Promise<BenchSystem> {
  const adminUrl = o.adminUrl ?? ADMIN_URL;
  const redis = o.redis ?? REDIS;
  const name = `cbdc_bench_${randomBytes(4).toString('hex')}`;
  const databaseOn = (admin: string) =>
    editPostgresUrl(admin, (u) => {
      u.pathname = `/${name}`;
    });
  const databaseUrl = databaseOn(adminUrl);
  const groupAdminUrls = o.groupAdminUrls ?? [];
  const groups: ShardGroupSpec[] = groupAdminUrls.map((admin, id) => ({ id, url: databaseOn(admin), shards: shardsOfGroup(groupAdminUrls.length, o.shards, id) }));
  if (groups.some((g) => g.shards.length === 0)) throw new Error(`${groups.length} shard groups for ${o.shards} shard(s): a group would hold none`);
  await Promise.all([databaseUrl, ...groups.map((g) => g.url)].map((url) => migrate(url)));
  const keys: Keys = { issuer: randomBytes(32), shards: Array.from({ length: o.shards }, () => randomBytes(32)), attestation: randomBytes(32), operator: randomBytes(32), approver: randomBytes(32), banks: new Map() };
  const moreGatewayKeys = (o.moreGateways ?? []).map(() => randomBytes(32));
  const gatewayKeyList = [`${BENCH_GATEWAY_KEY_ID}:${ed25519PublicKeyOfSeed(keys.attestation).toString('hex')}`, ...moreGatewayKeys.map((k, i) => `${BENCH_GATEWAY_KEY_ID}-${i + 2}:${ed25519PublicKeyOfSeed(k).toString('hex')}`)];
  const queuePrefix = `bench${randomBytes(3).toString('hex')}`;
  const gatewayPort = o.gatewayPort ?? (await freePort());
  const issuerPort = o.issuerPort ?? (await freePort());
  const common = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: databaseUrl,
    ...redisEnvOf(redis),
    QUEUE_PREFIX: queuePrefix,
    SETTLEMENT_SHARDS: String(o.shards),
    GATEWAY_ATTESTATION_KEY: keys.attestation.toString('hex'),
    GATEWAY_KEY_ID: BENCH_GATEWAY_KEY_ID,
    GATEWAY_ATTESTATION_KEYS: gatewayKeyList.join(','),
    LOG_LEVEL: 'warn',
    ...o.env,
  };
  const children: Record<string, ChildProcess> = {};
  const extras: ChildProcess[] = [];
  const entries: Record<ServiceName, string> = { issuer: 'services/issuer/src/server.ts', settlement: 'services/settlement/src/server.ts', gateway: 'services/wallet-gateway/src/server.ts' };
  // Each service reads the central database and routes by shard (@cbdc/shared/topology), with its own role.
  const shardDatabases = (service: 'issuer' | 'settlement' | 'gateway'): Record<string, string> => (groups.length ? { SHARD_DATABASES: shardDatabasesOf(groups, service) } : {});
  const envs: Record<ServiceName, Record<string, string>> = {
    // Each service connects to Postgres with its own role, as deployed (packages/db/roles/roles.sql).
    issuer: {
      DATABASE_URL: urlForService(databaseUrl, 'issuer'),
      ...shardDatabases('issuer'),
      ISSUER_SIGNING_KEY: keys.issuer.toString('hex'),
      ISSUER_BOOTSTRAP_OPERATORS: `bench:${ed25519PublicKeyOfSeed(keys.operator).toString('hex')},bench-approver:${ed25519PublicKeyOfSeed(keys.approver).toString('hex')}`,
      PORT: String(issuerPort),
      ...(o.placement?.issuer ? { HOST: o.placement.issuer.host } : {}),
      ISSUER_DUAL_CONTROL_THRESHOLD_MINOR: '9000000000000000000',
      ...o.serviceEnv?.issuer,
    },
    // SETTLE_* variables of the bench's own environment reach the settlement service, for experiments.
    settlement: {
      DATABASE_URL: urlForService(databaseUrl, 'settlement'),
      ...shardDatabases('settlement'),
      SETTLEMENT_SHARD_KEYS: keys.shards.map((k) => k.toString('hex')).join(','),
      LOG_LEVEL: process.env.BENCH_SETTLEMENT_LOG_LEVEL ?? 'warn',
      ...settleEnvOf(process.env),
      ...o.serviceEnv?.settlement,
    },
    gateway: {
      ...shardDatabases('gateway'),
      PORT: String(gatewayPort),
      ...(o.placement?.gateway ? { HOST: o.placement.gateway.host } : {}),
      GATEWAY_PROCESSES: String(o.gatewayProcesses ?? 1),
      BANK_REQUESTS_PER_SECOND_MAX: '1000000',
      BANK_TRANSFERS_PER_SECOND_MAX: '1000000',
      GATEWAY_TRANSFERS_IN_FLIGHT_MAX: '200000',
      QUEUE_JOBS_WAITING_MAX: '5000',
      ...o.serviceEnv?.gateway,
    },
  };
  const spawnService = (service: ServiceName, env: Record<string, string> = {}, label: string = service, placement = o.placement?.[service]) => {
    // BENCH_SERVICE_NODE_ARGS passes flags to the services, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extra = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const output = o.serviceOutput ?? 'inherit';
    const [command, ...args] = [...(placement?.prefix ?? []), process.execPath, ...extra, '--import', 'tsx', entries[service]];
    const child = spawn(command, args, { env: { ...common, ...envs[service], ...env }, stdio: ['ignore', o.onServiceLine ? 'pipe' : output, output] });
    if (o.onServiceLine && child.stdout) {
      const onLine = o.onServiceLine;
      createInterface({ input: child.stdout }).on('line', (line) => onLine(label, line));
    }
    return child;
  };
  let stopping = false;
  /** Starts `service` as the process labelled `label` (the service's name, or "settlement-g1"... for more of one). */
  const start = (service: ServiceName, label: string = service, env: Record<string, string> = {}): ChildProcess => {
    const child = spawnService(service, env, label);
    children[label] = child;
    // As a supervisor would: a service that exits by itself (not by our signal) starts again.
    if (o.supervise) child.once('exit', (code, signal) => void (!stopping && signal === null && children[label] === child && start(service, label, env)));
    return child;
  };
  const services = new Set(o.services ?? ['issuer', 'settlement', 'gateway']);
  // If the bench dies (Ctrl-C, a timeout), take the services with it.
  const killAll = () => [...Object.values(children), ...extras].forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (killAll(), process.exit(130)));
  const issuerUrl = `http://${o.placement?.issuer?.host ?? '127.0.0.1'}:${issuerPort}`;
  const gatewayUrl = `http://${o.placement?.gateway?.host ?? '127.0.0.1'}:${gatewayPort}`;
  const healthUrls: Partial<Record<ServiceName, string>> = { issuer: issuerUrl, gateway: gatewayUrl };
  // Settlement hosts each hold only their own shards' keys; more gateways each their own key.
  const onlyShards = (ids: number[]) => keys.shards.map((k, shard) => (ids.includes(shard) ? k.toString('hex') : '')).join(',');
  const settlementHosts = (o.settlementHosts ?? []).map((h) => ({ ...h, env: { SETTLEMENT_SHARD_IDS: h.shardIds.join(','), SETTLEMENT_SHARD_KEYS: onlyShards(h.shardIds) } }));
  const moreGateways = (o.moreGateways ?? []).map((placement, i) => ({ placement, env: { HOST: placement.host, GATEWAY_KEY_ID: `${BENCH_GATEWAY_KEY_ID}-${i + 2}`, GATEWAY_ATTESTATION_KEY: moreGatewayKeys[i].toString('hex') } }));
  const issuer = services.has('issuer') ? start('issuer') : null;
  if (services.has('settlement') && settlementHosts.length > 0) {
    settlementHosts.forEach((h, i) => extras.push(spawnService('settlement', h.env, `settlement-h${i + 1}`, h.placement)));
  } else if (services.has('settlement') && o.settlementPerGroup && groups.length > 1) {
    // One process per group, as one settlement host per group would run: its shards, their keys only.
    for (const g of groups)
      start('settlement', g.id === 0 ? 'settlement' : `settlement-g${g.id}`, {
        SETTLEMENT_SHARD_IDS: g.shards.join(','),
        SETTLEMENT_SHARD_KEYS: g.shards.map((shard) => `${shard}:${keys.shards[shard].toString('hex')}`).join(','),
      });
  } else if (services.has('settlement')) start('settlement');
  const gateway = services.has('gateway') ? start('gateway') : null;
  if (issuer) await waitHealthy(issuerUrl, issuer);
  if (gateway) await waitHealthy(gatewayUrl, gateway);
  for (const g of moreGateways) {
    const child = spawnService('gateway', g.env, 'gateway-more', g.placement);
    extras.push(child);
    await waitHealthy(`http://${g.placement.host}:${gatewayPort}`, child);
  }
  const split = groups.length ? connectTopology(databaseUrl, groups, { max: 4, applicationName: 'cbdc-bench' }) : null;
  const sql = split?.central ?? connectPostgres(databaseUrl, { max: 4, applicationName: 'cbdc-bench' });
  const topology = split ?? topologyOfPool(sql, o.shards, databaseUrl);
  const ledgers: readonly Ledger[] = topology.groups;
  const ledgerOfShard = new Map(ledgers.flatMap((l) => l.shards.map((shard) => [shard, l.sql] as const)));
  return {
    databaseUrl,
    sql,
    ledgers,
    topology,
    shardGroups: groups,
    ledgerOf(shard) {
      const ledger = ledgerOfShard.get(shard);
      if (!ledger) throw new Error(`shard ${shard} of ${o.shards} has no ledger database`);
      return ledger;
    },
    queuePrefix,
    shardCount: o.shards,
    gatewayUrl,
    gatewayUrls: [gatewayUrl, ...moreGateways.map((g) => `http://${g.placement.host}:${gatewayPort}`)],
    issuerUrl,
    keys,
    adminUrl,
    redis,
    get pids() {
      return Object.fromEntries(Object.entries(children).map(([k, c]) => [k, c.pid!]));
    },
    signal(service, signal) {
      const child = children[service];
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async restart(service, env = {}) {
      const old = children[service];
      if (old.exitCode === null && old.signalCode === null) {
        const exited = new Promise((r) => old.once('exit', r));
        old.kill('SIGKILL');
        await exited;
      }
      const child = start(service, service, env);
      if (healthUrls[service]) await waitHealthy(healthUrls[service], child);
    },
    async addSettlementProcess(env = {}) {
      const child = spawnService('settlement', env);
      extras.push(child);
      return child.pid!;
    },
    async stop() {
      stopping = true;
      await Promise.all(
        [...Object.values(children), ...extras].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 8000).unref();
            }),
        ),
      );
      await Promise.all([...new Set([sql, ...ledgers.map((l) => l.sql)])].map((pool) => pool.end({ timeout: 5 })));
      for (const server of [adminUrl, ...groupAdminUrls]) {
        const admin = postgres(server, { max: 1, onnotice: () => {} });
        // BENCH_KEEP_DB=1 keeps the bench's database for a look afterwards (per-transfer times are in it).
        if (!process.env.BENCH_KEEP_DB) await admin.unsafe(`drop database if exists "${name}" with (force)`);
        else process.stderr.write(`kept database ${name}\n`);
        await admin.end();
      }
      const r = consumerRedis(redis);
      r.on('error', () => {});
      await untilReady(r);
      await deleteKeysMatching(r, `*${queuePrefix}*`);
      r.disconnect();
    },
  };
}

export interface SeededWallet {
  id: string;
  bankId: string;
  shard: number;
  /**
   * The customer's libsodium key pair (64-byte secret key): generating and signing with libsodium
   * avoids importing 100,000 keys into OpenSSL, which costs minutes, and OpenSSL key generation
   * in this process, which was seen to hang intermittently after many keys.
   */
  secretKey: Buffer;
  publicKey: Buffer;
}

export interface Population {
  banks: string[];
  wallets: SeededWallet[];
  /** The hot merchant: a tier I wallet that receives a fifth of the payments in the hot mix. */
  merchant: SeededWallet;
}

/** Signs with a libsodium secret key. */
export function sodiumSign(secretKey: Buffer, message: Buffer): Buffer {
  const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
  sodium.crypto_sign_detached(signature, message, secretKey);
  return signature;
}

/** A transfer signed by its payer as a customer's app would send it, with its id. */
export function signedTransfer(payer: SeededWallet, intent: TransferIntent): { id: string; wire: SignedTransferWire } {
  const bytes = encodeTransfer(intent);
  const wire: SignedTransferWire = {
    payerWalletId: intent.payerWalletId,
    payeeWalletId: intent.payeeWalletId,
    amountMinor: intent.amountMinor.toString(),
    nonce: intent.nonce.toString(),
    expiresAtMs: intent.expiresAtMs.toString(),
    memo: intent.memo,
    signature: sodiumSign(payer.secretKey, bytes).toString('hex'),
  };
  return { id: transferIdOf(bytes), wire };
}

/** The libsodium secret key of a 32-byte seed. */
export function sodiumSecretKeyOfSeed(seed: Buffer): Buffer {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return secretKey;
}

/** Onboards banks, mints against reserves, creates `walletCount` wallets and funds each with `fundMinor`. */
export async function seedPopulation(sys: BenchSystem, o: { banks: number; walletCount: number; fundMinor: bigint; onProgress?: (line: string) => void }): Promise<Population> {
  const say = o.onProgress ?? (() => {});
  const operator = new OperatorClient(sys.issuerUrl, 'bench', sys.keys.operator.toString('hex'));
  const approver = new OperatorClient(sys.issuerUrl, 'bench-approver', sys.keys.approver.toString('hex'));
  const approvedIfPending = async (r: { status: number; body: { id: string } }) => {
    if (r.status === 202) await approver.approveAction(r.body.id);
  };
  const banks = Array.from({ length: o.banks }, (_, i) => `bank-${String.fromCharCode(97 + i)}`);
  const perBank = BigInt(Math.ceil(o.walletCount / o.banks) + 1) * o.fundMinor;
  for (const id of banks) {
    say(`onboarding ${id}`);
    const key = randomBytes(32);
    sys.keys.banks.set(id, key);
    await approver.approveAction((await operator.addBank({ id, name: id, publicKey: ed25519PublicKeyOfSeed(key).toString('hex') })).id);
    await approvedIfPending(await operator.reserve(id, 'deposit', perBank, `bench-${id}`));
    await approvedIfPending(await operator.issue('mint', id, perBank));
  }

  say(`generating ${o.walletCount} customer keys`);
  const wallets: SeededWallet[] = [];
  for (let i = 0; i < o.walletCount; i++) {
    const id = newWalletId();
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
    sodium.crypto_sign_keypair(publicKey, secretKey);
    wallets.push({ id, bankId: banks[i % banks.length], shard: shardOf(id, sys.shardCount), secretKey, publicKey });
  }
  const merchant = wallets[0];
  const issuer = signerFromSeed(sys.keys.issuer);
  for (const ledger of sys.ledgers) {
    const own = wallets.filter((w) => ledger.shards.includes(w.shard));
    for (let i = 0; i < own.length; i += 10_000) {
      await insertSeededWallets(ledger.sql, issuer, banks, own.slice(i, i + 10_000), merchant);
      say(`wallets ${Math.min(i + 10_000, own.length)}/${own.length}${sys.ledgers.length > 1 ? ` of shards ${ledger.shards.join(',')}` : ''}`);
    }
  }

  // Funding through settlement: attested jobs of 2,000 fundings each, to each treasury's shard.
  const now = Date.now();
  const bankSecretKeys = new Map(banks.map((id) => [id, sodiumSecretKeyOfSeed(sys.keys.banks.get(id)!)]));
  const fundings = wallets.map((w) => fundingItem(w, o.fundMinor, now, bankSecretKeys.get(w.bankId)!));
  const queues = openShardQueues(sys.redis, sys.queuePrefix, sys.shardCount);
  try {
    await enqueueJobs(
      queues,
      attestedJobs(
        sys.keys.attestation,
        'bench-seed',
        byShardOf(fundings, (f) => shardOf(f.payerWalletId, sys.shardCount)),
        2000,
      ),
      { name: 'seed', attempts: 5 },
    );
    // Bounded: ten minutes at the most.
    for (let i = 0; ; i++) {
      // A funding's row is on its treasury's shard, in that shard's ledger.
      const settled = (await Promise.all(sys.ledgers.map(async (l) => (await l.sql<{ n: number }[]>`select count(*)::int as n from transfers where kind = 'funding' and status = 'settled'`)[0].n))).reduce((a, b) => a + b, 0);
      say(`funded ${settled}/${wallets.length}`);
      if (settled >= wallets.length) break;
      if (i >= 1200) throw new Error(`only ${settled} of ${wallets.length} fundings settled within ten minutes`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await queues.close();
  }
  return { banks, wallets, merchant };
}

/** Customer wallet rows of one ledger database, in bulk, with their registry events (signed by the issuer key, so that the audit replays them). */
async function insertSeededWallets(sql: Sql, issuer: Signer, banks: readonly string[], chunk: readonly SeededWallet[], merchant: SeededWallet): Promise<void> {
  const tierOf = (w: SeededWallet) => (w === merchant ? 'I' : 'II');
  await sql.begin(async (tx) => {
    await tx`
      insert into wallets (id, bank_id, shard, kind, tier, public_key, customer_ref)
      select u.id, u.bank, u.shard, 'customer', u.tier, decode(u.pk, 'hex'), u.ref
      from unnest(${chunk.map((w) => w.id)}::text[], ${chunk.map((w) => w.bankId)}::text[], ${chunk.map((w) => w.shard)}::int[],
                  ${chunk.map(tierOf)}::text[], ${chunk.map((w) => w.publicKey.toString('hex'))}::text[],
                  ${chunk.map((w) => `bench-${w.id}`)}::text[]) as u(id, bank, shard, tier, pk, ref)`;
    for (const bankId of banks) {
      const own = chunk.filter((w) => w.bankId === bankId).map((w) => ({ id: w.id, tier: tierOf(w), publicKey: w.publicKey, customerRef: `bench-${w.id}`, shard: w.shard }));
      await recordSeededWallets(tx as never, issuer, bankId, own);
    }
  });
}

/** A funding of `w` from its bank's treasury, with the bank's signature, as POST /v1/fundings would carry it: settlement verifies it. */
function fundingItem(w: SeededWallet, amountMinor: bigint, nowMs: number, bankSecretKey: Buffer): JobItem {
  const idempotencyKey = `seed-${w.id}`;
  const authority = fundingAuthorityFor({ audience: DEFAULT_AUDIENCE, idempotencyKey, walletId: w.id, amountMinor: amountMinor.toString(), timestampMs: nowMs }, (message) => sodiumSign(bankSecretKey, message));
  return {
    id: fundingIdOf(w.bankId, idempotencyKey),
    kind: 'funding',
    bankId: w.bankId,
    payerWalletId: treasuryWalletId(w.bankId),
    payeeWalletId: w.id,
    amountMinor: amountMinor.toString(),
    nonce: null,
    expiresAtMs: null,
    memo: '',
    signature: null,
    submittedAtMs: nowMs,
    payeeShard: w.shard,
    authority,
  };
}
