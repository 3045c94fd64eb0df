/**
 * The edge's protocol code against the example messages in gpu-service/protocol-examples/, which
 * the GPU service's tests also load: valid responses pass the edge's checks, and the requests the
 * edge sends have the same fields as the examples.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GpuClient } from "../shared/gpu-client.ts";
import { parseCreateSessionResponse, parseVerifyResponse } from "../shared/protocol.ts";
import { ROOT } from "../scripts/lib/stack.ts";

const EXAMPLES = join(ROOT, "gpu-service/protocol-examples");
const VOCAB_SIZE = 8192;
const EOS_TOKEN_IDS = [8189, 8191];

interface Example {
  description: string;
  method: string;
  path: string;
  request: Record<string, any> | null;
  status: number;
  response?: Record<string, any>;
  error_code?: string;
}

function load(kind: "valid" | "invalid"): [string, Example][] {
  const folder = join(EXAMPLES, kind);
  return readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .map((file) => [file, JSON.parse(readFileSync(join(folder, file), "utf8")) as Example]);
}

describe("valid protocol examples", () => {
  const examples = load("valid");

  it("include create and verify examples", () => {
    expect(examples.some(([, example]) => example.path === "/v1/sessions")).toBe(true);
    expect(examples.some(([, example]) => example.path.endsWith("/verify"))).toBe(true);
  });

  for (const [file, example] of examples) {
    if (example.path === "/v1/sessions") {
      it(`${file}: create response passes`, () => {
        expect(parseCreateSessionResponse(example.response).committed_len).toBe(example.request!.tokens.length);
      });
    }
    if (example.path.endsWith("/verify")) {
      it(`${file}: verify response passes`, () => {
        const request = example.request!;
        const parsed = parseVerifyResponse(example.response, {
          baseLen: request.base_len,
          appendLen: (request.append ?? []).length,
          tree: request.tree ?? { tokens: [], parents: [] },
          vocabSize: VOCAB_SIZE,
          eosTokenIds: EOS_TOKEN_IDS,
        });
        expect(parsed.accepted_tokens).toEqual(example.response!.accepted_tokens);
      });
    }
  }
});

describe("edge requests", () => {
  it("send the fields of the full verify example", async () => {
    const [, example] = load("valid").find(([file]) => file === "verify-greedy-tree.json")!;
    let sent: Record<string, unknown> = {};
    const fetchImpl = (async (_input: string | URL | Request, init?: RequestInit) => {
      sent = JSON.parse(String(init?.body));
      return new Response(JSON.stringify(example.response), { status: 200 });
    }) as typeof fetch;
    const client = new GpuClient({ baseUrl: "http://127.0.0.1:9", secret: "s", timeoutMs: 1000, fetch: fetchImpl });
    const request = example.request!;
    await client.verify(
      "s-1",
      { baseLen: request.base_len, append: request.append, tree: request.tree, sampling: request.sampling, topK: request.top_k, logprobs: request.logprobs },
      { vocabSize: VOCAB_SIZE, eosTokenIds: EOS_TOKEN_IDS },
    );
    expect(sent).toEqual(request);
  });
});

describe("invalid protocol examples", () => {
  it("a 409 gives the client the service's committed length", async () => {
    const [, example] = load("invalid").find(([file]) => file === "base-len-mismatch.json")!;
    const body = { error: { type: "conflict_error", code: example.error_code, message: "base_len 5 != committed_len 3" }, committed_len: (example as any).committed_len };
    const fetchImpl = (async () => new Response(JSON.stringify(body), { status: example.status })) as unknown as typeof fetch;
    const client = new GpuClient({ baseUrl: "http://127.0.0.1:9", secret: "s", timeoutMs: 1000, fetch: fetchImpl });
    const failure = await client
      .verify("s-1", { baseLen: 5, append: [], tree: { tokens: [], parents: [] }, sampling: { temperature: 0, top_p: 1, top_k: 0, seed: null }, topK: 8, logprobs: false }, { vocabSize: VOCAB_SIZE, eosTokenIds: EOS_TOKEN_IDS })
      .catch((error) => error);
    expect(failure.status).toBe(409);
    expect(failure.code).toBe("base_len_mismatch");
    expect(failure.committedLen).toBe(3);
  });
});
