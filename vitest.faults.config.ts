import { defineConfig } from 'vitest/config';

/** `npm run test:faults`: each file starts its own Postgres and Redis, so files run one at a time. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 3 * 60_000,
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
