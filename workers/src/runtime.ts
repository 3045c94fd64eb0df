/**
 * Per-isolate model runtime: tokenizer, model facts from the GPU service, the drafters'
 * Speculator and its persistence. Built once per isolate on the first request and reused.
 */
import { GpuClient, GpuServiceError } from "../../shared/gpu-client.ts";
import { ApiError } from "./openai/errors.ts";
import { toApiError, type ModelRuntime } from "./generate.ts";
import type { DrafterStateStore } from "./drafter-state-store.ts";
import { loadEdgeTokenizer } from "./model-assets.ts";
import { createSpeculator, type EdgeSpeculator } from "./speculator.ts";

export interface EdgeEnv {
  /** The model this worker serves; requests naming another model get 404. */
  MODEL_ID: string;
  /** Base URL of the GPU verification service, e.g. http://127.0.0.1:8000. */
  GPU_SERVICE_URL?: string;
  /** Shared HMAC secret; the service reads the same value from EDGESPEC_GPU_SECRET. */
  GPU_SERVICE_SECRET?: string;
  /** Timeout of one GPU service call in milliseconds (default 30000). */
  GPU_TIMEOUT_MS?: string;
  /** Draft tree budget in nodes when a request names none (default 32). */
  DEFAULT_TREE_BUDGET?: string;
  DRAFTER_STATE: DurableObjectNamespace<DrafterStateStore>;
  ASSETS: Fetcher;
}

/** Persist drafter state after this many requests or this much time, whichever comes first. */
const SAVE_EVERY_REQUESTS = 16;
const SAVE_EVERY_MS = 60_000;

interface IsolateState {
  key: string;
  runtime: Promise<ModelRuntime & { speculator: EdgeSpeculator }>;
}

let isolate: IsolateState | null = null;
let requestsSinceSave = 0;
let lastSaveAt = Date.now();

export async function loadRuntime(env: EdgeEnv, model: string, waitUntil: (promise: Promise<unknown>) => void): Promise<ModelRuntime> {
  if (model !== env.MODEL_ID) {
    throw new ApiError(404, "invalid_request_error", `The model ${JSON.stringify(model)} does not exist; this server serves ${JSON.stringify(env.MODEL_ID)}.`, "model", "model_not_found");
  }
  const key = `${env.MODEL_ID}|${env.GPU_SERVICE_URL}`;
  if (isolate === null || isolate.key !== key) {
    const runtime = buildRuntime(env);
    isolate = { key, runtime };
    // A failed build (GPU service down) is not cached: the next request tries again.
    runtime.catch(() => {
      if (isolate?.runtime === runtime) isolate = null;
    });
  }
  const runtime = await isolate.runtime;
  schedulePersist(env, runtime.speculator, waitUntil);
  return runtime;
}

async function buildRuntime(env: EdgeEnv): Promise<ModelRuntime & { speculator: EdgeSpeculator }> {
  if (!env.GPU_SERVICE_URL) {
    throw new ApiError(503, "service_unavailable_error", "GPU_SERVICE_URL is not configured; set it as a var of the worker.", null, "gpu_service_not_configured");
  }
  if (!env.GPU_SERVICE_SECRET) {
    throw new ApiError(503, "service_unavailable_error", "GPU_SERVICE_SECRET is not configured; set it with `wrangler secret put GPU_SERVICE_SECRET`.", null, "gpu_service_not_configured");
  }
  const client = new GpuClient({ baseUrl: env.GPU_SERVICE_URL, secret: env.GPU_SERVICE_SECRET, timeoutMs: positiveInt(env.GPU_TIMEOUT_MS, 30_000, "GPU_TIMEOUT_MS") });
  let info;
  try {
    info = await client.modelInfo();
  } catch (error) {
    throw error instanceof GpuServiceError ? toApiError(error) : error;
  }
  const tokenizer = await loadEdgeTokenizer();
  if (info.vocab_size !== tokenizer.vocabSize) {
    throw new ApiError(502, "server_error", `The GPU service's model has ${info.vocab_size} tokens but the edge tokenizer has ${tokenizer.vocabSize}; deploy matching models.`, null, "model_mismatch");
  }
  const speculator = await createSpeculator(env, tokenizer.vocabSize);
  await restoreState(env, speculator);
  return {
    id: env.MODEL_ID,
    tokenizer,
    info,
    client,
    speculator,
    beginSpeculation: (prompt, options) => speculator.beginRequest(prompt, { drafters: options.drafters ?? undefined, maxBudget: options.maxBudget }),
    defaultBudget: positiveInt(env.DEFAULT_TREE_BUDGET, 32, "DEFAULT_TREE_BUDGET"),
    topK: 8,
  };
}

function stateStub(env: EdgeEnv) {
  return env.DRAFTER_STATE.get(env.DRAFTER_STATE.idFromName(env.MODEL_ID));
}

async function restoreState(env: EdgeEnv, speculator: EdgeSpeculator): Promise<void> {
  try {
    const state = await stateStub(env).load();
    speculator.importState(state);
    const sizes = (["recycling", "trie"] as const).filter((part) => state[part] !== undefined).map((part) => `${part} ${state[part]!.length} B`);
    console.log(`Drafter state restored for ${env.MODEL_ID}: ${sizes.length > 0 ? sizes.join(", ") : "none stored yet"}.`);
  } catch (error) {
    // A cold start without history still decodes correctly, only with fewer accepted drafts.
    console.warn(`Restoring drafter state for ${env.MODEL_ID} failed; starting cold: ${(error as Error).message}`);
  }
}

function schedulePersist(env: EdgeEnv, speculator: EdgeSpeculator, waitUntil: (promise: Promise<unknown>) => void): void {
  requestsSinceSave += 1;
  if (requestsSinceSave < SAVE_EVERY_REQUESTS && Date.now() - lastSaveAt < SAVE_EVERY_MS) return;
  requestsSinceSave = 0;
  lastSaveAt = Date.now();
  // Saved in the background after the response; the state is from this request's start, so the
  // request's own tokens are persisted with the next save.
  const state = speculator.exportState();
  waitUntil(
    stateStub(env)
      .save(state)
      .then(() => console.log(`Drafter state saved for ${env.MODEL_ID}: recycling ${state.recycling.length} B, trie ${state.trie.length} B.`))
      .catch((error: unknown) => console.warn(`Saving drafter state for ${env.MODEL_ID} failed: ${(error as Error).message}`)),
  );
}

function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    throw new ApiError(500, "server_error", `${name} must be a positive integer, got ${JSON.stringify(value)}.`, null, "invalid_configuration");
  }
  return parsed;
}
