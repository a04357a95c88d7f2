import { defineConfig } from 'vitest/config';

/** `npm run test:faults:mixed`: the long mixed-fault run (F7), minutes long; not part of CI. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.soak.test.ts'],
    testTimeout: 120 * 60_000,
    hookTimeout: 3 * 60_000,
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
