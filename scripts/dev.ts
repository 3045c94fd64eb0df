/**
 * The run command behind `npm start`. It starts the GPU verification service on CPU with the
 * embedded model and the API worker in `wrangler dev`, both on 127.0.0.1 and sharing a fresh
 * secret. Then it prints the URL and stops both on Ctrl-C.
 *
 * Environment: PORT (worker port, default 8787), GPU_PORT (default: a free port).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort, HOST, newSecret, ROOT, startGpuService, startWorker, stopProcess, waitForHealthy, type RunningProcess } from "./lib/stack.ts";

function portFrom(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a port number between 1 and 65535, got ${JSON.stringify(value)}`);
  return port;
}

async function main(): Promise<void> {
  const workerPort = portFrom("PORT", 8787);
  const gpuPort = portFrom("GPU_PORT", await freePort());
  const secret = newSecret();
  for (const file of [".dev.vars", ".env"]) {
    if (existsSync(join(ROOT, file))) {
      console.error(`Warning: ${file} exists; wrangler reads GPU_SERVICE_URL and GPU_SERVICE_SECRET from it instead of the values this command generates.`);
    }
  }
  const running: RunningProcess[] = [];
  let stopping = false;

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.error("Stopping the worker and the GPU service.");
    for (const process of running.reverse()) await stopProcess(process);
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  try {
    console.error(`Starting the GPU service on http://${HOST}:${gpuPort} (CPU, models/edgespec-tiny).`);
    const gpu = startGpuService({ port: gpuPort, secret, echo: true });
    running.push(gpu);
    await waitForHealthy(`http://${HOST}:${gpuPort}/healthz`, gpu, 180_000);

    console.error(`Starting the worker (wrangler dev) on http://${HOST}:${workerPort}.`);
    // Durable Object state (the drafters' learned state) is kept across runs in .wrangler/state.
    const persistTo = join(ROOT, ".wrangler/state");
    const worker = startWorker({ port: workerPort, gpuUrl: `http://${HOST}:${gpuPort}`, secret, persistTo, echo: true });
    running.push(worker);
    await waitForHealthy(`http://${HOST}:${workerPort}/healthz`, worker, 120_000);
    for (const process of running) {
      process.child.once("exit", (code) => {
        if (stopping) return;
        console.error(`${process.name} exited with ${code}; stopping.`);
        void shutdown(1);
      });
    }
  } catch (error) {
    console.error((error as Error).message);
    await shutdown(1);
    return;
  }

  const url = `http://${HOST}:${workerPort}`;
  console.log(`
edgespec is running at ${url} (OpenAI-compatible, model "edgespec-tiny"). Try:

  curl ${url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model": "edgespec-tiny", "messages": [{"role": "user", "content": "Write a Python function that reverses a list."}], "max_tokens": 64}'

Press Ctrl-C to stop.`);
}

void main();
