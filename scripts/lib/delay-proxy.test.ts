import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startDelayProxy, type DelayProxy } from "./delay-proxy.ts";

let upstream: Server | null = null;
let proxy: DelayProxy | null = null;

afterEach(async () => {
  await proxy?.close();
  proxy = null;
  await new Promise((done) => (upstream ? upstream.close(done) : done(undefined)));
  upstream = null;
});

/** Starts an upstream on 127.0.0.1 that echoes the method, path, a header and the body. */
async function startEcho(): Promise<string> {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      response.writeHead(201, { "content-type": "application/octet-stream", "x-echo-method": request.method, "x-echo-path": request.url, "x-echo-signature": String(request.headers["x-signature"]) });
      response.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((done) => upstream!.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(upstream!.address() as AddressInfo).port}`;
}

describe("startDelayProxy", () => {
  it("forwards method, path, headers and body bytes", async () => {
    proxy = await startDelayProxy({ target: await startEcho(), delayMs: 0 });
    const body = Uint8Array.from([0, 255, 10, 13, 128]);
    const response = await fetch(`${proxy.url}/v1/sessions/abc/verify?x=1`, { method: "POST", headers: { "x-signature": "s1" }, body });

    expect(response.status).toBe(201);
    expect(response.headers.get("x-echo-method")).toBe("POST");
    expect(response.headers.get("x-echo-path")).toBe("/v1/sessions/abc/verify?x=1");
    expect(response.headers.get("x-echo-signature")).toBe("s1");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(body);
    expect(proxy.calls()).toBe(1);
  });

  it("adds at least the delay to each call", async () => {
    proxy = await startDelayProxy({ target: await startEcho(), delayMs: 40 });
    const started = performance.now();
    await (await fetch(`${proxy.url}/healthz`)).arrayBuffer();
    const elapsed = performance.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(39);
  });

  it("returns 502 when the upstream is down", async () => {
    const target = await startEcho();
    await new Promise((done) => upstream!.close(done));
    upstream = null;
    proxy = await startDelayProxy({ target, delayMs: 0 });
    const response = await fetch(`${proxy.url}/healthz`);

    expect(response.status).toBe(502);
    expect(await response.text()).toContain("the upstream call failed");
  });

  it("rejects targets other than 127.0.0.1", async () => {
    await expect(startDelayProxy({ target: "http://example.com:80", delayMs: 0 })).rejects.toThrow(/127\.0\.0\.1/);
    await expect(startDelayProxy({ target: "http://127.0.0.1:1", delayMs: -1 })).rejects.toThrow(/delayMs/);
  });
});
