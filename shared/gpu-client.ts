/**
 * Typed client for the GPU verification service: signs every call, applies a per-call timeout,
 * honours an abort signal, and turns non-2xx responses into GpuServiceError.
 */
import {
  parseCreateSessionResponse,
  parseErrorBody,
  parseModelInfo,
  parseVerifyResponse,
  signRequest,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  type CreateSessionResponse,
  type DraftTreeWire,
  type ModelInfo,
  type SamplingWire,
  type VerifyResponse,
  ProtocolError,
} from "./protocol.ts";

/** Failure class of a GPU service call, as the edge reacts to it. */
export type GpuFailureKind =
  | "unreachable" // connection refused, DNS failure, reset
  | "timeout"
  | "aborted" // the caller's signal fired (client disconnected)
  | "rejected" // the service returned a protocol error (4xx/5xx)
  | "invalid_response"; // the response broke the protocol

export class GpuServiceError extends Error {
  constructor(
    readonly kind: GpuFailureKind,
    message: string,
    /** HTTP status of the service's response, or 0 when there was none. */
    readonly status = 0,
    /** The protocol error code, e.g. "base_len_mismatch". */
    readonly code: string | null = null,
    /** The committed length a 409 reports. */
    readonly committedLen: number | null = null,
  ) {
    super(message);
    this.name = "GpuServiceError";
  }
}

export interface GpuClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8000 (no trailing path). */
  baseUrl: string;
  secret: string;
  /** Per-call timeout in milliseconds. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

export interface VerifyCall {
  baseLen: number;
  append: number[];
  tree: DraftTreeWire;
  sampling: SamplingWire;
  topK: number;
  logprobs: boolean;
}

export class GpuClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: GpuClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new Error(`GPU service URL ${JSON.stringify(options.baseUrl)} is not a valid URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`GPU service URL ${options.baseUrl} must use http or https`);
    }
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  async modelInfo(signal?: AbortSignal): Promise<ModelInfo> {
    const answer = await this.call("GET", "/v1/model", null, signal);
    return checked(() => parseModelInfo(answer));
  }

  async createSession(tokens: readonly number[], signal?: AbortSignal): Promise<CreateSessionResponse> {
    const answer = await this.call("POST", "/v1/sessions", { tokens }, signal);
    return checked(() => parseCreateSessionResponse(answer));
  }

  async verify(
    sessionId: string,
    call: VerifyCall,
    model: { vocabSize: number; eosTokenIds: readonly number[] },
    signal?: AbortSignal,
  ): Promise<VerifyResponse> {
    const body = {
      base_len: call.baseLen,
      append: call.append,
      tree: call.tree,
      sampling: call.sampling,
      top_k: call.topK,
      logprobs: call.logprobs,
    };
    const answer = await this.call("POST", `/v1/sessions/${encodeURIComponent(sessionId)}/verify`, body, signal);
    return checked(() =>
      parseVerifyResponse(answer, {
        baseLen: call.baseLen,
        appendLen: call.append.length,
        tree: call.tree,
        vocabSize: model.vocabSize,
        eosTokenIds: model.eosTokenIds,
      }),
    );
  }

  /** Deletes a session; an unknown session counts as deleted. */
  async deleteSession(sessionId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call("DELETE", `/v1/sessions/${encodeURIComponent(sessionId)}`, null, signal);
    } catch (error) {
      if (error instanceof GpuServiceError && error.status === 404) return;
      throw error;
    }
  }

  private async call(method: "GET" | "POST" | "DELETE", path: string, payload: unknown, signal?: AbortSignal): Promise<unknown> {
    const body = payload === null ? "" : JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: await signRequest(this.options.secret, timestamp, method, path, body),
    };
    if (payload !== null) headers["content-type"] = "application/json";

    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(this.baseUrl + path, { method, headers, body: payload === null ? undefined : body, signal: combined });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw new GpuServiceError("aborted", `${method} ${path} was aborted by the caller`);
      if (timeout.aborted) throw new GpuServiceError("timeout", `${method} ${path} timed out after ${this.options.timeoutMs} ms`);
      throw new GpuServiceError("unreachable", `${method} ${path} failed: ${(error as Error).message}`);
    }

    let json: unknown;
    try {
      json = text.length === 0 ? null : JSON.parse(text);
    } catch {
      throw new GpuServiceError("invalid_response", `${method} ${path} returned status ${response.status} with a body that is not JSON: ${text.slice(0, 120)}`, response.status);
    }
    if (response.ok) return json;

    const failure = parseErrorBody(json);
    if (failure === null) {
      throw new GpuServiceError("invalid_response", `${method} ${path} returned status ${response.status} without a protocol error body: ${text.slice(0, 120)}`, response.status);
    }
    throw new GpuServiceError(
      "rejected",
      `${method} ${path} returned status ${response.status} ${failure.error.code}: ${failure.error.message}`,
      response.status,
      failure.error.code,
      failure.committed_len ?? null,
    );
  }
}

function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ProtocolError) throw new GpuServiceError("invalid_response", error.message);
    throw error;
  }
}
