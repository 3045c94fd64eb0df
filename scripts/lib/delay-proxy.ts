/**
 * An HTTP proxy on 127.0.0.1 that adds a fixed round-trip time to every call it forwards. The
 * end-to-end benchmark puts one between the worker and the GPU service, so the worker's own
 * round-trip measurement sees the delay and the product code stays untouched.
 *
 * Half of the delay is spent before the request is forwarded and half before the response is
 * returned, like a symmetric network link. Bodies are forwarded byte for byte, so HMAC
 * signatures stay valid. Node's timers have about 1 ms resolution, so each half is at least the
 * requested value and usually up to 1 ms longer.
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface DelayProxy {
  /** Base URL of the proxy, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Round-trip time added to every call, in ms. */
  delayMs: number;
  /** Calls forwarded so far (failed ones included). */
  calls(): number;
  close(): Promise<void>;
}

/** Hop-by-hop headers describe one connection only, so they are not forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

export async function startDelayProxy(options: { target: string; delayMs: number }): Promise<DelayProxy> {
  if (!Number.isFinite(options.delayMs) || options.delayMs < 0) {
    throw new RangeError(`delayMs must be a finite number ≥ 0, got ${options.delayMs}`);
  }
  const target = new URL(options.target);
  if (target.protocol !== "http:" || target.hostname !== "127.0.0.1") {
    throw new RangeError(`the proxy target must be an http://127.0.0.1 URL, got ${options.target}`);
  }
  const agent = new Agent({ keepAlive: true });
  const halfMs = options.delayMs / 2;
  let calls = 0;

  const server = createServer((incoming, outgoing) => {
    calls += 1;
    void forward(incoming, outgoing).catch((error: unknown) => {
      console.error(`delay proxy: ${incoming.method} ${incoming.url} failed: ${(error as Error).message}`);
      if (!outgoing.headersSent) outgoing.writeHead(502, { "content-type": "text/plain" });
      outgoing.end(`delay proxy: the upstream call failed: ${(error as Error).message}`);
    });
  });

  async function forward(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const body = await readBody(incoming);
    await sleep(halfMs);
    const upstream = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const call = httpRequest(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: forwardedHeaders(incoming.headers, body.length), agent },
        (response) => {
          readBody(response).then((responseBody) => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: responseBody }), reject);
        },
      );
      call.once("error", reject);
      call.end(body);
    });
    await sleep(halfMs);
    outgoing.writeHead(upstream.status, forwardedHeaders(upstream.headers, upstream.body.length));
    outgoing.end(upstream.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    delayMs: options.delayMs,
    calls: () => calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        agent.destroy();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function forwardedHeaders(headers: IncomingHttpHeaders, bodyLength: number): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === "content-length") continue;
    kept[name] = value;
  }
  kept["content-length"] = String(bodyLength);
  return kept;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((wake) => setTimeout(wake, ms)) : Promise.resolve();
}
