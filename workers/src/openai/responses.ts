/** Builders for OpenAI response bodies and stream chunks, for both endpoints. */
import type { FinishReason } from "../decode-loop.ts";
import type { GenerationResult, SpeculationUsage } from "../generate.ts";
import type { GenerationRequest } from "./request.ts";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Extension: verify steps, drafted and accepted tokens, τ and per-drafter figures. */
  speculation: SpeculationUsage;
}

export interface ResponseIdentity {
  id: string;
  created: number;
  model: string;
}

export function newIdentity(request: GenerationRequest): ResponseIdentity {
  const prefix = request.endpoint === "chat.completions" ? "chatcmpl" : "cmpl";
  return { id: `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`, created: Math.floor(Date.now() / 1000), model: request.model };
}

export function usageOf(result: GenerationResult): Usage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
    speculation: result.speculation,
  };
}

export function completeResponse(request: GenerationRequest, identity: ResponseIdentity, result: GenerationResult) {
  const usage = usageOf(result);
  if (request.endpoint === "chat.completions") {
    return {
      ...identity,
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: result.finishReason }],
      usage,
    };
  }
  return {
    ...identity,
    object: "text_completion",
    choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason }],
    usage,
  };
}

/** Builds a stream chunk with text (the first chat chunk also has the role) or the finish reason. */
export function streamChunk(
  request: GenerationRequest,
  identity: ResponseIdentity,
  delta: { text: string; first?: boolean; finishReason?: FinishReason },
) {
  const finishReason = delta.finishReason ?? null;
  if (request.endpoint === "chat.completions") {
    const content = finishReason === null ? { ...(delta.first ? { role: "assistant" } : {}), content: delta.text } : {};
    return {
      ...identity,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: content, logprobs: null, finish_reason: finishReason }],
      ...(request.includeUsage ? { usage: null } : {}),
    };
  }
  return {
    ...identity,
    object: "text_completion",
    choices: [{ index: 0, text: delta.text, logprobs: null, finish_reason: finishReason }],
    ...(request.includeUsage ? { usage: null } : {}),
  };
}

/** Builds the last chunk when stream_options.include_usage is set: no choices, only usage. */
export function usageChunk(request: GenerationRequest, identity: ResponseIdentity, result: GenerationResult) {
  const object = request.endpoint === "chat.completions" ? "chat.completion.chunk" : "text_completion";
  return { ...identity, object, choices: [], usage: usageOf(result) };
}
