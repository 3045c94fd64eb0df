// A file of its own: the workerd loader instantiates tiktoken's wasm through
// `@dqbd/tiktoken/lite/init`, which must not share a module graph with `@dqbd/tiktoken/lite`.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { modelFolder, pythonEncode, root, SAMPLES } from "./tokenizer-fixtures";
import { loadModelTokenizerInWorker } from "./tokenizer-workerd";

describe("loadModelTokenizerInWorker", () => {
  it("matches Python tiktoken ids", async () => {
    const wasmPath = path.join(root, "node_modules", "@dqbd", "tiktoken", "lite", "tiktoken_bg.wasm");
    const wasm = new WebAssembly.Module(readFileSync(wasmPath));
    const ranks = readFileSync(path.join(modelFolder, "tokenizer.tiktoken"), "utf8");
    const config = JSON.parse(readFileSync(path.join(modelFolder, "tokenizer_config.json"), "utf8"));
    const tokenizer = await loadModelTokenizerInWorker(wasm, ranks, config);
    const expected = pythonEncode(SAMPLES);
    SAMPLES.forEach((text, index) => {
      expect(tokenizer.encode(text), JSON.stringify(text)).toEqual(expected[index].ids);
    });
    tokenizer.free();
  });

  it("reuses the first wasm instance", async () => {
    const wasm = new WebAssembly.Module(readFileSync(path.join(root, "node_modules", "@dqbd", "tiktoken", "lite", "tiktoken_bg.wasm")));
    const ranks = readFileSync(path.join(modelFolder, "tokenizer.tiktoken"), "utf8");
    const config = JSON.parse(readFileSync(path.join(modelFolder, "tokenizer_config.json"), "utf8"));
    const first = await loadModelTokenizerInWorker(wasm, ranks, config);
    const second = await loadModelTokenizerInWorker(wasm, ranks, config);
    expect(second.encode("hello world")).toEqual(first.encode("hello world"));
    first.free();
    second.free();
  });
});
