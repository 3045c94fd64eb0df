import { describe, expect, it } from "vitest";
import { ApiError } from "./errors.ts";
import { parseChatRequest, parseCompletionRequest, parseJsonBody } from "./request.ts";

function rejection(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("expected an ApiError, but the request was accepted");
}

const chat = (fields: Record<string, unknown>) => parseChatRequest({ model: "m", messages: [{ role: "user", content: "hi" }], ...fields });
const completion = (fields: Record<string, unknown>) => parseCompletionRequest({ model: "m", prompt: "hi", ...fields });

describe("request parsing", () => {
  it("reads a full chat request", () => {
    const request = chat({
      max_completion_tokens: 20, temperature: 0, top_p: 0.5, seed: 7, stop: "\n", stream: true,
      stream_options: { include_usage: true }, user: "u1", speculation: { enabled: true, drafters: ["trie", "trie", "context"], max_budget: 16 },
    });
    expect(request).toEqual({
      endpoint: "chat.completions", model: "m", prompt: { kind: "chat", messages: [{ role: "user", content: "hi" }] },
      maxTokens: 20, temperature: 0, topP: 0.5, seed: 7, stop: ["\n"], stream: true, includeUsage: true, user: "u1",
      speculation: { enabled: true, drafters: ["trie", "context"], maxBudget: 16 },
    });
  });

  it("reads token-id prompts and text parts", () => {
    expect(completion({ prompt: [1, 2, 3] }).prompt).toEqual({ kind: "tokens", tokens: [1, 2, 3] });
    expect(completion({ prompt: ["only one"] }).prompt).toEqual({ kind: "text", text: "only one" });
    const parts = chat({ messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }] });
    expect(parts.prompt).toEqual({ kind: "chat", messages: [{ role: "user", content: "ab" }] });
  });

  it("applies defaults", () => {
    const request = completion({});
    expect(request.maxTokens).toBeNull();
    expect(request.temperature).toBe(1);
    expect(request.topP).toBe(1);
    expect(request.stop).toEqual([]);
    expect(request.speculation).toEqual({ enabled: true, drafters: null, maxBudget: null });
  });

  const cases: [string, () => unknown, string | null, string][] = [
    ["invalid JSON", () => parseJsonBody("{"), null, "invalid_json"],
    ["non-object body", () => parseJsonBody("[1]"), null, "invalid_json"],
    ["missing model", () => parseChatRequest({ messages: [] }), "model", "missing_required_parameter"],
    ["mistyped model", () => chat({ model: 3 }), "model", "invalid_type"],
    ["missing messages", () => parseChatRequest({ model: "m" }), "messages", "missing_required_parameter"],
    ["empty messages", () => chat({ messages: [] }), "messages", "invalid_type"],
    ["unknown role", () => chat({ messages: [{ role: "robot", content: "x" }] }), "messages[0].role", "invalid_value"],
    ["image content", () => chat({ messages: [{ role: "user", content: [{ type: "image_url" }] }] }), "messages[0].content[0]", "unsupported_parameter"],
    ["missing prompt", () => parseCompletionRequest({ model: "m" }), "prompt", "missing_required_parameter"],
    ["mistyped prompt", () => completion({ prompt: { text: "x" } }), "prompt", "invalid_type"],
    ["batched prompt", () => completion({ prompt: ["a", "b"] }), "prompt", "unsupported_parameter"],
    ["zero max_tokens", () => completion({ max_tokens: 0 }), "max_tokens", "invalid_value"],
    ["fractional max_tokens", () => completion({ max_tokens: 1.5 }), "max_tokens", "invalid_value"],
    ["temperature above 2", () => completion({ temperature: 2.5 }), "temperature", "invalid_value"],
    ["string temperature", () => completion({ temperature: "hot" }), "temperature", "invalid_type"],
    ["top_p of 0", () => completion({ top_p: 0 }), "top_p", "invalid_value"],
    ["top_p above 1", () => completion({ top_p: 1.5 }), "top_p", "invalid_value"],
    ["fractional seed", () => completion({ seed: 0.5 }), "seed", "invalid_type"],
    ["seed beyond 2^53", () => completion({ seed: 2 ** 70 }), "seed", "invalid_value"],
    ["five stop strings", () => completion({ stop: ["a", "b", "c", "d", "e"] }), "stop", "invalid_value"],
    ["empty stop string", () => completion({ stop: [""] }), "stop", "invalid_value"],
    ["numeric stop", () => completion({ stop: 5 }), "stop", "invalid_type"],
    ["n of 2", () => completion({ n: 2 }), "n", "unsupported_parameter"],
    ["logprobs on completions", () => completion({ logprobs: 3 }), "logprobs", "unsupported_parameter"],
    ["logprobs on chat", () => chat({ logprobs: true }), "logprobs", "unsupported_parameter"],
    ["stream_options without stream", () => chat({ stream_options: { include_usage: true } }), "stream_options", "invalid_value"],
    ["unknown drafter", () => chat({ speculation: { drafters: ["medusa"] } }), "speculation.drafters", "invalid_value"],
    ["negative budget", () => chat({ speculation: { max_budget: -1 } }), "speculation.max_budget", "invalid_value"],
    ["mistyped stream", () => chat({ stream: "yes" }), "stream", "invalid_type"],
  ];
  for (const [name, run, param, code] of cases) {
    it(`rejects ${name}`, () => {
      const error = rejection(run);
      expect(error.status).toBe(400);
      expect(error.type).toBe("invalid_request_error");
      expect(error.param).toBe(param);
      expect(error.code).toBe(code);
    });
  }
});
