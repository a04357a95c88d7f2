/**
 * cbdc: the operators' command line. Tables for people, --json for scripts, one-line errors and
 * distinct exit codes: 0 ok, 1 audit failed, 2 usage, 3 unreachable, 4 authentication refused,
 * 5 request refused. Every command that changes something sends an Idempotency-Key and prints it
 * (on success and in the error line); `--idempotency-key <key>` retries it safely: the issuer
 * answers a retry with the stored answer and does the work once.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import Table from 'cli-table3';
import { SingleBar, Presets } from 'cli-progress';
import { CbdcApiError, CbdcUnreachableError, OperatorClient, newCustomerKey, newIdempotencyKey, publicKeyOf, type ActionView } from '@cbdc/client';
import { assertPostgresReachable, connectPostgres, DEFAULT_DATABASE_URL } from '@cbdc/db/connect';
import { connectTopology, parseShardDatabases } from '@cbdc/db/topology';
import { audit, type AuditReport } from '@cbdc/db/audit';
import { IDEMPOTENCY_KEY_PATTERN } from '@cbdc/http/idempotency';
import { ed25519PublicKeyCheck, sha256 } from '@cbdc/shared/crypto';
import { formatYuan } from '@cbdc/shared/money';
import { parseYuan } from './amounts.js';

export const EXIT = { ok: 0, auditFailed: 1, usage: 2, unreachable: 3, unauthenticated: 4, refused: 5 } as const;

class UsageError extends Error {}

/** A trusted Ed25519 public key given on the command line, refused unless it passes the registration check. */
function trustedKey(option: string, text: string): Buffer {
  const key = /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : null;
  const problem = key ? ed25519PublicKeyCheck(key) : { rule: 'ed25519_public_key', message: 'must be 64 lowercase hex digits' };
  if (problem) throw new UsageError(`${option} ${text}: ${problem.rule}: ${problem.message}`);
  return key!;
}

interface GlobalOptions {
  issuerUrl: string;
  operator?: string;
  keyFile?: string;
  databaseUrl: string;
  shardDatabases?: string;
  shards?: string;
  json?: boolean;
}

function out(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

function table(head: string[], rows: Array<Array<string | number | null>>): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map((c) => (c === null ? '' : String(c))));
  return t.toString();
}

const yuan = (fen: string | bigint) => formatYuan(BigInt(fen));

interface KeyOptions {
  idempotencyKey?: string;
}

const IDEMPOTENCY_KEY_HELP = 'Idempotency-Key to send (default: a fresh one, printed); pass the printed key to retry a command whose answer was lost';

/** The key a mutating command sends: --idempotency-key, else `fallback` (derived) or a fresh one. */
function idempotencyKeyFor(o: KeyOptions, fallback?: string): string {
  if (o.idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(o.idempotencyKey)) throw new UsageError(`--idempotency-key "${o.idempotencyKey}": 8 to 128 characters of A-Z a-z 0-9 _ . : -`);
  return o.idempotencyKey ?? fallback ?? newIdempotencyKey();
}

/** Sends a mutating request with `key`; an error carries the key so that its line can name it. */
async function sendWithKey<T>(key: string, send: (key: string) => Promise<T>): Promise<T> {
  try {
    return await send(key);
  } catch (error) {
    throw Object.assign(error as Error, { idempotencyKey: key });
  }
}

/** Prints a mutating command's result with the key it sent (a field in --json, a line otherwise). */
function outWithKey(json: boolean | undefined, key: string, data: object, human: () => string): void {
  out(
    json,
    { ...data, idempotencyKey: key },
    () => `${human()}
idempotency key: ${key}`,
  );
}

/** A reserve entry's default key, from its RTGS reference: recording the same entry twice records it once. */
function reserveKeyOf(kind: string, bankId: string, reference: string): string {
  const readable = `${kind}-${bankId}-${reference}`;
  return IDEMPOTENCY_KEY_PATTERN.test(readable) ? readable : `${kind}-${bankId}-sha256-${sha256(reference).toString('hex').slice(0, 40)}`;
}

function amountArg(text: string): bigint {
  const fen = parseYuan(text);
  if (fen === null) throw new UsageError(`"${text}" is not a positive amount of yuan (digits, up to two decimals, e.g. 1000000 or 12.50)`);
  return fen;
}

