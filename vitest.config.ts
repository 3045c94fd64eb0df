import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

// TEMPORARY while the GPU service and the embedded model are being built: without the service's
// entry point or the model's weights the e2e project is left out. Remove this gate once both are
// committed, so that a missing piece fails the tests instead of skipping them.
const modelDir = process.env.EDGESPEC_MODEL_DIR ?? "models/edgespec-tiny";
const gpuServiceReady = existsSync("gpu-service/edgespec_gpu/__main__.py") && existsSync(`${modelDir}/config.json`);

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
      ...(gpuServiceReady ? [{
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          // One stack on two shared CPU cores: files run one after another.
          fileParallelism: false,
        },
      }] : []),
    ],
  },
});
