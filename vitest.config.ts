import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // Each test file in its own process: they count descriptors and children, and some change
    // process-wide state (the exit channel, the reaper).
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
