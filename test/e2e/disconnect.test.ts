/** A client that disconnects mid-stream stops the generation and frees its GPU session. */
import { describe, expect, inject, it } from "vitest";
import { signRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../../shared/protocol.ts";
import { MODEL, workerUrl } from "./helpers.ts";

async function gpuMetric(name: string): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signRequest(inject("gpuSecret"), timestamp, "GET", "/metrics", "");
  const response = await fetch(`${inject("gpuUrl")}/metrics`, { headers: { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signature } });
  expect(response.status).toBe(200);
  const line = (await response.text()).split("\n").find((row) => row.startsWith(`${name} `));
  if (line === undefined) throw new Error(`metric ${name} not found in the GPU service's /metrics`);
  return Number(line.slice(name.length + 1));
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((wake) => setTimeout(wake, 200));
  }
  return false;
}

describe("client disconnect", () => {
  it("deletes the GPU session and stops verifying", async () => {
    // Sessions of other tests may still be live (a worker restart leaves them to the TTL).
    const before = await gpuMetric("edgespec_sessions");
    const controller = new AbortController();
    const response = await fetch(`${workerUrl()}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "class Parser:\n", max_tokens: 600, temperature: 0, stream: true, speculation: { enabled: false } }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    expect(await gpuMetric("edgespec_sessions")).toBe(before + 1);

    controller.abort();
    expect(await waitFor(async () => (await gpuMetric("edgespec_sessions")) === before, 15_000)).toBe(true);
    const stepsAfterDelete = await gpuMetric("edgespec_verify_steps_total");
    await new Promise((wake) => setTimeout(wake, 1000));
    expect(await gpuMetric("edgespec_verify_steps_total")).toBe(stepsAfterDelete);
  });
});
