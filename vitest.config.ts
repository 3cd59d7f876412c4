import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // One fork per file keeps a crash in native code from taking other files' results with it.
    pool: 'forks',
    // The JSON results let .ci/run print plain pass/fail counts.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
