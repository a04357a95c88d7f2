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
});
