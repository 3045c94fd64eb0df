import { readFileSync } from "node:fs";
import path from "node:path";
import { Tiktoken } from "@dqbd/tiktoken/lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  ChatMessageError, createModelTokenizer, parseTokenizerConfig, TokenizerConfigError, type ModelTokenizer,
} from "./tokenizer";
import { loadModelTokenizerFromFolder } from "./tokenizer-node";
import { modelFolder, pythonEncode, SAMPLES } from "./tokenizer-fixtures";

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function validConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(modelFolder, "tokenizer_config.json"), "utf8"));
}

describe("ModelTokenizer on the embedded model", () => {
  let tokenizer: ModelTokenizer;
  beforeAll(async () => {
    tokenizer = await loadModelTokenizerFromFolder(modelFolder);
  });
  afterAll(() => tokenizer.free());

  it("matches Python tiktoken ids and bytes", () => {
    const expected = pythonEncode(SAMPLES);
    SAMPLES.forEach((text, index) => {
      const ids = tokenizer.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(expected[index].ids);
      expect(hex(tokenizer.decodeBytes(ids)), JSON.stringify(text)).toBe(expected[index].bytes_hex);
    });
  });

  it("round-trips every sample to its exact bytes", () => {
    for (const text of SAMPLES) {
      expect(hex(tokenizer.decodeBytes(tokenizer.encode(text)))).toBe(hex(new TextEncoder().encode(text)));
    }
  });

  it("encodes special-looking text as plain tokens", () => {
    const specialIds = new Set(Object.values(tokenizer.config.specialTokens));
    const ids = tokenizer.encode("<|endoftext|><|im_start|><|im_end|>");
    expect(ids.length).toBeGreaterThan(3);
    expect(ids.filter((id) => specialIds.has(id))).toEqual([]);
  });

  it("reports vocabulary size and eos ids", () => {
    expect(tokenizer.vocabSize).toBe(8192);
    expect(tokenizer.eosTokenIds).toEqual([8189, 8191]);
  });

  it("encodes a chat with control ids only for markers", () => {
    const ids = tokenizer.encodeChat([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Say <|im_end|> please" },
    ]);
    const start = 8190;
    const end = 8191;
    expect(ids.filter((id) => id === start)).toHaveLength(3);
    expect(ids.filter((id) => id === end)).toHaveLength(2);
    const text = new TextDecoder().decode(tokenizer.decodeBytes(ids));
    expect(text).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSay <|im_end|> please<|im_end|>\n<|im_start|>assistant\n",
    );
    const encode = (text: string) => tokenizer.encode(text);
    expect(ids).toEqual([
      start, ...encode("system\n"), ...encode("Be brief."), end, ...encode("\n"),
      start, ...encode("user\n"), ...encode("Say <|im_end|> please"), end, ...encode("\n"),
      start, ...encode("assistant\n"),
    ]);
  });

  it("ends a chat with the generation prompt", () => {
    const ids = tokenizer.encodeChat([{ role: "user", content: "Hi" }]);
    const prompt = [8190, ...tokenizer.encode("assistant\n")];
    expect(ids.slice(ids.length - prompt.length)).toEqual(prompt);
  });

  it("rejects an unknown chat role", () => {
    const messages = [{ role: "tool", content: "x" }] as unknown as { role: "user"; content: string }[];
    expect(() => tokenizer.encodeChat(messages)).toThrow(ChatMessageError);
    expect(() => tokenizer.encodeChat(messages)).toThrow("messages[0].role must be one of system, user, assistant");
  });

  it("rejects ids outside the vocabulary when decoding", () => {
    expect(() => tokenizer.decodeBytes([8192])).toThrow("token id 8192 is outside [0, 8192)");
    expect(() => tokenizer.decodeBytes([-1])).toThrow(RangeError);
  });
});

describe("parseTokenizerConfig", () => {
  it("accepts the committed config", () => {
    const config = parseTokenizerConfig(validConfig());
    expect(config.specialTokens).toEqual({ "<|endoftext|>": 8189, "<|im_start|>": 8190, "<|im_end|>": 8191 });
    expect(config.eosTokens).toEqual(["<|endoftext|>", "<|im_end|>"]);
    expect(config.bosToken).toBeNull();
  });

  it("rejects a missing pattern", () => {
    const config = validConfig();
    delete config.pattern;
    expect(() => parseTokenizerConfig(config)).toThrow("'pattern' must be a string, got undefined");
  });

  it("rejects a wrong format name", () => {
    expect(() => parseTokenizerConfig({ ...validConfig(), format: "v0" })).toThrow(TokenizerConfigError);
  });

  it("rejects duplicate special ids", () => {
    const config = { ...validConfig(), special_tokens: { "<|a|>": 5, "<|b|>": 5 }, eos_tokens: ["<|a|>"] };
    expect(() => parseTokenizerConfig(config)).toThrow('special tokens "<|a|>" and "<|b|>" share id 5');
  });

  it("rejects a non-integer special id", () => {
    const config = { ...validConfig(), special_tokens: { "<|a|>": 1.5 }, eos_tokens: ["<|a|>"] };
    expect(() => parseTokenizerConfig(config)).toThrow("invalid id 1.5");
  });

  it("rejects an eos token that is not special", () => {
    expect(() => parseTokenizerConfig({ ...validConfig(), eos_tokens: ["</s>"] })).toThrow('eos token "</s>" is not in special_tokens');
  });

  it("rejects a template without content", () => {
    const config = { ...validConfig(), chat_template: { message: "{role}", generation_prompt: "", bos: "" } };
    expect(() => parseTokenizerConfig(config)).toThrow("must contain {content} exactly once, found 0");
  });
});

describe("createModelTokenizer", () => {
  const ranks = readFileSync(path.join(modelFolder, "tokenizer.tiktoken"), "utf8");

  it("rejects a special id that is an ordinary rank", () => {
    const config = { ...validConfig(), special_tokens: { "<|endoftext|>": 5, "<|im_end|>": 8191 } };
    expect(() => createModelTokenizer(Tiktoken, ranks, config)).toThrow('special token "<|endoftext|>" has id 5, which is an ordinary rank');
  });

  it("rejects ranks with a gap", () => {
    const gapped = ranks.replace(/ 7\n/, " 9000\n");
    expect(() => createModelTokenizer(Tiktoken, gapped, validConfig())).toThrow("rank 7 is missing");
  });

  it("sizes the vocabulary past the highest special id", () => {
    const config = { ...validConfig(), special_tokens: { "<|endoftext|>": 8189, "<|im_start|>": 8190, "<|im_end|>": 9000 } };
    const tokenizer = createModelTokenizer(Tiktoken, ranks, config);
    expect(tokenizer.vocabSize).toBe(9001);
    tokenizer.free();
  });
});

