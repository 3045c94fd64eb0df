/**
 * Validation of OpenAI completion and chat completion requests into one GenerationRequest.
 * Every rejected field produces an ApiError naming the field (`param`) and the rule it broke.
 * Checks that need the model (unknown model, context length, token ids) happen in the handler.
 */
import { ApiError, invalidRequest } from "./errors.ts";

export const DRAFTER_NAMES = ["recycling", "trie", "corpus", "context"] as const;
export type DrafterName = (typeof DRAFTER_NAMES)[number];

export type ChatRole = "system" | "developer" | "user" | "assistant";
const CHAT_ROLES: readonly ChatRole[] = ["system", "developer", "user", "assistant"];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type PromptInput = { kind: "text"; text: string } | { kind: "tokens"; tokens: number[] } | { kind: "chat"; messages: ChatMessage[] };

export interface SpeculationRequest {
  enabled: boolean;
  /** null: the server's default set. */
  drafters: DrafterName[] | null;
  /** null: the server's default budget. */
  maxBudget: number | null;
}

export interface GenerationRequest {
  endpoint: "completions" | "chat.completions";
  model: string;
  prompt: PromptInput;
  /** null: as many as fit in the context. */
  maxTokens: number | null;
  temperature: number;
  topP: number;
  seed: number | null;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  user: string | null;
  speculation: SpeculationRequest;
}

export const MAX_STOP_STRINGS = 4;

type Body = Record<string, unknown>;

/** Parses the raw body text; invalid JSON or a non-object is a 400. */
export function parseJsonBody(text: string): Body {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidRequest(`The request body is not valid JSON: ${(error as Error).message}`, null, "invalid_json");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidRequest("The request body must be a JSON object.", null, "invalid_json");
  }
  return value as Body;
}

export function parseCompletionRequest(body: Body): GenerationRequest {
  rejectUnsupported(body);
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== 0) {
    throw invalidRequest("logprobs is not supported by this server; omit it or set it to null.", "logprobs", "unsupported_parameter");
  }
  if (body.echo !== undefined && body.echo !== false) {
    throw invalidRequest("echo is not supported by this server.", "echo", "unsupported_parameter");
  }
  if (body.suffix !== undefined && body.suffix !== null) {
    throw invalidRequest("suffix is not supported by this server.", "suffix", "unsupported_parameter");
  }
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1) {
    throw invalidRequest("best_of must be 1; this server generates one completion per request.", "best_of", "unsupported_parameter");
  }
  const common = parseCommon(body, ["max_tokens"]);
  return { endpoint: "completions", prompt: parsePrompt(body.prompt), ...common };
}

export function parseChatRequest(body: Body): GenerationRequest {
  rejectUnsupported(body);
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) {
    throw invalidRequest("logprobs is not supported by this server; omit it or set it to false.", "logprobs", "unsupported_parameter");
  }
  if (body.tools !== undefined && body.tools !== null) {
    throw invalidRequest("tools are not supported by this server.", "tools", "unsupported_parameter");
  }
  const common = parseCommon(body, ["max_completion_tokens", "max_tokens"]);
  return { endpoint: "chat.completions", prompt: { kind: "chat", messages: parseMessages(body.messages) }, ...common };
}

function rejectUnsupported(body: Body): void {
  if (body.n !== undefined && body.n !== null) {
    if (!Number.isInteger(body.n) || (body.n as number) < 1) throw invalidRequest(`n must be a positive integer, got ${show(body.n)}.`, "n");
    if (body.n !== 1) throw invalidRequest(`n = ${body.n} is not supported: this server generates one choice per request, so n must be 1.`, "n", "unsupported_parameter");
  }
  for (const penalty of ["presence_penalty", "frequency_penalty"]) {
    const value = body[penalty];
    if (value !== undefined && value !== null && value !== 0) {
      throw invalidRequest(`${penalty} is not supported by this server; omit it or set it to 0.`, penalty, "unsupported_parameter");
    }
  }
  if (body.logit_bias !== undefined && body.logit_bias !== null && Object.keys(body.logit_bias as object).length > 0) {
    throw invalidRequest("logit_bias is not supported by this server.", "logit_bias", "unsupported_parameter");
  }
}

function parseCommon(body: Body, maxTokenFields: string[]): Omit<GenerationRequest, "endpoint" | "prompt"> {
  if (typeof body.model !== "string" || body.model.length === 0) {
    throw invalidRequest(body.model === undefined ? "model is required." : `model must be a non-empty string, got ${show(body.model)}.`, "model", body.model === undefined ? "missing_required_parameter" : "invalid_type");
  }
  const stream = optionalBoolean(body, "stream") ?? false;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!stream) throw invalidRequest("stream_options is only allowed when stream is true.", "stream_options");
    const options = objectField(body.stream_options, "stream_options");
    includeUsage = optionalBoolean(options, "include_usage", "stream_options.include_usage") ?? false;
  }
  return {
    model: body.model,
    maxTokens: parseMaxTokens(body, maxTokenFields),
    temperature: optionalNumber(body, "temperature", 0, 2) ?? 1,
    topP: parseTopP(body),
    seed: parseSeed(body),
    stop: parseStop(body.stop),
    stream,
    includeUsage,
    user: optionalString(body, "user"),
    speculation: parseSpeculation(body.speculation),
  };
}

