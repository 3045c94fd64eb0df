/**
 * One generation's session on the GPU service, as a StepVerifier for the decode loop.
 *
 * The edge keeps its own copy of the committed tokens. When the service returns 409 (it lost
 * steps, or evicted the session), the step is resent with base_len = the service's committed_len
 * and the missing tokens in `append`. When the session is gone (404), a new one is created from
 * the committed tokens. Either recovery happens at most once per step.
 */
import { GpuClient, GpuServiceError } from "../../shared/gpu-client.ts";
import type { SamplingWire } from "../../shared/protocol.ts";
import type { DraftTree, StepResult, StepVerifier } from "./decode-loop.ts";

export interface SessionModel {
  vocabSize: number;
  eosTokenIds: readonly number[];
}

export class GpuSession implements StepVerifier {
  private sessionId: string | null = null;
  /** All committed tokens: the prompt, then every accepted token. */
  private readonly committed: number[];
  /** How many of them the service has stored, by the edge's last information. */
  private serviceLen = 0;
  /** Times the session was re-synchronised after a 409 or 404; reported in logs and usage. */
  resyncs = 0;

  constructor(
    private readonly client: GpuClient,
    private readonly model: SessionModel,
    prompt: readonly number[],
    private readonly sampling: SamplingWire,
    private readonly topK: number,
  ) {
    this.committed = [...prompt];
  }

  async open(signal: AbortSignal): Promise<void> {
    const created = await this.client.createSession(this.committed, signal);
    if (created.committed_len !== this.committed.length) {
      throw new GpuServiceError("invalid_response", `new session reports committed_len ${created.committed_len}, but ${this.committed.length} tokens were sent`);
    }
    this.sessionId = created.session_id;
    this.serviceLen = created.committed_len;
  }

  async verify(tree: DraftTree, signal: AbortSignal): Promise<StepResult> {
    if (this.sessionId === null) throw new Error("GpuSession.verify called before open()");
    const started = Date.now();
    let response;
    try {
      response = await this.verifyOnce(tree, signal);
    } catch (error) {
      if (!(error instanceof GpuServiceError) || error.kind !== "rejected") throw error;
      if (error.status === 409 && error.committedLen !== null && error.committedLen <= this.committed.length) {
        console.warn(`GPU session ${this.sessionId}: ${error.code}, service has ${error.committedLen} of ${this.committed.length} tokens; resending the rest`);
        this.serviceLen = error.committedLen;
      } else if (error.status === 404 && error.code === "session_not_found") {
        console.warn(`GPU session ${this.sessionId} not found; opening a new one with ${this.committed.length} tokens`);
        await this.open(signal);
      } else {
        throw error;
      }
      this.resyncs += 1;
      response = await this.verifyOnce(tree, signal);
    }
    this.committed.push(...response.accepted_tokens);
    this.serviceLen = response.committed_len;
    return {
      acceptedTokens: response.accepted_tokens,
      acceptedNodes: response.accepted_nodes,
      topK: response.top_k,
      forwardMs: response.timings.forward_ms,
      roundTripMs: Date.now() - started,
    };
  }

  /** Deletes the session; safe to call twice and when open() failed. */
  async close(): Promise<void> {
    if (this.sessionId === null) return;
    const id = this.sessionId;
    this.sessionId = null;
    await this.client.deleteSession(id);
  }

  private verifyOnce(tree: DraftTree, signal: AbortSignal) {
    return this.client.verify(
      this.sessionId!,
      {
        baseLen: this.serviceLen,
        append: this.committed.slice(this.serviceLen),
        tree,
        sampling: this.sampling,
        topK: this.topK,
        logprobs: false,
      },
      this.model,
      signal,
    );
  }
}
