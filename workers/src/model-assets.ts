/**
 * The embedded model's tokenizer, bundled into the worker: the BPE ranks as a text module, the
 * config as JSON and tiktoken's wasm as a compiled module. Initialised once per isolate.
 */
import wasm from "@dqbd/tiktoken/lite/tiktoken_bg.wasm";
import ranksText from "../../models/edgespec-tiny/tokenizer.tiktoken";
import tokenizerConfig from "../../models/edgespec-tiny/tokenizer_config.json";
import type { ChatMessage as TokenizerMessage, ModelTokenizer } from "../../shared/tokenizer.ts";
import { loadModelTokenizerInWorker } from "../../shared/tokenizer-workerd.ts";
import type { EdgeTokenizer } from "./generate.ts";

let tokenizer: Promise<EdgeTokenizer> | null = null;

export function loadEdgeTokenizer(): Promise<EdgeTokenizer> {
  tokenizer ??= loadModelTokenizerInWorker(wasm, ranksText, tokenizerConfig).then(adapt);
  return tokenizer;
}

/** Adapts the tokenizer to the edge; maps OpenAI's "developer" role (the newer name of "system") to "system", the only one the chat template has. */
function adapt(model: ModelTokenizer): EdgeTokenizer {
  return {
    vocabSize: model.vocabSize,
    eosTokenIds: model.eosTokenIds,
    encode: (text) => model.encode(text),
    encodeChat: (messages) =>
      model.encodeChat(messages.map((message) => ({ role: (message.role === "developer" ? "system" : message.role) as TokenizerMessage["role"], content: message.content }))),
    decodeBytes: (ids) => model.decodeBytes(ids),
  };
}