/** One line naming an operator action. */
function describeAction(a: ActionView): string {
  const amount = a.amountMinor === null ? '' : ` of ${yuan(a.amountMinor)}`;
  const subject = a.kind === 'operator_registration' || a.kind === 'operator_key_change' ? `operator ${a.params.id ?? a.params.operatorId}` : `bank ${a.bankId}`;
  return `${a.kind}${amount} for ${subject}`;
}

/** The operator's client: id from --operator or CBDC_OPERATOR, key from --key-file, CBDC_OPERATOR_KEY or .cbdc/operators/<id>.json. */
function operatorClient(g: GlobalOptions): OperatorClient {
  const id = g.operator;
  if (!id) throw new UsageError('no operator: pass --operator <id> or set CBDC_OPERATOR');
  let key = process.env.CBDC_OPERATOR_KEY;
  const file = g.keyFile ?? join('.cbdc', 'operators', `${id}.json`);
  if (!key && existsSync(file)) key = (JSON.parse(readFileSync(file, 'utf8')) as { privateKey: string }).privateKey;
  if (!key || !/^[0-9a-f]{64}$/.test(key)) throw new UsageError(`no private key for operator ${id}: pass --key-file, set CBDC_OPERATOR_KEY, or create ${file} with "cbdc keygen --out ${file}"`);
  return new OperatorClient(g.issuerUrl, id, key, process.env.CBDC_AUDIENCE);
}

