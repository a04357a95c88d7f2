import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster` (full) and `npm run test:cluster:short` (CI): the multi-host deployment in
 * network namespaces on this machine (needs root, iproute2 and the PostgreSQL server binaries:
 * scripts/setup.sh). Each file builds its own hosts, servers and services, so files run one at a time.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.cluster.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 4 * 60_000,
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
