/**
 * A whole system for tests, in one process: a fresh database, its own Redis key prefix, the
 * issuer and the gateway listening on free ports, and one settlement worker per shard. Real
 * Postgres and real Redis; nothing is mocked.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { createTestDatabase, type TestDatabase } from '@cbdc/db/testing';
import { connectTopology, type Topology } from '@cbdc/db/topology';
import type { ServiceName } from '@cbdc/db/roles';
import type { ShardGroupSpec } from '@cbdc/shared/topology';
import { BankClient, OperatorClient, newCustomerKey } from '@cbdc/client';
import { buildGatewayApp } from '@cbdc/wallet-gateway/app';
import { SettlementClient } from '@cbdc/wallet-gateway/settlement-client';
import { shardPublicKeysAcross } from '@cbdc/wallet-gateway/transfers-store';
import { DEFAULT_AUDIENCE } from '@cbdc/shared/request-auth';
import { bootstrapOperators, buildIssuerApp } from '@cbdc/issuer/app';
import { dualControlPolicy } from '@cbdc/issuer/config';
import type { DualControlPolicy } from '@cbdc/shared/dual-control';
import { registerIssuerKey, type IssuanceHooks } from '@cbdc/issuer/execute';
import { startShardWorker, type ShardWorker } from '@cbdc/settlement/worker';
import { ed25519PublicKeyOfSeed, signerFromSeed } from '@cbdc/shared/crypto';
import { LIMITS, type Limits } from '@cbdc/shared/limits';
import { consumerRedis, deleteKeysMatching, producerRedis, redisTargetFromEnv, untilReady, type RedisTarget } from '@cbdc/shared/redis';
import { registrySignerOfAttestationKey } from '@cbdc/shared/registry';
import { sealingKeyPair } from '@cbdc/shared/webhooks';
import { Deliverer } from '@cbdc/webhooks/deliverer';
import { shardQueue } from '@cbdc/shared/job';
import type { ContractViolation } from '@cbdc/http/response-contract';

/** The Redis the tests use, read from the environment as the services read it (REDIS_URL, or REDIS_CLUSTER_NODES and REDIS_PASSWORD). */
export const REDIS: RedisTarget = redisTargetFromEnv(process.env);
/** The key id the test gateway attests its jobs under (its key is `keys.attestation`). */
export const TEST_GATEWAY_KEY_ID = 'test-gateway';

const seed = () => randomBytes(32);
const hex = (b: Buffer) => b.toString('hex');

export interface TestSystem {
  /** The central database; with `shardGroups` > 1, the shards' ledgers are in `groupDbs`. */
  db: TestDatabase;
  /** The shard groups' databases (the central one alone when `shardGroups` is 1). */
  groupDbs: TestDatabase[];
  /** Where each shard's ledger is (see @cbdc/shared/topology). */
  shardGroups: ShardGroupSpec[];
  /** Connections to every database as each service's role, and as the owner (`admin`). */
  topology: Record<ServiceName | 'admin', Topology>;
  /** The Redis this system runs on. */
  redis: RedisTarget;
  queuePrefix: string;
  issuerUrl: string;
  gatewayUrl: string;
  keys: { issuer: Buffer; shards: Buffer[]; attestation: Buffer; webhookSealing: Buffer };
  operators: { alice: OperatorClient; bob: OperatorClient };
  /** The operators' private keys, hex. */
  operatorKeys: { alice: string; bob: string };
  /** Onboards a bank with a fresh API key (alice requests, bob approves) and returns its client. */
  addBank(id: string): Promise<BankClient & { privateKeyHex: string }>;
  workers: ShardWorker[];
  restartWorkers(): Promise<void>;
  /** Stops the gateway and starts a new one on the same port, as after a process restart (nothing kept in memory). */
  restartGateway(): Promise<void>;
  /** Stops the issuer and starts a new one on the same port (its start completes unfinished mints and retires). */
  restartIssuer(): Promise<void>;
  /** The webhook delivery process, when `webhooks` was asked for (null otherwise). */
  webhooks: TestWebhooks | null;
  /** Every answer of the gateway and the issuer that broke the contract so far; `close` fails if any did. */
  contractViolations: ContractViolation[];
  close(): Promise<void>;
}

