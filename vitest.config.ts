import { defineConfig } from "vitest/config";

// Two projects: fast unit tests, and end-to-end tests that share one running stack (the GPU
// service and the worker in wrangler dev), started by test/e2e/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["shared/**/*.test.ts", "workers/**/*.test.ts", "scripts/**/*.test.ts", "test/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          // One stack on two shared CPU cores: files run one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
