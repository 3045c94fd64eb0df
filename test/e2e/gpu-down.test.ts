/** With the GPU service unreachable the worker returns 503 with an OpenAI-style error. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, HOST, newSecret, startWorker, stopProcess, waitForHealthy } from "../../scripts/lib/stack.ts";
import { MODEL } from "./helpers.ts";

describe("GPU service down", () => {
  let worker: ReturnType<typeof startWorker> | null = null;
  let url = "";

  beforeAll(async () => {
    // Nothing listens on this port: it was free a moment ago and this test never binds it.
    const deadPort = await freePort();
    const port = await freePort();
    worker = startWorker({ port, gpuUrl: `http://${HOST}:${deadPort}`, secret: newSecret() });
    url = `http://${HOST}:${port}`;
    await waitForHealthy(`${url}/healthz`, worker, 120_000);
  });

  afterAll(async () => {
    if (worker) await stopProcess(worker);
  });

  for (const stream of [false, true]) {
    it(`answers 503 when ${stream ? "streaming" : "not streaming"}`, async () => {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], stream }),
      });
      expect(response.status).toBe(503);
      const body = await response.json();
      expect(body.error.type).toBe("service_unavailable_error");
      expect(body.error.code).toBe("gpu_service_unavailable");
    });
  }
});
