import { describe, expect, it } from 'vitest';
import { LIMITS } from '@cbdc/shared/limits';
import { loadIssuerConfig } from './config.js';

const base = { ISSUER_SIGNING_KEY: '11'.repeat(32) };

describe("the issuer's dual-control configuration", () => {
  it('defaults both window maxima to the threshold and the windows to LIMITS', () => {
    expect(loadIssuerConfig({ ...base, ISSUER_DUAL_CONTROL_THRESHOLD_MINOR: '500' }).dualControl).toEqual({
      singleActionMaxMinor: 500n,
      operatorWindowMaxMinor: 500n,
      bankWindowMaxMinor: 500n,
      windowMs: LIMITS.dualControlWindowMs,
      approvalTtlMs: LIMITS.approvalTtlMs,
    });
  });

  it('reads every setting, and names a bad one', () => {
    const env = {
      ...base,
      ISSUER_DUAL_CONTROL_THRESHOLD_MINOR: '500',
      ISSUER_DUAL_CONTROL_OPERATOR_WINDOW_MAX_MINOR: '700',
      ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR: '900',
      ISSUER_DUAL_CONTROL_WINDOW_MS: '60000',
      ISSUER_APPROVAL_TTL_MS: '30000',
    };
    expect(loadIssuerConfig(env).dualControl).toEqual({ singleActionMaxMinor: 500n, operatorWindowMaxMinor: 700n, bankWindowMaxMinor: 900n, windowMs: 60_000, approvalTtlMs: 30_000 });
    expect(() => loadIssuerConfig({ ...env, ISSUER_APPROVAL_TTL_MS: '0' })).toThrow(/ISSUER_APPROVAL_TTL_MS/);
    expect(() => loadIssuerConfig({ ...env, ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR: '-1' })).toThrow(/ISSUER_DUAL_CONTROL_BANK_WINDOW_MAX_MINOR/);
  });
});
