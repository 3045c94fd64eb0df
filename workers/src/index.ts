/**
 * Worker entry: the HTTP API (default export), the Workers RPC entrypoint for service bindings,
 * and the Durable Object class that persists drafter state.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { app, completeRequest } from "./app.ts";
import { ApiError } from "./openai/errors.ts";
import { parseChatRequest, parseCompletionRequest, type GenerationRequest } from "./openai/request.ts";
import type { EdgeEnv } from "./runtime.ts";

export { DrafterStateStore } from "./drafter-state-store.ts";

/** Result of an RPC method: the HTTP status and the JSON body the same request gets over HTTP. */
export interface RpcResult {
  status: number;
  body: unknown;
}

/**
 * Completion over Workers RPC. Bind it from another worker with
 * `services = [{ binding = "EDGESPEC", service = "edgespec", entrypoint = "EdgeSpecRpc" }]` and call
 * `await env.EDGESPEC.complete({ model, prompt, max_tokens })`. Streaming is not offered here:
 * `stream: true` is rejected.
 */
export class EdgeSpecRpc extends WorkerEntrypoint<EdgeEnv> {
  async complete(body: Record<string, unknown>): Promise<RpcResult> {
    return this.run(body, parseCompletionRequest);
  }

  async chat(body: Record<string, unknown>): Promise<RpcResult> {
    return this.run(body, parseChatRequest);
  }

  private async run(body: unknown, parse: (body: Record<string, unknown>) => GenerationRequest): Promise<RpcResult> {
    try {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new ApiError(400, "invalid_request_error", "The request must be an object with the OpenAI request fields.", null, "invalid_json");
      }
      const request = parse(body as Record<string, unknown>);
      if (request.stream) throw new ApiError(400, "invalid_request_error", "stream is not supported over RPC; call the HTTP API to stream.", "stream", "unsupported_parameter");
      const response = await completeRequest(this.env, request, (promise) => this.ctx.waitUntil(promise), new AbortController().signal);
      return { status: 200, body: response };
    } catch (error) {
      if (error instanceof ApiError) return { status: error.status, body: error.toJSON() };
      console.error("RPC completion failed:", error);
      const internal = new ApiError(500, "server_error", "The server failed to process the request; see the worker logs.", null, "internal_error");
      return { status: 500, body: internal.toJSON() };
    }
  }
}

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<EdgeEnv>;
