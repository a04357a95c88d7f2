/** The cbdc command against a running system: outputs, --json, exit codes, and the audit naming a tampered row. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run, EXIT } from '@cbdc/cli/main';
import { startTestSystem, type TestSystem } from './support/system.js';

describe('cbdc', () => {
  let sys: TestSystem;
  let aliceKey: string;
  let bobKey: string;

  async function cbdc(args: string[], operatorKey?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    process.env.CBDC_OPERATOR_KEY = operatorKey ?? '';
    try {
      const code = await run(['--issuer-url', sys.issuerUrl, '--database-url', sys.db.url, ...args]);
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
      delete process.env.CBDC_OPERATOR_KEY;
    }
  }

  beforeAll(async () => {
    sys = await startTestSystem({ dualControlThresholdMinor: 100_000n });
    aliceKey = sys.operatorKeys.alice;
    bobKey = sys.operatorKeys.bob;
    await sys.addBank('bank-a');
  });
  afterAll(async () => sys?.close());

  it('records a deposit, mints with dual control, and shows supply as a table and as JSON', async () => {
    const deposit = await cbdc(['--operator', 'alice', '--json', 'reserve', 'deposit', 'bank-a', '5000', '--reference', 'RTGS-1'], aliceKey);
    expect(deposit.code).toBe(EXIT.ok);
    expect(JSON.parse(deposit.stdout)).toMatchObject({ kind: 'reserve_deposit', status: 'pending_approval', approvalReason: 'above_single_action_max' });
    const listed = await cbdc(['--operator', 'bob', 'pending'], bobKey);
    expect(listed.stdout).toContain('reserve_deposit of 5,000.00 for bank bank-a');
    const approvedDeposit = await cbdc(['--operator', 'bob', 'approve', JSON.parse(deposit.stdout).id], bobKey);
    expect(approvedDeposit.code).toBe(EXIT.ok);
    expect(approvedDeposit.stdout).toContain('approved by bob and executed');
    const pending = await cbdc(['--operator', 'alice', '--json', 'issue', 'bank-a', '2000'], aliceKey);
    expect(pending.code).toBe(EXIT.ok);
    const id = JSON.parse(pending.stdout).id;
    const self = await cbdc(['--operator', 'alice', 'approve', id], aliceKey);
    expect(self.code).toBe(EXIT.refused);
    expect(self.stderr).toMatch(/^cbdc: approver_is_requester: .*\n$/);
    expect((await cbdc(['--operator', 'bob', 'approve', id], bobKey)).code).toBe(EXIT.ok);
    const table = await cbdc(['--operator', 'alice', 'supply'], aliceKey);
    expect(table.stdout).toContain('2,000.00');
    const json = JSON.parse((await cbdc(['--operator', 'alice', '--json', 'supply'], aliceKey)).stdout);
    expect(json).toMatchObject({ supplyMinor: '200000', backingMinor: '200000', walletBalancesMinor: '200000' });
  });

  it('sends an Idempotency-Key with every mutating command and prints it; "issue" run twice with the same key mints once', async () => {
    const supply = async () => JSON.parse((await cbdc(['--operator', 'alice', '--json', 'supply'], aliceKey)).stdout).supplyMinor as string;
    const before = BigInt(await supply());
    const first = await cbdc(['--operator', 'alice', 'issue', 'bank-a', '100', '--idempotency-key', 'cli-mint-0001'], aliceKey);
    expect(first.code).toBe(EXIT.ok);
    expect(first.stdout).toMatch(/executed as issuance entry \d+\nidempotency key: cli-mint-0001\n$/);
    const again = await cbdc(['--operator', 'alice', 'issue', 'bank-a', '100', '--idempotency-key', 'cli-mint-0001'], aliceKey);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stdout).toBe(first.stdout);
    expect(BigInt(await supply())).toBe(before + 10_000n);

    // Without --idempotency-key a fresh key is sent and printed; retrying with it does the work once.
    const fresh = JSON.parse((await cbdc(['--operator', 'alice', '--json', 'issue', 'bank-a', '1'], aliceKey)).stdout);
    expect(fresh.idempotencyKey).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);
    const retried = JSON.parse((await cbdc(['--operator', 'alice', '--json', 'issue', 'bank-a', '1', '--idempotency-key', fresh.idempotencyKey], aliceKey)).stdout);
    expect(retried.id).toBe(fresh.id);
    expect(BigInt(await supply())).toBe(before + 10_100n);
    const rows = await sys.db.sql`select count(*)::int as n from idempotency_keys where service = 'issuer' and principal_kind = 'operator' and principal_id = 'alice' and key in ('cli-mint-0001', ${fresh.idempotencyKey})`;
    expect(rows[0].n).toBe(2);

    // The same key for another request is refused, and the error line names the key to retry with.
    const misuse = await cbdc(['--operator', 'alice', 'issue', 'bank-a', '200', '--idempotency-key', 'cli-mint-0001'], aliceKey);
    expect(misuse.code).toBe(EXIT.refused);
    expect(misuse.stderr).toMatch(/^cbdc: idempotency_key_reused: .*\[header\/idempotency-key: same_request\] \(idempotency key cli-mint-0001: to retry, pass --idempotency-key cli-mint-0001\)\n$/);
    expect(BigInt(await supply())).toBe(before + 10_100n);
    const badKey = await cbdc(['--operator', 'alice', 'issue', 'bank-a', '1', '--idempotency-key', 'short'], aliceKey);
    expect(badKey.code).toBe(EXIT.usage);

    // Every other mutating command sends one too.
    const deposit = JSON.parse((await cbdc(['--operator', 'alice', '--json', 'reserve', 'deposit', 'bank-a', '1', '--reference', 'RTGS 7/2'], aliceKey)).stdout);
    expect(deposit.idempotencyKey).toMatch(/^deposit-bank-a-sha256-[0-9a-f]{40}$/);
    const pending = JSON.parse((await cbdc(['--operator', 'alice', '--json', 'issue', 'bank-a', '2000'], aliceKey)).stdout);
    const approved = JSON.parse((await cbdc(['--operator', 'bob', '--json', 'approve', pending.id, '--idempotency-key', 'cli-approve-0001'], bobKey)).stdout);
    expect(approved.idempotencyKey).toBe('cli-approve-0001');
    const approvedAgain = await cbdc(['--operator', 'bob', '--json', 'approve', pending.id, '--idempotency-key', 'cli-approve-0001'], bobKey);
    expect(approvedAgain.code).toBe(EXIT.ok);
    expect(JSON.parse(approvedAgain.stdout).chainSeq).toBe(approved.chainSeq);
  });

  it('onboards a bank and registers an operator only with a second operator, and freezes with a reason and a reference', async () => {
    const bankKey = JSON.parse((await cbdc(['--json', 'keygen'])).stdout);
    const requested = await cbdc(['--operator', 'alice', '--json', 'bank', 'add', 'bank-c', '--name', 'Bank C', '--public-key', bankKey.publicKey], aliceKey);
    expect(requested.code).toBe(EXIT.ok);
    const action = JSON.parse(requested.stdout);
    expect(action).toMatchObject({ kind: 'bank_onboarding', status: 'pending_approval' });
    expect((await cbdc(['--operator', 'alice', 'approve', action.id], aliceKey)).code).toBe(EXIT.refused);
    expect((await cbdc(['--operator', 'bob', 'approve', action.id], bobKey)).stdout).toContain('bank_onboarding for bank bank-c approved by bob and executed');

    const carol = JSON.parse((await cbdc(['--json', 'keygen'])).stdout);
    const operator = await cbdc(['--operator', 'bob', 'operator', 'add', 'carol', '--name', 'Carol', '--public-key', carol.publicKey], bobKey);
    expect(operator.stdout).toMatch(/^registration of operator carol requested; it awaits a second operator: cbdc approve [0-9a-f-]{36}\n$/);
    expect((await cbdc(['--operator', 'alice', 'approve', operator.stdout.trim().split(' ').pop()!], aliceKey)).code).toBe(EXIT.ok);
    expect((await cbdc(['--operator', 'carol', 'supply'], carol.privateKey)).code).toBe(EXIT.ok);

    expect((await cbdc(['--operator', 'alice', 'wallet', 'freeze', 't_bank-c'], aliceKey)).code).toBe(EXIT.usage);
    const frozen = await cbdc(['--operator', 'alice', 'wallet', 'freeze', 't_bank-c', '--reason', 'court order', '--reference', 'CASE-1'], aliceKey);
    expect(frozen.stdout).toMatch(/^wallet t_bank-c of bank-c is frozen\nidempotency key: /);
    expect((await cbdc(['--operator', 'alice', 'wallet', 'unfreeze', 't_bank-c', '--reason', 'order lifted', '--reference', 'CASE-1'], aliceKey)).stdout).toMatch(/^wallet t_bank-c of bank-c is active\nidempotency key: /);
  });

  it('refuses bad usage with exit 2 and a one-line reason', async () => {
    const bad = await cbdc(['--operator', 'alice', 'issue', 'bank-a', '1e5'], aliceKey);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toBe('cbdc: "1e5" is not a positive amount of yuan (digits, up to two decimals, e.g. 1000000 or 12.50)\n');
    expect((await cbdc(['--operator', 'alice', 'frobnicate'], aliceKey)).code).toBe(EXIT.usage);
    const wrongKey = await cbdc(['--operator', 'alice', 'supply'], bobKey);
    expect(wrongKey.code).toBe(EXIT.unauthenticated);
  });

  it('says in one line when the issuer is unreachable, with exit 3', async () => {
    let stderr = '';
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    process.env.CBDC_OPERATOR_KEY = aliceKey;
    const code = await run(['--issuer-url', 'http://127.0.0.1:9', '--operator', 'alice', 'supply']).finally(() => err.mockRestore());
    expect(code).toBe(EXIT.unreachable);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('cannot reach http://127.0.0.1:9');
  });

  it('audits: passes, then fails naming the tampered balance with exit 1', async () => {
    const clean = await cbdc(['audit']);
    expect(clean.code).toBe(EXIT.ok);
    expect(clean.stdout).toContain('audit passed');
    await sys.db.sql`update wallets set balance_minor = balance_minor + 1 where id = 't_bank-a'`;
    const tampered = await cbdc(['audit']);
    expect(tampered.code).toBe(EXIT.auditFailed);
    expect(tampered.stdout).toContain('audit FAILED: first failure: wallet t_bank-a');
    const json = JSON.parse((await cbdc(['--json', 'audit'])).stdout);
    expect(json.ok).toBe(false);
    expect(json.findings.map((f: { subject: string }) => f.subject)).toEqual(expect.arrayContaining(['wallet t_bank-a', 'supply']));
  });

  it('refuses a weak trusted key for the audit, naming the rule (the identity key would "verify" forged chains)', async () => {
    const identity = '01' + '00'.repeat(31);
    const res = await cbdc(['audit', '--issuer-key', identity]);
    expect(res.code).toBe(EXIT.usage);
    expect(res.stderr).toContain(`--issuer-key ${identity}: ed25519_public_key_small_order`);
    expect((await cbdc(['audit', '--shard-keys', `${sys.keys.shards.map(() => identity).join(',')}`])).stderr).toContain('ed25519_public_key_small_order');
  });
});