export function buildProgram(): Command {
  const program = new Command('cbdc')
    .description('Central bank operations: banks, reserves, issuance, supply and audit.')
    .addOption(new Option('--issuer-url <url>', 'issuer admin API').env('CBDC_ISSUER_URL').default('http://127.0.0.1:4000'))
    .addOption(new Option('--operator <id>', 'operator id').env('CBDC_OPERATOR'))
    .addOption(new Option('--key-file <path>', 'operator key file from "cbdc keygen"').env('CBDC_OPERATOR_KEY_FILE'))
    .addOption(new Option('--database-url <url>', 'database to audit (the central one when the shards are split)').env('DATABASE_URL').default(DEFAULT_DATABASE_URL))
    .addOption(new Option('--shard-databases <groups>', 'the shard groups\' databases to audit with it: "0-3=postgres://…;4-7=postgres://…"').env('SHARD_DATABASES'))
    .addOption(new Option('--shards <n>', 'the shard count (default: the one the central database records, else the highest shard --shard-databases names + 1)').env('SETTLEMENT_SHARDS'))
    .option('--json', 'machine-readable output')
    .exitOverride()
    .showHelpAfterError();
  const g = () => program.opts<GlobalOptions>();

  program
    .command('keygen')
    .description('generate an Ed25519 key pair (for an operator, a bank API key or a customer)')
    .option('--out <file>', 'write the key pair to this file (mode 0600) instead of printing the private key')
    .action((o: { out?: string }) => {
      const key = newCustomerKey();
      if (o.out) {
        writeFileSync(o.out, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
        out(g().json, { publicKey: key.publicKey, file: o.out }, () => `wrote ${o.out}\npublic key: ${key.publicKey}`);
      } else out(g().json, key, () => `public key:  ${key.publicKey}\nprivate key: ${key.privateKey}  (keep secret)`);
    });

  const bank = program.command('bank').description('commercial banks');
  bank
    .command('add <id>')
    .description('onboard a bank: creates its reserve account and treasury wallet')
    .requiredOption('--name <name>', 'legal name')
    .option('--public-key <hex>', "the bank's API public key")
    .option('--bank-key-file <path>', 'read the public key from a "cbdc keygen" file')
    .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
    .action(async (id: string, o: { name: string; publicKey?: string; bankKeyFile?: string } & KeyOptions) => {
      const publicKey = o.publicKey ?? (o.bankKeyFile ? publicKeyOf((JSON.parse(readFileSync(o.bankKeyFile, 'utf8')) as { privateKey: string }).privateKey) : undefined);
      if (!publicKey) throw new UsageError('pass --public-key <hex> or --bank-key-file <path>');
      const client = operatorClient(g());
      const key = idempotencyKeyFor(o);
      const a = await sendWithKey(key, (k) => client.addBank({ id, name: o.name, publicKey }, k));
      outWithKey(g().json, key, a, () => `onboarding of bank ${id} requested; it awaits a second operator: cbdc approve ${a.id}`);
    });
  bank
    .command('list')
    .description('banks with their reserves and treasury balances (yuan)')
    .action(async () => {
      const banks = await operatorClient(g()).banks();
      out(g().json, banks, () =>
        table(
          ['bank', 'name', 'free reserve', 'minted', 'retired', 'treasury'],
          banks.map((b) => [b.id, b.name, yuan(b.freeReserveMinor), yuan(b.mintedMinor), yuan(b.retiredMinor), yuan(b.treasuryBalanceMinor)]),
        ),
      );
    });

  const reserve = program.command('reserve').description('reserve accounts, as entries arrive from RTGS');
  for (const [name, kind] of [
    ['deposit', 'deposit'],
    ['withdraw', 'withdrawal'],
  ] as const) {
    reserve
      .command(`${name} <bank> <amountYuan>`)
      .description(`record a reserve ${kind}`)
      .requiredOption('--reference <ref>', 'the RTGS reference')
      .option('--idempotency-key <key>', `${IDEMPOTENCY_KEY_HELP} (default here: derived from the bank and reference)`)
      .action(async (bankId: string, amount: string, o: { reference: string } & KeyOptions) => {
        const client = operatorClient(g());
        const amountMinor = amountArg(amount);
        const key = idempotencyKeyFor(o, reserveKeyOf(kind, bankId, o.reference));
        const { status, body } = await sendWithKey(key, (k) => client.reserve(bankId, kind, amountMinor, o.reference, k));
        outWithKey(g().json, key, body, () =>
          status === 201 && 'freeReserveMinor' in body
            ? `${kind} recorded; ${body.id} free reserve ${yuan(body.freeReserveMinor)}`
            : `${kind} of ${yuan(amountMinor)} for ${bankId} awaits a second operator (${(body as ActionView).approvalReason}): cbdc approve ${body.id}`,
        );
      });
  }

  for (const kind of ['issue', 'retire'] as const) {
    program
      .command(`${kind} <bank> <amountYuan>`)
      .description(kind === 'issue' ? "mint currency into the bank's treasury against its free reserve" : "retire currency from the bank's treasury back into its reserve")
      .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
      .action(async (bankId: string, amount: string, o: KeyOptions) => {
        const client = operatorClient(g());
        const amountMinor = amountArg(amount);
        const key = idempotencyKeyFor(o);
        const { body } = await sendWithKey(key, (k) => client.issue(kind === 'issue' ? 'mint' : 'retire', bankId, amountMinor, k));
        outWithKey(g().json, key, body, () =>
          body.status === 'executed'
            ? `${body.kind} of ${yuan(body.amountMinor)} for ${body.bankId} executed as issuance entry ${body.chainSeq}${body.legStatus === 'sent' ? " (the treasury's credit is on its way; it completes by itself)" : ''}`
            : body.status === 'retiring'
              ? `retire of ${yuan(body.amountMinor)} for ${body.bankId} is approved; its treasury debit is not yet applied (it completes by itself; "cbdc supply" shows it)`
              : `${body.kind} of ${yuan(body.amountMinor)} for ${body.bankId} awaits a second operator: cbdc approve ${body.id}`,
        );
      });
  }
  program
    .command('approve <actionId>')
    .description("approve another operator's pending action (issue, retire, reserve entry, bank onboarding, operator registration or key change); it executes at once")
    .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
    .action(async (id: string, o: KeyOptions) => {
      const client = operatorClient(g());
      const key = idempotencyKeyFor(o);
      const body = await sendWithKey(key, (k) => client.approveAction(id, k));
      outWithKey(g().json, key, body, () => `${describeAction(body.action)} approved by ${body.action.approvedBy} and executed`);
    });
  program
    .command('pending')
    .description('operator actions awaiting a second operator (expired ones are left out)')
    .action(async () => {
      const rows = await operatorClient(g()).actions('pending_approval');
      out(g().json, rows, () =>
        rows.length
          ? table(
              ['id', 'action', 'requested by', 'why', 'at', 'expires'],
              rows.map((r) => [r.id, describeAction(r), r.requestedBy, r.approvalReason, r.createdAt, r.expiresAt]),
            )
          : 'nothing awaits approval',
      );
    });

  const operator = program.command('operator').description('operators (registration and key changes need a second operator)');
  operator
    .command('list')
    .description('registered operators')
    .action(async () => {
      const rows = await operatorClient(g()).operators();
      out(g().json, rows, () =>
        table(
          ['operator', 'name', 'public key', 'created by'],
          rows.map((r) => [r.id, r.name, r.publicKey, r.createdBy]),
        ),
      );
    });
  operator
    .command('add <id>')
    .description('request the registration of an operator')
    .requiredOption('--name <name>', 'full name')
    .requiredOption('--public-key <hex>', 'the operator\'s Ed25519 public key (from "cbdc keygen")')
    .action(async (id: string, o: { name: string; publicKey: string }) => {
      const a = await operatorClient(g()).addOperator({ id, name: o.name, publicKey: o.publicKey });
      out(g().json, a, () => `registration of operator ${id} requested; it awaits a second operator: cbdc approve ${a.id}`);
    });
  operator
    .command('rekey <id>')
    .description("request a change of an operator's public key")
    .requiredOption('--public-key <hex>', 'the new Ed25519 public key')
    .action(async (id: string, o: { publicKey: string }) => {
      const a = await operatorClient(g()).changeOperatorKey(id, o.publicKey);
      out(g().json, a, () => `key change of operator ${id} requested; it awaits a second operator: cbdc approve ${a.id}`);
    });

  program
    .command('supply')
    .description("currency outstanding, backing, and each bank's position (yuan)")
    .action(async () => {
      const s = await operatorClient(g()).supply();
      out(g().json, s, () =>
        [
          table(
            ['supply (M0)', 'backing', 'wallet balances', 'held', 'in flight', 'free reserve', 'chain entries'],
            [[yuan(s.supplyMinor), yuan(s.backingMinor), yuan(s.walletBalancesMinor), yuan(s.heldMinor), yuan(s.inFlightMinor), yuan(s.freeReserveMinor), s.chain.seq]],
          ),
          ...(s.groups.length > 1
            ? [
                table(
                  ['shard group', 'shards', 'wallet balances', 'held', 'transfers in flight'],
                  s.groups.map((x) => [x.group, x.shards.join(','), yuan(x.walletBalancesMinor), yuan(x.heldMinor), yuan(x.transfersInFlightMinor)]),
                ),
              ]
            : []),
          table(
            ['bank', 'free reserve', 'minted', 'retired', 'treasury'],
            s.banks.map((b) => [b.id, yuan(b.freeReserveMinor), yuan(b.mintedMinor), yuan(b.retiredMinor), yuan(b.treasuryBalanceMinor)]),
          ),
        ].join('\n'),
      );
    });

  const wallet = program.command('wallet').description('central-bank wallet controls');
  for (const action of ['freeze', 'unfreeze'] as const) {
    wallet
      .command(`${action} <walletId>`)
      .description(action === 'freeze' ? "freeze any wallet (the central bank's freeze: its bank cannot lift it)" : "lift the central bank's freeze (a freeze by the wallet's bank stays)")
      .requiredOption('--reason <text>', 'why')
      .requiredOption('--reference <ref>', 'the order or case it rests on')
      .option('--idempotency-key <key>', IDEMPOTENCY_KEY_HELP)
      .action(async (id: string, o: { reason: string; reference: string } & KeyOptions) => {
        const client = operatorClient(g());
        const key = idempotencyKeyFor(o);
        const w = await sendWithKey(key, (k) => client.walletControl(id, action, { reason: o.reason, reference: o.reference }, k));
        outWithKey(g().json, key, w, () => `wallet ${w.id} of ${w.bankId} is ${w.status}${w.freezes.bank ? " (its bank's own freeze holds)" : ''}`);
      });
  }

  program
    .command('audit')
    .description('verify the issuance chain, every settlement chain and Merkle root, every balance, and conservation, from the stored data')
    .option('--issuer-key <hex>', 'trusted issuer public key (default: the one stored)')
    .option('--shard-keys <hex,...>', 'trusted shard public keys in shard order (default: the ones stored)')
    .option('--gateway-keys <hex,...>', 'trusted gateway registry public keys (default: any stored; bank authority is checked regardless)')
    .action(async (o: { issuerKey?: string; shardKeys?: string; gatewayKeys?: string }) => {
      const topology = await auditTopology(g());
      try {
        const bar = process.stderr.isTTY && !g().json ? new SingleBar({ format: ' {phase} [{bar}] {value}/{total}', hideCursor: true }, Presets.shades_classic) : null;
        let phase = '';
        const report: AuditReport = await audit(topology, {
          trustedIssuerPublicKey: o.issuerKey ? trustedKey('--issuer-key', o.issuerKey) : undefined,
          trustedShardPublicKeys: o.shardKeys ? new Map(o.shardKeys.split(',').map((k, i) => [i, trustedKey('--shard-keys', k)])) : undefined,
          trustedGatewayPublicKeys: o.gatewayKeys ? o.gatewayKeys.split(',').map((k) => trustedKey('--gateway-keys', k)) : undefined,
          onProgress: (p, done, total) => {
            if (!bar) return;
            if (p !== phase) {
              if (phase) bar.stop();
              phase = p;
              bar.start(Math.max(total, 1), done, { phase: p.padEnd(18) });
            } else bar.update(done);
          },
        });
        bar?.stop();
        const s = report.stats;
        out(g().json, report, () =>
          [
            `issuance entries ${s.issuanceEntries}, settlement batches ${s.batches}, transfers ${s.transfers}, wallets ${s.wallets}`,
            `supply ${yuan(s.supplyMinor)} = wallet balances ${yuan(s.walletBalancesMinor)} + held ${yuan(s.heldMinor)} + in flight ${yuan(s.inFlightMinor)}; free reserve ${yuan(s.freeReserveMinor)}`,
            ...(s.groups.length > 1
              ? s.groups.map((x) => `  group ${x.group} (shards ${x.shards?.join(',')}): wallet balances ${yuan(x.walletBalancesMinor)}, held ${yuan(x.heldMinor)}, transfers in flight ${yuan(x.transfersInFlightMinor)}`)
              : []),
            ...(BigInt(s.issuanceInFlightMinor) > 0n ? [`  issuance in flight ${yuan(s.issuanceInFlightMinor)}`] : []),
            report.ok
              ? 'audit passed'
              : `audit FAILED: first failure: ${report.findings[0].subject}: ${report.findings[0].message}\n${table(
                  ['check', 'subject', 'finding'],
                  report.findings.map((f) => [f.check, f.subject, f.message]),
                )}`,
          ].join('\n'),
        );
        process.exitCode = report.ok ? EXIT.ok : EXIT.auditFailed;
      } finally {
        await topology.end({ timeout: 2 });
      }
    });

  return program;
}

/** The databases to audit: the central one and, with --shard-databases, each shard group's. */
async function auditTopology(o: GlobalOptions) {
  const central = connectPostgres(o.databaseUrl, { max: 2, applicationName: 'cbdc-audit' });
  try {
    await assertPostgresReachable(central, o.databaseUrl);
    let shardCount = o.shards === undefined ? null : Number(o.shards);
    if (shardCount === null) {
      const [row] = await central<{ value: string }[]>`select value from ledger_settings where key = 'shard_count'`;
      // Else the highest shard --shard-databases names (its parser then checks that none is left out).
      const named = (o.shardDatabases ?? '').split(';').flatMap((part) => [...(part.split('=')[0] ?? '').matchAll(/\d+/g)].map((m) => Number(m[0])));
      shardCount = row ? Number(row.value) : named.length > 0 ? Math.max(...named) + 1 : 1;
    }
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 1024) throw new UsageError(`--shards ${o.shards}: a whole number from 1 to 1024`);
    let groups: ReturnType<typeof parseShardDatabases>;
    try {
      groups = parseShardDatabases(o.shardDatabases, shardCount, o.databaseUrl);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const topology = connectTopology(o.databaseUrl, groups, { max: 2, applicationName: 'cbdc-audit' });
    for (const group of topology.groups) await assertPostgresReachable(group.sql, group.url);
    return topology;
  } finally {
    await central.end({ timeout: 2 });
  }
}

/** Runs the CLI and returns its exit code (without exiting, for tests). */
export async function run(argv: string[]): Promise<number> {
  process.exitCode = 0;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const key = (error as { idempotencyKey?: string }).idempotencyKey;
    const retry = key ? ` (idempotency key ${key}: to retry, pass --idempotency-key ${key})` : '';
    const say = (msg: string) => process.stderr.write(`cbdc: ${msg}${retry}\n`);
    if (error instanceof UsageError) return (say(error.message), EXIT.usage);
    if (error instanceof CbdcUnreachableError) return (say(`${error.message}; is the issuer running? ("npm start" starts the system)`), EXIT.unreachable);
    if (error instanceof CbdcApiError) {
      const fields = error.problem.errors?.map((e) => ` [${e.field}: ${e.rule}]`).join('') ?? '';
      say(`${error.problem.code}: ${error.problem.detail ?? error.problem.title}${fields}`);
      return error.status === 401 ? EXIT.unauthenticated : EXIT.refused;
    }
    say((error as Error).message);
    return /cannot reach/.test((error as Error).message) ? EXIT.unreachable : EXIT.refused;
  }
}

if (process.argv[1] && /main\.ts$/.test(process.argv[1])) {
  void run(process.argv.slice(2)).then((code) => process.exit(code));
}
