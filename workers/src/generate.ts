/**
 * One generation from a validated request: tokenize, check limits, open a GPU session, run the
 * decode loop, delete the session. Shared by the HTTP routes and the RPC entrypoint.
 */
import type { GpuClient } from "../../shared/gpu-client.ts";
import { GpuServiceError } from "../../shared/gpu-client.ts";
import type { ModelInfo } from "../../shared/protocol.ts";
import { runDecodeLoop, type DraftSource, type FinishReason } from "./decode-loop.ts";
import { GpuSession } from "./gpu-session.ts";
import { ApiError, invalidRequest } from "./openai/errors.ts";
import type { DrafterName, GenerationRequest } from "./openai/request.ts";

export interface EdgeTokenizer {
  vocabSize: number;
  eosTokenIds: readonly number[];
  encode(text: string): number[];
  encodeChat(messages: readonly { role: string; content: string }[]): number[];
  decodeBytes(ids: readonly number[]): Uint8Array;
}

/** The drafters' per-request handle, as the loop and the usage report need it. */
export interface RequestDrafts extends DraftSource {
  stats(): { acceptedByDrafter: Record<string, number>; draftedByDrafter: Record<string, number> };
  finish(): void;
}

export interface ModelRuntime {
  id: string;
  tokenizer: EdgeTokenizer;
  info: ModelInfo;
  client: GpuClient;
  /** Starts the drafters for one request; called only when speculation is enabled. */
  beginSpeculation(prompt: readonly number[], options: { drafters: readonly DrafterName[] | null; maxBudget: number }): RequestDrafts;
  /** Default tree budget (nodes) when the request names none. */
  defaultBudget: number;
  /** Candidate ids per accepted position requested from the service (token recycling's food). */
  topK: number;
}

export interface SpeculationUsage {
  enabled: boolean;
  verify_steps: number;
  drafted_tokens: number;
  accepted_tokens: number;
  /** Tokens committed per verify step, bonus included. */
  tau: number;
  draft_ms: number;
  forward_ms: number;
  round_trip_ms: number;
  /** Per drafter: draft nodes it proposed and how many of them were accepted; null when off. */
  drafters: Record<string, { drafted: number; accepted: number }> | null;
  /** Times the GPU session had to be re-synchronised (409 or 404 recovered). */
  session_resyncs: number;
}

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  speculation: SpeculationUsage;
}

export function tokenizePrompt(runtime: ModelRuntime, request: GenerationRequest): number[] {
  const prompt = request.prompt;
  if (prompt.kind === "text") return runtime.tokenizer.encode(prompt.text);
  if (prompt.kind === "chat") return runtime.tokenizer.encodeChat(prompt.messages);
  const outside = prompt.tokens.findIndex((token) => token >= runtime.tokenizer.vocabSize);
  if (outside !== -1) {
    throw invalidRequest(`prompt[${outside}] = ${prompt.tokens[outside]} is not a token id of ${runtime.id} (vocabulary size ${runtime.tokenizer.vocabSize}).`, "prompt");
  }
  return prompt.tokens;
}

/** Returns the max_tokens to use, or throws the OpenAI-style 400 for a prompt or request that does not fit. */
export function resolveMaxTokens(runtime: ModelRuntime, request: GenerationRequest, promptTokens: number): number {
  const context = runtime.info.max_context;
  const promptParam = request.prompt.kind === "chat" ? "messages" : "prompt";
  if (promptTokens === 0) throw invalidRequest("The prompt is empty after tokenization; send at least one token.", promptParam);
  if (promptTokens >= context) {
    throw invalidRequest(
      `This model's maximum context length is ${context} tokens, but the prompt has ${promptTokens} tokens, which leaves no room for a completion.`,
      promptParam,
      "context_length_exceeded",
    );
  }
  const room = context - promptTokens;
  if (request.maxTokens === null) return room;
  if (request.maxTokens > room) {
    const field = request.endpoint === "chat.completions" ? "max_completion_tokens" : "max_tokens";
    throw invalidRequest(
      `This model's maximum context length is ${context} tokens. The prompt has ${promptTokens} tokens, so ${field} must be at most ${room}, got ${request.maxTokens}.`,
      field,
      "context_length_exceeded",
    );
  }
  return request.maxTokens;
}

export interface OpenGeneration {
  /** Runs the decode loop to its end and deletes the GPU session, also on failure. */
  run(onText: (text: string) => void | Promise<void>): Promise<GenerationResult>;
  /** Deletes the GPU session without decoding; for a caller that gives up before run(). */
  cancel(): Promise<void>;
}

/**
 * Opens the GPU session (the prompt's prefill) and returns a handle that decodes. Opening first
 * lets a streaming handler return "GPU service down" with a real status before any byte is sent.
 */
