import { describe, expect, it } from 'vitest';
import { loadGatewayConfig } from './config.js';

const base = { GATEWAY_ATTESTATION_KEY: 'ab'.repeat(32), SETTLEMENT_SHARDS: '4' };
const pair = (a: string, b: string, user = '') => `postgres://${user}${a}:5432,${b}:5432/ledger?target_session_attrs=read-write`;

describe('gateway configuration: SHARD_DATABASES', () => {
  it('takes multi-host URLs (a primary and its standby), as npm run cluster gives them', () => {
    const config = loadGatewayConfig({
      ...base,
      DATABASE_URL: pair('198.18.0.15', '198.18.0.16', 'cbdc_gateway@'),
      SHARD_DATABASES: `0,2=${pair('198.18.0.17', '198.18.0.18', 'cbdc_gateway@')};1,3=${pair('198.18.0.19', '198.18.0.20')}`,
    });
    expect(config.shardGroups.map((g) => [g.shards, g.url])).toEqual([
      [[0, 2], pair('198.18.0.17', '198.18.0.18', 'cbdc_gateway@')],
      // A URL without a user connects as DATABASE_URL's user.
      [[1, 3], pair('198.18.0.19', '198.18.0.20', 'cbdc_gateway@')],
    ]);
  });
});
