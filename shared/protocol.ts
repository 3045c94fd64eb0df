/**
 * Wire types and validators for the edge ↔ GPU verification service protocol
 * (gpu-service/PROTOCOL.md), plus the HMAC request signature. Runs in workerd and Node alike:
 * it only needs Web Crypto, TextEncoder and fetch.
 */

export interface DraftTreeWire {
  tokens: number[];
  /** parents[i] < i; -1 makes node i a child of the last committed token. */
  parents: number[];
}

export interface SamplingWire {
  /** 0 selects greedy decoding. */
  temperature: number;
  top_p: number;
  /** 0 turns top-k filtering off. */
  top_k: number;
  seed: number | null;
}

export interface CreateSessionRequest {
  tokens: number[];
}

export interface StepTimings {
  queue_ms: number;
  forward_ms: number;
  total_ms: number;
}

export interface CreateSessionResponse {
  session_id: string;
  committed_len: number;
  timings: StepTimings;
}

export interface VerifyRequest {
  base_len: number;
  append: number[];
  tree: DraftTreeWire;
  sampling: SamplingWire;
  top_k: number;
  logprobs: boolean;
}

export interface VerifyResponse {
  /** Accepted draft tokens along one path, then the bonus token; never empty. */
  accepted_tokens: number[];
  /** Tree indices of the accepted draft tokens. */
  accepted_nodes: number[];
  /** top_k[j]: the most likely ids of the distribution that produced accepted_tokens[j]. */
  top_k: number[][];
  logprobs: number[] | null;
  eos: boolean;
  committed_len: number;
  timings: StepTimings;
}

export interface ModelLimits {
  max_tree_nodes: number;
  max_tree_depth: number;
  max_top_k: number;
  max_session_tokens: number;
}

export interface ModelInfo {
  model: string;
  architecture: string;
  vocab_size: number;
  eos_token_ids: number[];
  max_context: number;
  dtype: string;
  device: string;
  limits: ModelLimits;
}

export interface GpuErrorBody {
  error: { type: string; code: string; message: string; param?: string | null };
  committed_len?: number;
}

/** A GPU service response that does not match the protocol. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

// ---------------------------------------------------------------------------------------------
// Response validation: the edge never trusts a field it has not checked.

type Json = unknown;

function fieldOf(value: Json, where: string): Record<string, Json> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${where}: expected a JSON object, got ${describe(value)}`);
  }
  return value as Record<string, Json>;
}

function describe(value: Json): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function nonNegativeInt(value: Json, where: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ProtocolError(`${where}: expected a non-negative integer, got ${describe(value)}`);
  }
  return value as number;
}

function finiteNumber(value: Json, where: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ProtocolError(`${where}: expected a finite number, got ${describe(value)}`);
  }
  return value;
}

function tokenIds(value: Json, where: string, vocabSize: number): number[] {
  if (!Array.isArray(value)) throw new ProtocolError(`${where}: expected an array, got ${describe(value)}`);
  return value.map((id, i) => {
    const token = nonNegativeInt(id, `${where}[${i}]`);
    if (token >= vocabSize) {
      throw new ProtocolError(`${where}[${i}] = ${token} is outside the vocabulary [0, ${vocabSize})`);
    }
    return token;
  });
}

function parseTimings(value: Json, where: string): StepTimings {
  const record = fieldOf(value, where);
  return {
    queue_ms: finiteNumber(record.queue_ms, `${where}.queue_ms`),
    forward_ms: finiteNumber(record.forward_ms, `${where}.forward_ms`),
    total_ms: finiteNumber(record.total_ms, `${where}.total_ms`),
  };
}

export function parseCreateSessionResponse(value: Json): CreateSessionResponse {
  const record = fieldOf(value, "create session response");
  if (typeof record.session_id !== "string" || record.session_id.length === 0) {
    throw new ProtocolError(`create session response.session_id: expected a non-empty string, got ${describe(record.session_id)}`);
  }
  return {
    session_id: record.session_id,
    committed_len: nonNegativeInt(record.committed_len, "create session response.committed_len"),
    timings: parseTimings(record.timings, "create session response.timings"),
  };
}

/**
 * Validates a verify response against the request that produced it: accepted nodes must form a
 * root-to-node path of the sent tree whose tokens match accepted_tokens, and committed_len must
 * grow by exactly the number of accepted tokens.
 */