function parsePrompt(value: unknown): PromptInput {
  if (value === undefined) throw invalidRequest("prompt is required.", "prompt", "missing_required_parameter");
  if (typeof value === "string") return { kind: "text", text: value };
  if (Array.isArray(value)) {
    if (value.length === 1 && typeof value[0] === "string") return { kind: "text", text: value[0] };
    if (value.length > 0 && value.every((item) => Number.isSafeInteger(item) && item >= 0)) return { kind: "tokens", tokens: value as number[] };
    if (value.length > 1 && value.every((item) => typeof item === "string" || Array.isArray(item))) {
      throw invalidRequest(`Batched prompts are not supported: send one prompt per request, got ${value.length}.`, "prompt", "unsupported_parameter");
    }
  }
  throw invalidRequest(`prompt must be a string or a non-empty array of non-negative token ids, got ${show(value)}.`, "prompt", "invalid_type");
}

function parseMessages(value: unknown): ChatMessage[] {
  if (value === undefined) throw invalidRequest("messages is required.", "messages", "missing_required_parameter");
  if (!Array.isArray(value) || value.length === 0) throw invalidRequest(`messages must be a non-empty array, got ${show(value)}.`, "messages", "invalid_type");
  return value.map((item, i) => {
    const message = objectField(item, `messages[${i}]`);
    if (!CHAT_ROLES.includes(message.role as ChatRole)) {
      throw invalidRequest(`messages[${i}].role must be one of ${CHAT_ROLES.join(", ")}, got ${show(message.role)}.`, `messages[${i}].role`);
    }
    return { role: message.role as ChatRole, content: parseContent(message.content, `messages[${i}].content`) };
  });
}

/** Content is a string or an array of text parts, which are concatenated. */
function parseContent(value: unknown, param: string): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    return value
      .map((part, j) => {
        const record = objectField(part, `${param}[${j}]`);
        if (record.type !== "text" || typeof record.text !== "string") {
          throw invalidRequest(`${param}[${j}] must be a text part {"type": "text", "text": "..."}; other content types are not supported.`, `${param}[${j}]`, "unsupported_parameter");
        }
        return record.text;
      })
      .join("");
  }
  throw invalidRequest(`${param} must be a string or an array of text parts, got ${show(value)}.`, param, "invalid_type");
}

function parseMaxTokens(body: Body, fields: string[]): number | null {
  for (const field of fields) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw invalidRequest(`${field} must be a positive integer, got ${show(value)}.`, field);
    }
    return value as number;
  }
  return null;
}

function parseTopP(body: Body): number {
  const topP = optionalNumber(body, "top_p", 0, 1) ?? 1;
  if (topP === 0) throw invalidRequest("top_p must be greater than 0 and at most 1, got 0.", "top_p");
  return topP;
}

function parseSeed(body: Body): number | null {
  const value = body.seed;
  if (value === undefined || value === null) return null;
  // JSON numbers beyond 2^53 - 1 reach JavaScript rounded, so such a seed would be changed silently.
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw invalidRequest(`seed must be between -(2^53 - 1) and 2^53 - 1, got ${show(value)}.`, "seed");
  }
  if (!Number.isSafeInteger(value)) throw invalidRequest(`seed must be an integer, got ${show(value)}.`, "seed", "invalid_type");
  return value as number;
}

function parseStop(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const stops = typeof value === "string" ? [value] : value;
  if (!Array.isArray(stops) || !stops.every((stop) => typeof stop === "string")) {
    throw invalidRequest(`stop must be a string or an array of strings, got ${show(value)}.`, "stop", "invalid_type");
  }
  if (stops.length > MAX_STOP_STRINGS) throw invalidRequest(`stop may hold at most ${MAX_STOP_STRINGS} strings, got ${stops.length}.`, "stop");
  if (stops.some((stop) => stop.length === 0)) throw invalidRequest("stop strings must not be empty.", "stop");
  return stops as string[];
}

function parseSpeculation(value: unknown): SpeculationRequest {
  if (value === undefined || value === null) return { enabled: true, drafters: null, maxBudget: null };
  const record = objectField(value, "speculation");
  const enabled = optionalBoolean(record, "enabled", "speculation.enabled") ?? true;
  let drafters: DrafterName[] | null = null;
  if (record.drafters !== undefined && record.drafters !== null) {
    const names = record.drafters;
    if (!Array.isArray(names) || names.length === 0 || !names.every((name) => DRAFTER_NAMES.includes(name as DrafterName))) {
      throw invalidRequest(`speculation.drafters must be a non-empty array of ${DRAFTER_NAMES.join(", ")}, got ${show(names)}.`, "speculation.drafters");
    }
    drafters = [...new Set(names as DrafterName[])];
  }
  let maxBudget: number | null = null;
  if (record.max_budget !== undefined && record.max_budget !== null) {
    if (!Number.isSafeInteger(record.max_budget) || (record.max_budget as number) < 0) {
      throw invalidRequest(`speculation.max_budget must be a non-negative integer, got ${show(record.max_budget)}.`, "speculation.max_budget");
    }
    maxBudget = record.max_budget as number;
  }
  return { enabled, drafters, maxBudget };
}

// ---------------------------------------------------------------------------------------------

function objectField(value: unknown, param: string): Body {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidRequest(`${param} must be an object, got ${show(value)}.`, param, "invalid_type");
  }
  return value as Body;
}

function optionalBoolean(record: Body, field: string, param = field): boolean | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "boolean") throw invalidRequest(`${param} must be a boolean, got ${show(value)}.`, param, "invalid_type");
  return value;
}

function optionalString(record: Body, field: string): string | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalidRequest(`${field} must be a string, got ${show(value)}.`, field, "invalid_type");
  return value;
}

function optionalNumber(record: Body, field: string, min: number, max: number): number | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isFinite(value)) throw invalidRequest(`${field} must be a number, got ${show(value)}.`, field, "invalid_type");
  if (value < min || value > max) throw invalidRequest(`${field} must be between ${min} and ${max}, got ${value}.`, field);
  return value;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export { ApiError };
