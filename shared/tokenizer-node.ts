/** Loads a model folder's tokenizer in Node (scripts and tests), where tiktoken's wasm loads itself. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tiktoken } from "@dqbd/tiktoken/lite";

import { createModelTokenizer, type ModelTokenizer } from "./tokenizer";

export const RANKS_FILE = "tokenizer.tiktoken";
export const CONFIG_FILE = "tokenizer_config.json";

export async function loadModelTokenizerFromFolder(folder: string): Promise<ModelTokenizer> {
  const [ranksText, configText] = await Promise.all([
    readFile(path.join(folder, RANKS_FILE), "utf8"),
    readFile(path.join(folder, CONFIG_FILE), "utf8"),
  ]);
  let configJson: unknown;
  try {
    configJson = JSON.parse(configText);
  } catch (error) {
    throw new Error(`invalid JSON in ${path.join(folder, CONFIG_FILE)}: ${(error as Error).message}`);
  }
  return createModelTokenizer(Tiktoken, ranksText, configJson);
}
