/**
 * Loads the model tokenizer inside workerd, where tiktoken's wasm must be instantiated by hand.
 * NOTE: do not also import `@dqbd/tiktoken/lite` in the same isolate. Both bind one JS glue module
 * to their own wasm instance, and the second binding breaks the first with a wasm "unreachable"
 * trap (seen with @dqbd/tiktoken 1.0.22 under Node 20).
 *
 * The worker imports the compiled module itself (wrangler's CompiledWasm rule):
 *
 *   import wasm from "@dqbd/tiktoken/lite/tiktoken_bg.wasm";
 *   const tokenizer = await loadModelTokenizerInWorker(wasm, ranksText, configJson);
 */
import { init, Tiktoken } from "@dqbd/tiktoken/lite/init";

import { createModelTokenizer, type ModelTokenizer } from "./tokenizer";

let initialised: Promise<unknown> | undefined;

/** Instantiates the wasm once per isolate; later calls reuse the first instance. */
function initTiktoken(wasm: WebAssembly.Module): Promise<unknown> {
  initialised ??= init((imports) => WebAssembly.instantiate(wasm, imports));
  return initialised;
}

export async function loadModelTokenizerInWorker(
  wasm: WebAssembly.Module,
  ranksText: string,
  configJson: unknown,
): Promise<ModelTokenizer> {
  await initTiktoken(wasm);
  return createModelTokenizer(Tiktoken, ranksText, configJson);
}
