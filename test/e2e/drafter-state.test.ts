/** Drafter state saved to the Durable Object by one isolate warms up the next one. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort, HOST, startWorker, stopProcess, waitForHealthy } from "../../scripts/lib/stack.ts";
import { MODEL } from "./helpers.ts";

const persistTo = mkdtempSync(join(tmpdir(), "edgespec-do-state-"));

async function startOnSharedState() {
  const port = await freePort();
  const worker = startWorker({ port, gpuUrl: inject("gpuUrl"), secret: inject("gpuSecret"), persistTo });
  await waitForHealthy(`http://${HOST}:${port}/healthz`, worker, 120_000);
  return { worker, url: `http://${HOST}:${port}` };
}

async function complete(url: string, prompt: string) {
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: 4, temperature: 0 }),
  });
  expect(response.status).toBe(200);
  await response.json();
}

describe("drafter state persistence", () => {
  afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

  it("restores the saved state in a new process", async () => {
    const first = await startOnSharedState();
    let savedSizes = "";
    try {
      // The 16th request of an isolate saves the state in the background.
      for (let i = 0; i < 16; i++) await complete(first.url, `value_${i} = compute(${i})\n`);
      const saved = await waitForLine(first.worker.output, /Drafter state saved/);
      savedSizes = /recycling \d+ B, trie \d+ B/.exec(saved)?.[0] ?? "";
      expect(savedSizes).not.toBe("");
    } finally {
      await stopProcess(first.worker);
    }

    const second = await startOnSharedState();
    try {
      await complete(second.url, "import json\n");
      const restored = await waitForLine(second.worker.output, /Drafter state restored/);
      // The blobs read back have the sizes the first process wrote.
      expect(restored).toContain(savedSizes);
    } finally {
      await stopProcess(second.worker);
    }
  });
});

async function waitForLine(output: string[], pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const line = output.find((row) => pattern.test(row));
    if (line !== undefined) return line;
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`no output line matched ${pattern}; last lines:\n${output.join("\n")}`);
}
