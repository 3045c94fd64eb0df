/**
 * Starts the real stack once for the end-to-end tests, on free 127.0.0.1 ports: the GPU
 * verification service on CPU with the embedded model, and one `wrangler dev` process that runs
 * the RPC client worker together with the API worker. The RPC client is the worker served over
 * HTTP, and it forwards /v1/* to the API worker.
 */
import type { TestProject } from "vitest/node";
import { freePort, HOST, newSecret, startGpuService, startWorker, stopProcess, waitForHealthy, type RunningProcess } from "../../scripts/lib/stack.ts";

declare module "vitest" {
  export interface ProvidedContext {
    workerUrl: string;
    gpuUrl: string;
    gpuSecret: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running: RunningProcess[] = [];
  const teardown = async () => {
    for (const process of running.reverse()) await stopProcess(process);
  };
  try {
    const secret = newSecret();
    const gpuPort = await freePort();
    // EDGESPEC_E2E_ECHO=1 prints both servers' logs, for debugging a failing test.
    const echo = process.env.EDGESPEC_E2E_ECHO === "1";
    const gpu = startGpuService({ port: gpuPort, secret, echo });
    running.push(gpu);
    const gpuUrl = `http://${HOST}:${gpuPort}`;
    await waitForHealthy(`${gpuUrl}/healthz`, gpu, 180_000);

    const workerPort = await freePort();
    const worker = startWorker({ port: workerPort, gpuUrl, secret, configs: ["workers/rpc-client/wrangler.toml", "wrangler.toml"], echo });
    running.push(worker);
    const workerUrl = `http://${HOST}:${workerPort}`;
    await waitForHealthy(`${workerUrl}/healthz`, worker, 120_000);

    project.provide("workerUrl", workerUrl);
    project.provide("gpuUrl", gpuUrl);
    project.provide("gpuSecret", secret);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
