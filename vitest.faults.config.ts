import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): the real service against the simulator, Postgres and
 * Redis under crashes, restarts and API chaos. Kept out of `npm test` (vitest.config.ts) so the
 * normal suite stays fast. Files run one at a time: scenarios kill and restart processes and
 * servers, and on a 2-core machine parallel scenarios would only make each other slow.
 * Budget: about 5-6 minutes in all; every scenario is bounded and stops by itself.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    globalSetup: ['test/global-setup.ts', 'test/faults/results-setup.ts'],
    testTimeout: 150_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
});