export function parseVerifyResponse(
  value: Json,
  request: { baseLen: number; appendLen: number; tree: DraftTreeWire; vocabSize: number; eosTokenIds: readonly number[] },
): VerifyResponse {
  const where = "verify response";
  const record = fieldOf(value, where);
  const accepted = tokenIds(record.accepted_tokens, `${where}.accepted_tokens`, request.vocabSize);
  if (accepted.length === 0) throw new ProtocolError(`${where}.accepted_tokens is empty, but it always contains at least the bonus token`);
  if (!Array.isArray(record.accepted_nodes)) {
    throw new ProtocolError(`${where}.accepted_nodes: expected an array, got ${describe(record.accepted_nodes)}`);
  }
  const nodes = record.accepted_nodes.map((node, i) => nonNegativeInt(node, `${where}.accepted_nodes[${i}]`));
  checkAcceptedPath(nodes, accepted, request.tree, where);

  const eos = record.eos;
  if (typeof eos !== "boolean") throw new ProtocolError(`${where}.eos: expected a boolean, got ${describe(eos)}`);
  if (nodes.length === accepted.length && !eos) {
    throw new ProtocolError(`${where}: every accepted token is a tree node, so the bonus token is missing although eos = false`);
  }
  const eosIndex = accepted.findIndex((token) => request.eosTokenIds.includes(token));
  if (eosIndex !== -1 && eosIndex !== accepted.length - 1) {
    throw new ProtocolError(`${where}.accepted_tokens continues after EOS token ${accepted[eosIndex]} at index ${eosIndex}`);
  }
  if (eos !== (eosIndex !== -1)) {
    throw new ProtocolError(`${where}.eos = ${eos} but accepted_tokens ${describe(accepted)} ${eos ? "has no" : "ends with an"} EOS id`);
  }

  if (!Array.isArray(record.top_k) || record.top_k.length !== accepted.length) {
    throw new ProtocolError(`${where}.top_k: expected ${accepted.length} rows, got ${describe(record.top_k)}`);
  }
  const topK = record.top_k.map((row, j) => tokenIds(row, `${where}.top_k[${j}]`, request.vocabSize));

  let logprobs: number[] | null = null;
  if (record.logprobs !== null && record.logprobs !== undefined) {
    if (!Array.isArray(record.logprobs) || record.logprobs.length !== accepted.length) {
      throw new ProtocolError(`${where}.logprobs: expected null or ${accepted.length} numbers, got ${describe(record.logprobs)}`);
    }
    logprobs = record.logprobs.map((lp, j) => finiteNumber(lp, `${where}.logprobs[${j}]`));
  }

  const committedLen = nonNegativeInt(record.committed_len, `${where}.committed_len`);
  const expectedLen = request.baseLen + request.appendLen + accepted.length;
  if (committedLen !== expectedLen) {
    throw new ProtocolError(
      `${where}.committed_len = ${committedLen}, expected ${expectedLen} (base ${request.baseLen} + append ${request.appendLen} + accepted ${accepted.length})`,
    );
  }
  return {
    accepted_tokens: accepted,
    accepted_nodes: nodes,
    top_k: topK,
    logprobs,
    eos,
    committed_len: committedLen,
    timings: parseTimings(record.timings, `${where}.timings`),
  };
}

function checkAcceptedPath(nodes: number[], accepted: number[], tree: DraftTreeWire, where: string): void {
  // Without EOS there is one more accepted token (the bonus) than accepted nodes; an EOS drawn
  // inside the tree ends the path with no bonus token, so the counts may then be equal.
  if (nodes.length !== accepted.length - 1 && nodes.length !== accepted.length) {
    throw new ProtocolError(`${where}: ${nodes.length} accepted_nodes for ${accepted.length} accepted_tokens`);
  }
  let parent = -1;
  nodes.forEach((node, depth) => {
    if (node >= tree.tokens.length) {
      throw new ProtocolError(`${where}.accepted_nodes[${depth}] = ${node} is outside the tree of ${tree.tokens.length} nodes`);
    }
    if (tree.parents[node] !== parent) {
      throw new ProtocolError(`${where}.accepted_nodes[${depth}] = ${node} has parent ${tree.parents[node]}, expected ${parent}`);
    }
    if (tree.tokens[node] !== accepted[depth]) {
      throw new ProtocolError(`${where}.accepted_tokens[${depth}] = ${accepted[depth]} but node ${node} has token ${tree.tokens[node]}`);
    }
    parent = node;
  });
}

export function parseModelInfo(value: Json): ModelInfo {
  const where = "model info";
  const record = fieldOf(value, where);
  const limits = fieldOf(record.limits, `${where}.limits`);
  const vocabSize = nonNegativeInt(record.vocab_size, `${where}.vocab_size`);
  const text = (field: string): string => {
    const item = record[field];
    if (typeof item !== "string") throw new ProtocolError(`${where}.${field}: expected a string, got ${describe(item)}`);
    return item;
  };
  return {
    model: text("model"),
    architecture: text("architecture"),
    vocab_size: vocabSize,
    eos_token_ids: tokenIds(record.eos_token_ids, `${where}.eos_token_ids`, vocabSize),
    max_context: nonNegativeInt(record.max_context, `${where}.max_context`),
    dtype: text("dtype"),
    device: text("device"),
    limits: {
      max_tree_nodes: nonNegativeInt(limits.max_tree_nodes, `${where}.limits.max_tree_nodes`),
      max_tree_depth: nonNegativeInt(limits.max_tree_depth, `${where}.limits.max_tree_depth`),
      max_top_k: nonNegativeInt(limits.max_top_k, `${where}.limits.max_top_k`),
      max_session_tokens: nonNegativeInt(limits.max_session_tokens, `${where}.limits.max_session_tokens`),
    },
  };
}

/** Reads an error body; returns null when the body does not have the protocol's error shape. */
export function parseErrorBody(value: Json): GpuErrorBody | null {
  if (typeof value !== "object" || value === null) return null;
  const error = (value as Record<string, Json>).error;
  if (typeof error !== "object" || error === null) return null;
  const { type, code, message, param } = error as Record<string, Json>;
  if (typeof type !== "string" || typeof code !== "string" || typeof message !== "string") return null;
  const committed = (value as Record<string, Json>).committed_len;
  return {
    error: { type, code, message, param: typeof param === "string" ? param : null },
    committed_len: Number.isSafeInteger(committed) && (committed as number) >= 0 ? (committed as number) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Authentication: HMAC-SHA256 over timestamp, method, path and body.

export const TIMESTAMP_HEADER = "X-EdgeSpec-Timestamp";
export const SIGNATURE_HEADER = "X-EdgeSpec-Signature";

const encoder = new TextEncoder();

/** Returns "v1=" + hex HMAC-SHA256(secret, `${timestamp}\n${METHOD}\n${path}\n${body}`). */
export async function signRequest(secret: string, timestamp: number, method: string, path: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const message = `${timestamp}\n${method.toUpperCase()}\n${path}\n${body}`;
  const digest = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return `v1=${hex}`;
}
