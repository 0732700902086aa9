import { defineConfig } from 'vitest/config';

// CAPSPAWN_TEST_SLOWDOWN: how many times slower than this machine the run is (scripts/arm64-test
// sets it in its emulated arm64 VM; __test__/helpers.ts `slow()` stretches the tests' own limits).
const SLOWDOWN = Math.max(1, Number(process.env.CAPSPAWN_TEST_SLOWDOWN) || 1);

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // Each test file in its own process: they count descriptors and children, and some change
    // process-wide state (the exit channel, the reaper).
    pool: 'forks',
    testTimeout: 30_000 * SLOWDOWN,
    hookTimeout: 30_000 * SLOWDOWN,
  },
});
