import { defineConfig } from 'vitest/config';

/** `npm run test:cluster`: the multi-node tests (a Redis Cluster of their own, killed nodes), one file at a time. */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.cluster.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 3 * 60_000,
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
