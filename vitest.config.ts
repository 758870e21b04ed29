import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The container tests need root and a Docker engine: `npm run test:container`, run by .ci/run.
    exclude: ['test/container/**', 'node_modules/**'],
    // Two cores: model sessions and sharp already use both, so files run one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    // The JSON copy lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test/.tmp/vitest-results.json' },
    hookTimeout: 120_000,
  },
});