/** The delivery process of a test system: stopped and started as a process would be. */
export interface TestWebhooks {
  /** Stops gracefully (turns in flight finish) and starts a new one: nothing kept in memory. */
  restart(): Promise<void>;
  /** As if the process were killed: its connections are cut at once (transactions in flight roll back), then a new one starts. */
  crashAndRestart(): Promise<void>;
  /** The limits it runs with. */
  limits: Limits;
}

export interface TestSystemOptions {
  shards?: number;
  limits?: Partial<Limits>;
  dualControlThresholdMinor?: bigint;
  /** Other dual-control settings (windows, approval expiry); the threshold above is the default of each maximum. */
  dualControl?: Partial<DualControlPolicy>;
  /**
   * Shard-group databases beside the central one (default 1: every shard's ledger in the central
   * database). Shards are dealt to groups in turn: shard s to group s mod shardGroups.
   */
  shardGroups?: number;
  /** Faults between the steps of a mint or retire (a hook that throws stands for a crash there); may be changed while running. */
  issuanceFaults?: IssuanceHooks;
  /** How often the issuer's recovery pass runs (it also runs at the issuer's start); LIMITS' by default. */
  issuanceRecoveryIntervalMs?: number;
  /** Redis to run on (REDIS by default): one server or a cluster. */
  redis?: RedisTarget;
  /** Start the webhook delivery process (services/webhooks), with these limits over the tests' defaults (short timeouts and backoff). */
  webhooks?: { limits?: Partial<Limits>; pollIntervalMs?: number };
  /**
   * The ledger's clock: the settlement workers' batch times and the issuer's treasury-leg times
   * (Date.now by default). The request clocks stay real, so signed requests still pass; a test
   * sets it back to record a day of activity that has already ended.
   */
  ledgerNow?: () => number;
}

/** Webhook delivery in tests: short timeouts and backoff, a few turns at once. */
const TEST_WEBHOOK_LIMITS: Partial<Limits> = {
  webhookDeliveryTimeoutMs: 1000,
  webhookRetryBaseMs: 100,
  webhookRetryDelayMsMax: 1000,
  webhookDeliveriesInFlightMax: 8,
  webhookDeliveriesPerEndpointMax: 2,
};

const silentLog = { info() {}, warn() {}, error() {} };

