/**
 * The OpenAI-compatible HTTP API (Hono): /v1/completions, /v1/chat/completions, /v1/models and
 * /healthz. Every failure leaves as an OpenAI-style error body; nothing escapes to the runtime.
 */
import { Hono, type Context } from "hono";
import { ApiError } from "./openai/errors.ts";
import { completeResponse, newIdentity, streamChunk, usageChunk } from "./openai/responses.ts";
import { parseChatRequest, parseCompletionRequest, parseJsonBody, type GenerationRequest } from "./openai/request.ts";
import { openGeneration, resolveMaxTokens, tokenizePrompt } from "./generate.ts";
import { loadRuntime, type EdgeEnv } from "./runtime.ts";

/** Largest request body accepted, in bytes: far above any prompt that fits the context. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

type AppContext = Context<{ Bindings: EdgeEnv }>;

export const app = new Hono<{ Bindings: EdgeEnv }>();

app.get("/healthz", (c) => c.json({ status: "ok" }));

app.get("/v1/models", (c) => {
  const id = c.env.MODEL_ID;
  return c.json({ object: "list", data: [{ id, object: "model", created: 0, owned_by: "edgespec" }] });
});

app.post("/v1/completions", (c) => handleGeneration(c, parseCompletionRequest));
app.post("/v1/chat/completions", (c) => handleGeneration(c, parseChatRequest));

app.notFound((c) => {
  const error = new ApiError(404, "not_found_error", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`, null, "unknown_url");
  return c.json(error.toJSON(), 404);
});

app.onError((error, c) => {
  if (error instanceof ApiError) return c.json(error.toJSON(), error.status);
  if (c.req.raw.signal?.aborted) {
    // The client disconnected, so this response is never read; the generation was cancelled.
    console.log(`${c.req.method} ${c.req.path} cancelled: the client disconnected.`);
    return new Response(null, { status: 499 });
  }
  console.error(`Unhandled error on ${c.req.method} ${c.req.path}:`, error);
  const internal = new ApiError(500, "server_error", "The server failed to process the request; see the worker logs.", null, "internal_error");
  return c.json(internal.toJSON(), 500);
});

async function readBody(c: AppContext): Promise<Record<string, unknown>> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    throw new ApiError(413, "invalid_request_error", `The request body has ${declared} bytes; the limit is ${MAX_BODY_BYTES}.`, null, "body_too_large");
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) {
    throw new ApiError(413, "invalid_request_error", `The request body has ${text.length} characters; the limit is ${MAX_BODY_BYTES}.`, null, "body_too_large");
  }
  return parseJsonBody(text);
}

/** Validates, tokenizes and opens the GPU session; everything that can fail with a status before streaming. */
async function prepare(env: EdgeEnv, request: GenerationRequest, waitUntil: (promise: Promise<unknown>) => void, signal: AbortSignal) {
  const runtime = await loadRuntime(env, request.model, waitUntil);
  const promptTokens = tokenizePrompt(runtime, request);
  const maxTokens = resolveMaxTokens(runtime, request, promptTokens.length);
  return openGeneration(runtime, request, promptTokens, maxTokens, signal, waitUntil);
}

/** Runs a non-streaming generation to its end; used by the HTTP routes and the RPC entrypoint. */
export async function completeRequest(env: EdgeEnv, request: GenerationRequest, waitUntil: (promise: Promise<unknown>) => void, signal: AbortSignal) {
  const generation = await prepare(env, request, waitUntil, signal);
  const result = await generation.run(() => {});
  return completeResponse(request, newIdentity(request), result);
}

async function handleGeneration(c: AppContext, parse: (body: Record<string, unknown>) => GenerationRequest): Promise<Response> {
  const request = parse(await readBody(c));
  const waitUntil = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);

  // Aborted when the client disconnects: the decode loop stops and the GPU session is deleted.
  const abort = new AbortController();
  c.req.raw.signal?.addEventListener("abort", () => abort.abort(new Error("the client disconnected")));
  if (!request.stream) return c.json(await completeRequest(c.env, request, waitUntil, abort.signal));

  const generation = await prepare(c.env, request, waitUntil, abort.signal);
  const identity = newIdentity(request);

  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start: (streamController) => void (controller = streamController),
    cancel: () => abort.abort(new Error("the client disconnected")),
  });
  const send = (data: unknown) => controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));

  const streaming = (async () => {
    let first = true;
    try {
      const result = await generation.run((text) => {
        send(streamChunk(request, identity, { text, first }));
        first = false;
      });
      if (first && request.endpoint === "chat.completions") send(streamChunk(request, identity, { text: "", first }));
      send(streamChunk(request, identity, { text: "", finishReason: result.finishReason }));
      if (request.includeUsage) send(usageChunk(request, identity, result));
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
    } catch (error) {
      if (abort.signal.aborted) {
        console.log(`Generation ${identity.id} stopped: the client disconnected.`);
        return;
      }
      const apiError = error instanceof ApiError ? error : new ApiError(500, "server_error", "The generation failed; see the worker logs.", null, "internal_error");
      if (!(error instanceof ApiError)) console.error(`Generation ${identity.id} failed:`, error);
      send(apiError.toJSON());
    } finally {
      try {
        controller.close();
      } catch {
        // Already closed because the client cancelled the stream.
      }
    }
  })();
  // Keeps the isolate working on the generation (and on deleting its GPU session) after the
  // response object has been returned.
  c.executionCtx.waitUntil(streaming);

  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" },
  });
}