export async function openGeneration(
  runtime: ModelRuntime,
  request: GenerationRequest,
  promptTokens: number[],
  maxTokens: number,
  signal: AbortSignal,
  /** Keeps the session's deletion running after the response ends (ExecutionContext.waitUntil). */
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<OpenGeneration> {
  const limits = runtime.info.limits;
  const budget = Math.min(request.speculation.maxBudget ?? runtime.defaultBudget, limits.max_tree_nodes);
  const session = new GpuSession(
    runtime.client,
    { vocabSize: runtime.info.vocab_size, eosTokenIds: runtime.tokenizer.eosTokenIds },
    promptTokens,
    { temperature: request.temperature, top_p: request.topP, top_k: 0, seed: request.seed },
    Math.min(runtime.topK, limits.max_top_k),
  );
  // The session is deleted even when the client went away. A failed delete only costs GPU
  // memory until the service's session TTL expires, so it is logged and not raised.
  const close = () => {
    const deleted = session.close().catch((error) => console.warn(`Deleting the GPU session failed: ${(error as Error).message}`));
    waitUntil(deleted);
    return deleted;
  };
  try {
    await session.open(signal);
  } catch (error) {
    await close();
    throw toApiError(error, signal);
  }

  const run = async (onText: (text: string) => void | Promise<void>): Promise<GenerationResult> => {
    const drafts =
      request.speculation.enabled && budget > 0
        ? runtime.beginSpeculation(promptTokens, { drafters: request.speculation.drafters, maxBudget: budget })
        : null;
    try {
      const result = await runDecodeLoop(session, {
        maxTokens,
        maxTreeDepth: (committedLen) => Math.min(limits.max_tree_depth, runtime.info.max_context - committedLen - 1),
        promptLength: promptTokens.length,
        stop: request.stop,
        eosTokenIds: runtime.tokenizer.eosTokenIds,
        decodeBytes: (ids) => runtime.tokenizer.decodeBytes(ids),
        drafts,
        signal,
        onText,
      });
      const counts = result.counts;
      return {
        text: result.text,
        finishReason: result.finishReason,
        promptTokens: promptTokens.length,
        completionTokens: result.tokens.length,
        speculation: {
          enabled: drafts !== null,
          verify_steps: counts.verifySteps,
          drafted_tokens: counts.draftedTokens,
          accepted_tokens: counts.acceptedTokens,
          tau: round(counts.tau),
          draft_ms: round(counts.draftMs),
          forward_ms: round(counts.forwardMs),
          round_trip_ms: round(counts.roundTripMs),
          drafters: drafts ? drafterUsage(drafts.stats()) : null,
          session_resyncs: session.resyncs,
        },
      };
    } catch (error) {
      throw toApiError(error, signal);
    } finally {
      drafts?.finish();
      await close();
    }
  };
  return { run, cancel: close };
}

function drafterUsage(stats: ReturnType<RequestDrafts["stats"]>): Record<string, { drafted: number; accepted: number }> {
  const usage: Record<string, { drafted: number; accepted: number }> = {};
  for (const [name, drafted] of Object.entries(stats.draftedByDrafter)) usage[name] = { drafted, accepted: stats.acceptedByDrafter[name] ?? 0 };
  return usage;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Maps GPU service failures to the status a client of this API should see. */
export function toApiError(error: unknown, signal?: AbortSignal): unknown {
  if (!(error instanceof GpuServiceError)) return error;
  if (error.kind === "aborted" || signal?.aborted) return error;
  console.error(`GPU service call failed (${error.kind}, status ${error.status}): ${error.message}`);
  switch (error.kind) {
    case "unreachable":
      return new ApiError(503, "service_unavailable_error", "The GPU verification service is unreachable; retry later.", null, "gpu_service_unavailable");
    case "timeout":
      return new ApiError(504, "server_error", "The GPU verification service timed out; retry later.", null, "gpu_service_timeout");
    case "rejected":
      if (error.status === 503) {
        return new ApiError(503, "service_unavailable_error", "The GPU verification service is overloaded; retry later.", null, "gpu_service_overloaded");
      }
      if (error.status === 401) {
        return new ApiError(502, "server_error", "The GPU verification service rejected the edge's signature; check that GPU_SERVICE_SECRET matches the service's EDGESPEC_GPU_SECRET.", null, "gpu_service_auth");
      }
      return new ApiError(502, "server_error", `The GPU verification service rejected a step: ${error.message}`, null, "gpu_service_error");
    case "invalid_response":
      return new ApiError(502, "server_error", `The GPU verification service sent an invalid response: ${error.message}`, null, "gpu_service_error");
  }
  return error;
}