export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const shardCount = options.shards ?? 1;
  const limits: Limits = { ...LIMITS, ...options.limits };
  const db = await createTestDatabase();
  const groupCount = Math.min(options.shardGroups ?? 1, shardCount);
  const groupDbs = groupCount > 1 ? await Promise.all(Array.from({ length: groupCount }, () => createTestDatabase())) : [db];
  const shardGroups: ShardGroupSpec[] = groupDbs.map((g, id) => ({ id, url: g.url, shards: Array.from({ length: shardCount }, (_, s) => s).filter((s) => s % groupCount === id) }));
  const queuePrefix = `t${randomBytes(5).toString('hex')}`;
  const keys = { issuer: seed(), shards: Array.from({ length: shardCount }, seed), attestation: seed(), webhookSealing: seed() };
  const operatorSeeds = { alice: seed(), bob: seed() };
  const issuerSigner = signerFromSeed(keys.issuer);
  await bootstrapOperators(
    db.sql,
    [
      { id: 'alice', publicKey: ed25519PublicKeyOfSeed(operatorSeeds.alice) },
      { id: 'bob', publicKey: ed25519PublicKeyOfSeed(operatorSeeds.bob) },
    ],
    issuerSigner,
  );

  const target = options.redis ?? REDIS;
  const redis = producerRedis(target);
  redis.on('error', () => {});
  await untilReady(redis);
  await registerIssuerKey(db.sql, issuerSigner);
  // Each service connects with its own role, as deployed: least privilege holds in every test.
  const as = (service: ServiceName) => connectTopology(db.url, shardGroups, { service, max: 4, applicationName: `cbdc-test-${service}` });
  const topology = {
    issuer: as('issuer'),
    gateway: as('gateway'),
    settlement: as('settlement'),
    auditor: as('auditor'),
    webhooks: as('webhooks'),
    admin: connectTopology(db.url, shardGroups, { max: 2, applicationName: 'cbdc-test-admin' }),
  };
  const issuanceHooks: IssuanceHooks = {
    beforeTreasuryLeg: (r) => options.issuanceFaults?.beforeTreasuryLeg?.(r),
    afterTreasuryLeg: (r) => options.issuanceFaults?.afterTreasuryLeg?.(r),
  };
  // Every answer either service gives in a test is checked against its route's declared responses.
  const contractViolations: ContractViolation[] = [];
  const onContractViolation = (v: ContractViolation) => contractViolations.push(v);
  const startIssuer = async (port: number) => {
    const app = await buildIssuerApp({
      onContractViolation,
      topology: topology.issuer,
      redis,
      signer: issuerSigner,
      shardCount,
      dualControl: dualControlPolicy(options.dualControlThresholdMinor ?? 100_000_000n, options.dualControl),
      queuePrefix,
      issuanceHooks,
      ledgerNow: options.ledgerNow,
      limits: options.issuanceRecoveryIntervalMs === undefined ? undefined : { ...LIMITS, issuanceRecoveryIntervalMs: options.issuanceRecoveryIntervalMs },
    });
    await app.listen({ host: '127.0.0.1', port });
    return app;
  };
  let issuer = await startIssuer(0);

  const startGateway = async (port: number) => {
    const client = new SettlementClient({
      redis: target,
      queuePrefix,
      shardCount,
      signer: signerFromSeed(keys.attestation),
      keyId: TEST_GATEWAY_KEY_ID,
      gatewayId: 'test-gw',
      limits,
      loadShardKeys: () => shardPublicKeysAcross(topology.gateway.groups),
    });
    await client.start();
    const app = await buildGatewayApp({
      topology: topology.gateway,
      redis,
      settlement: client,
      shardCount,
      limits,
      queuePrefix,
      registrySigner: registrySignerOfAttestationKey(keys.attestation),
      webhooks: { sealingPublicKey: sealingKeyPair(keys.webhookSealing).publicKey, allowedHosts: ['127.0.0.1'] },
      onContractViolation,
    });
    await app.listen({ host: '127.0.0.1', port });
    return { app, client };
  };
  let { app: gateway, client: settlement } = await startGateway(0);

  let workers: ShardWorker[] = [];
  const startWorkers = async () => {
    workers = await Promise.all(
      keys.shards.map((shardSeed, shard) =>
        startShardWorker({
          sql: topology.settlement.ofShard(shard),
          central: topology.settlement.central,
          sqlOfShard: (other) => (other < shardCount ? topology.settlement.ofShard(other) : topology.settlement.central),
          redis: target,
          queuePrefix,
          shard,
          shardCount,
          shardSeed,
          gatewayKeys: new Map([[TEST_GATEWAY_KEY_ID, ed25519PublicKeyOfSeed(keys.attestation)]]),
          audience: DEFAULT_AUDIENCE,
          lockDurationMs: 30_000,
          log: silentLog,
          sweepIntervalMs: 200,
          resendAfterMs: 1000,
          now: options.ledgerNow,
        }),
      ),
    );
  };
  await startWorkers();

  const webhookLimits: Limits = { ...limits, ...TEST_WEBHOOK_LIMITS, ...options.webhooks?.limits };
  const startDeliverer = () => {
    // A pool of its own per run, as a process has: each turn in flight holds a connection.
    const pools = connectTopology(db.url, shardGroups, { service: 'webhooks', max: webhookLimits.webhookDeliveriesInFlightMax + 4, applicationName: 'cbdc-test-webhooks' });
    const deliverer = new Deliverer({
      topology: pools,
      shardCount,
      sealingSeed: keys.webhookSealing,
      allowedHosts: ['127.0.0.1'],
      limits: webhookLimits,
      pollIntervalMs: options.webhooks?.pollIntervalMs ?? 50,
      log: process.env.WEBHOOKS_DEBUG ? { info: console.info, warn: (o: object, m: string) => console.warn(m, o) } : silentLog,
    });
    deliverer.start();
    return { deliverer, pools };
  };
  let delivery = options.webhooks ? startDeliverer() : null;
  const stopDelivery = async (crash: boolean) => {
    if (!delivery) return;
    const { deliverer, pools } = delivery;
    delivery = null;
    if (crash) await pools.end({ timeout: 0 });
    await deliverer.stop();
    if (!crash) await pools.end();
  };
  const webhooks: TestWebhooks | null = options.webhooks
    ? {
        limits: webhookLimits,
        async restart() {
          await stopDelivery(false);
          delivery = startDeliverer();
        },
        async crashAndRestart() {
          await stopDelivery(true);
          delivery = startDeliverer();
        },
      }
    : null;

  const urlOf = (app: { server: { address(): unknown } }) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const issuerUrl = urlOf(issuer);
  const gatewayUrl = urlOf(gateway);
  const operators = { alice: new OperatorClient(issuerUrl, 'alice', hex(operatorSeeds.alice)), bob: new OperatorClient(issuerUrl, 'bob', hex(operatorSeeds.bob)) };

  const system: TestSystem = {
    db,
    groupDbs,
    shardGroups,
    topology,
    redis: target,
    queuePrefix,
    issuerUrl,
    gatewayUrl,
    keys,
    operators,
    operatorKeys: { alice: hex(operatorSeeds.alice), bob: hex(operatorSeeds.bob) },
    contractViolations,
    get workers() {
      return workers;
    },
    webhooks,
    async addBank(id) {
      const key = newCustomerKey();
      const pending = await operators.alice.addBank({ id, name: `Bank ${id}`, publicKey: key.publicKey });
      await operators.bob.approveAction(pending.id);
      return Object.assign(new BankClient(gatewayUrl, id, key.privateKey), { privateKeyHex: key.privateKey });
    },
    async restartWorkers() {
      await Promise.all(workers.map((w) => w.close()));
      await startWorkers();
    },
    async restartIssuer() {
      const port = (issuer.server.address() as AddressInfo).port;
      await issuer.close();
      issuer = await startIssuer(port);
    },
    async restartGateway() {
      const port = (gateway.server.address() as AddressInfo).port;
      await gateway.close();
      await settlement.close();
      ({ app: gateway, client: settlement } = await startGateway(port));
    },
    async close() {
      await stopDelivery(false);
      await gateway.close();
      await issuer.close();
      await settlement.close();
      await Promise.all(workers.map((w) => w.close()));
      await deleteKeys(queuePrefix, target);
      redis.disconnect();
      await Promise.all(Object.values(topology).map((t) => t.end()));
      await Promise.all(groupDbs.filter((g) => g !== db).map((g) => g.drop()));
      await db.drop();
      if (contractViolations.length) {
        throw new Error(`answers that break the OpenAPI contract:\n${contractViolations.map((v) => `  ${v.method} ${v.url} ${v.status}: ${v.problem}`).join('\n')}`);
      }
    },
  };
  return system;
}

/** Redis loses a shard's queue, whatever it held (jobs, credits between shards). */
export async function loseShardQueue(queuePrefix: string, shard: number, target: RedisTarget = REDIS): Promise<void> {
  const q = shardQueue(queuePrefix, shard);
  const connection = consumerRedis(target);
  const queue = new Queue(q.name, { connection, prefix: q.prefix });
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
}

/** Deletes every Redis key of a test prefix (on every master of a cluster): shard queues, reply streams, and the rest. */
export async function deleteKeys(prefix: string, target: RedisTarget = REDIS): Promise<void> {
  const r = consumerRedis(target);
  r.on('error', () => {});
  try {
    await untilReady(r);
    for (const pattern of [`{${prefix}-*`, `${prefix}:*`]) await deleteKeysMatching(r, pattern);
  } finally {
    r.disconnect();
  }
}
