import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (the pure core and helpers, no servers: `npm run test:unit`, a few seconds)
 * and `integration` (real Postgres and Redis). `npm test` runs both.
 */
const UNIT = ['packages/shared/src/**/*.test.ts', 'packages/cli/src/**/*.test.ts', 'services/settlement/src/**/*.test.ts'];

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', '**/*.fault.test.ts', '**/*.soak.test.ts', '**/*.cluster.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...UNIT, '**/node_modules/**', '**/*.fault.test.ts', '**/*.soak.test.ts', '**/*.cluster.test.ts'],
        },
      },
    ],
  },
});
