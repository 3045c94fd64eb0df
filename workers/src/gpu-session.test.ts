import { describe, expect, it } from "vitest";
import { GpuClient, GpuServiceError } from "../../shared/gpu-client.ts";
import { GpuSession } from "./gpu-session.ts";

interface Recorded {
  method: string;
  path: string;
  body: any;
}

/** Builds a fake GPU service that returns queued (status, body) pairs and records each request. */
function fakeService(answers: [number, unknown][]) {
  const requests: Recorded[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    requests.push({ method: init?.method ?? "GET", path: url.pathname, body: init?.body ? JSON.parse(String(init.body)) : null });
    const next = answers.shift();
    if (next === undefined) throw new Error(`unexpected request ${init?.method} ${url.pathname}`);
    return new Response(JSON.stringify(next[1]), { status: next[0], headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  const client = new GpuClient({ baseUrl: "http://127.0.0.1:9", secret: "s", timeoutMs: 1000, fetch: fetchImpl });
  return { client, requests };
}

const timings = { queue_ms: 0, forward_ms: 1, total_ms: 1 };
const created = (id: string, length: number) => [201, { session_id: id, committed_len: length, timings }] as [number, unknown];
const verified = (tokens: number[], committedLen: number) =>
  [200, { accepted_tokens: tokens, accepted_nodes: [], top_k: tokens.map(() => [1]), logprobs: null, eos: false, committed_len: committedLen, timings }] as [number, unknown];
const conflict = (committedLen: number) =>
  [409, { error: { type: "conflict_error", code: "session_evicted", message: "evicted" }, committed_len: committedLen }] as [number, unknown];
const model = { vocabSize: 100, eosTokenIds: [99] };
const sampling = { temperature: 0, top_p: 1, top_k: 0, seed: null };
const empty = { tokens: [], parents: [] };
const signal = new AbortController().signal;

describe("GpuSession", () => {
  it("resends missing tokens after a 409", async () => {
    const { client, requests } = fakeService([created("a", 3), verified([7], 4), conflict(0), verified([9], 5)]);
    const session = new GpuSession(client, model, [1, 2, 3], sampling, 4);
    await session.open(signal);
    await session.verify(empty, signal);
    const result = await session.verify(empty, signal);
    expect(result.acceptedTokens).toEqual([9]);
    expect(requests.map((request) => request.body?.base_len ?? null)).toEqual([null, 3, 4, 0]);
    expect(requests[3].body.append).toEqual([1, 2, 3, 7]);
    expect(session.resyncs).toBe(1);
  });

  it("opens a new session after a 404", async () => {
    const notFound: [number, unknown] = [404, { error: { type: "not_found_error", code: "session_not_found", message: "gone" } }];
    const { client, requests } = fakeService([created("a", 2), notFound, created("b", 2), verified([5], 3), [200, { deleted: true }]]);
    const session = new GpuSession(client, model, [1, 2], sampling, 4);
    await session.open(signal);
    await session.verify(empty, signal);
    await session.close();
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /v1/sessions", "POST /v1/sessions/a/verify", "POST /v1/sessions", "POST /v1/sessions/b/verify", "DELETE /v1/sessions/b",
    ]);
  });

  it("fails without a new session on an unknown route", async () => {
    const noRoute: [number, unknown] = [404, { error: { type: "not_found_error", code: "route_not_found", message: "no route" } }];
    const { client, requests } = fakeService([created("a", 2), noRoute]);
    const session = new GpuSession(client, model, [1, 2], sampling, 4);
    await session.open(signal);
    const failure = await session.verify(empty, signal).catch((error) => error);
    expect(failure).toBeInstanceOf(GpuServiceError);
    expect(failure.code).toBe("route_not_found");
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(["POST /v1/sessions", "POST /v1/sessions/a/verify"]);
    expect(session.resyncs).toBe(0);
  });

  it("rejects a response that breaks the protocol", async () => {
    const { client } = fakeService([created("a", 1), verified([7], 5)]);
    const session = new GpuSession(client, model, [1], sampling, 4);
    await session.open(signal);
    const failure = await session.verify(empty, signal).catch((error) => error);
    expect(failure).toBeInstanceOf(GpuServiceError);
    expect(failure.kind).toBe("invalid_response");
    expect(failure.message).toContain("committed_len = 5, expected 2");
  });

  it("signs every request", async () => {
    const seen: Headers[] = [];
    const fetchImpl = (async (_input: string | URL | Request, init?: RequestInit) => {
      seen.push(new Headers(init?.headers));
      return new Response(JSON.stringify({ deleted: true }), { status: 200 });
    }) as typeof fetch;
    await new GpuClient({ baseUrl: "http://127.0.0.1:9/", secret: "s", timeoutMs: 1000, fetch: fetchImpl }).deleteSession("x");
    expect(seen[0].get("X-EdgeSpec-Signature")).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(Number(seen[0].get("X-EdgeSpec-Timestamp"))).toBeGreaterThan(1_700_000_000);
  });
});
