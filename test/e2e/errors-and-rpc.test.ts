/** OpenAI-style errors for bad requests, and completion over Workers RPC. */
import { describe, expect, it } from "vitest";
import { MODEL, post, workerUrl } from "./helpers.ts";

const chat = (fields: Record<string, unknown>) => ({ model: MODEL, messages: [{ role: "user", content: "hi" }], ...fields });

describe("bad requests", () => {
  const cases: [string, string, unknown, number, string | null, string][] = [
    ["invalid JSON", "/v1/chat/completions", "{not json", 400, null, "invalid_json"],
    ["missing messages", "/v1/chat/completions", { model: MODEL }, 400, "messages", "missing_required_parameter"],
    ["mistyped prompt", "/v1/completions", { model: MODEL, prompt: 5 }, 400, "prompt", "invalid_type"],
    ["unknown model", "/v1/chat/completions", chat({ model: "gpt-4" }), 404, "model", "model_not_found"],
    ["prompt over the context", "/v1/completions", { model: MODEL, prompt: "word ".repeat(3000) }, 400, "prompt", "context_length_exceeded"],
    ["max_tokens over the context", "/v1/chat/completions", chat({ max_tokens: 1_000_000 }), 400, "max_completion_tokens", "context_length_exceeded"],
    ["max_tokens of zero", "/v1/completions", { model: MODEL, prompt: "a", max_tokens: 0 }, 400, "max_tokens", "invalid_value"],
    ["temperature of 3", "/v1/chat/completions", chat({ temperature: 3 }), 400, "temperature", "invalid_value"],
    ["top_p of 0", "/v1/chat/completions", chat({ top_p: 0 }), 400, "top_p", "invalid_value"],
    ["n of 2", "/v1/chat/completions", chat({ n: 2 }), 400, "n", "unsupported_parameter"],
    ["token id outside the vocabulary", "/v1/completions", { model: MODEL, prompt: [1, 999_999] }, 400, "prompt", "invalid_value"],
  ];
  for (const [name, path, body, status, param, code] of cases) {
    it(`answers ${name} with ${status}`, async () => {
      const result = await post(path, body);
      expect(result.status).toBe(status);
      expect(result.json.error.param).toBe(param);
      expect(result.json.error.code).toBe(code);
      expect(typeof result.json.error.message).toBe("string");
      expect(result.json.error.type).toBe("invalid_request_error");
    });
  }

  it("answers an unknown route with 404", async () => {
    const response = await fetch(`${workerUrl()}/v1/engines`);
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe("unknown_url");
  });

  it("still serves after bad requests", async () => {
    const result = await post("/v1/completions", { model: MODEL, prompt: "x = ", max_tokens: 3, temperature: 0 });
    expect(result.status).toBe(200);
    expect(result.json.usage.completion_tokens).toBeGreaterThan(0);
  });
});

describe("workers RPC", () => {
  it("returns the same completion as HTTP", async () => {
    const body = { model: MODEL, prompt: "import os\nimport sys\n", max_tokens: 24, temperature: 0 };
    const viaHttp = await post("/v1/completions", body);
    const viaRpc = await post("/rpc/completions", body);
    expect(viaRpc.status).toBe(200);
    expect(viaRpc.json.object).toBe("text_completion");
    expect(viaRpc.json.choices[0].text).toBe(viaHttp.json.choices[0].text);
    expect(viaRpc.json.usage.completion_tokens).toBe(viaHttp.json.usage.completion_tokens);
  });

  it("returns the same chat completion as HTTP", async () => {
    const body = chat({ max_tokens: 16, temperature: 0 });
    const viaHttp = await post("/v1/chat/completions", body);
    const viaRpc = await post("/rpc/chat/completions", body);
    expect(viaRpc.status).toBe(200);
    expect(viaRpc.json.object).toBe("chat.completion");
    expect(viaRpc.json.choices[0].message.content).toBe(viaHttp.json.choices[0].message.content);
  });

  it("returns errors with their status", async () => {
    const result = await post("/rpc/completions", { model: MODEL, prompt: "a", temperature: -1 });
    expect(result.status).toBe(400);
    expect(result.json.error.param).toBe("temperature");
  });
});
