import { defineConfig } from 'vitest/config';

// `npm run test:container`: the image built and run by a Docker engine (test/container/), apart from `npm test`
// because it needs root, an engine and a few minutes.
export default defineConfig({
  test: {
    include: ['test/container/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 1_200_000,
    // The JSON copy lets .ci/run print one closing line for both suites.
    reporters: ['default', 'json'],
    outputFile: { json: 'test/.tmp/vitest-container-results.json' },
  },
});
