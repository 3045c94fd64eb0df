/**
 * Builds corpus suffix-index shards (the ESSX format of shared/suffix-index/format.ts) from text or
 * JSON Lines files, for the worker's corpus drafter.
 *
 *   node --import tsx scripts/build-index.ts --out DIR [--tokenizer models/edgespec-tiny | --cl100k]
 *        [--field text] [--shard-tokens N] FILE...
 *
 * A .txt file is split into documents at blank lines. A .jsonl file contains one document per line,
 * either a JSON string or an object whose `--field` (default "text") is a string. Documents are
 * joined with the tokenizer's first EOS id, so a continuation that crosses into another document
 * passes through an EOS token first. Shards hold at most --shard-tokens tokens (default: as many as fit in 25 MiB). Writes
 * DIR/corpus-NNN.essx and DIR/manifest.json, and prints progress and statistics to stderr.
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { get_encoding } from "@dqbd/tiktoken";

import { crc32 } from "../shared/crc32.ts";
import { loadModelTokenizerFromFolder } from "../shared/tokenizer-node.ts";
import { maxTokensPerShard, serializeSuffixIndex, INDEX_FORMAT_VERSION } from "../shared/suffix-index/format.ts";
import { SuffixIndex } from "../shared/suffix-index/suffix-index.ts";

interface Options {
  out: string;
  tokenizer: string;
  cl100k: boolean;
  field: string;
  shardTokens: number;
  inputs: string[];
}

interface Encoder {
  name: string;
  vocabSize: number;
  separator: number;
  encode(text: string): number[];
  free(): void;
}

/** cl100k_base: 100256 ordinary ranks, special ids up to 100276; <|endoftext|> is 100257. */
const CL100K = { vocabSize: 100277, endOfText: 100257 };

function parseArgs(argv: string[]): Options {
  const options: Options = { out: "", tokenizer: "models/edgespec-tiny", cl100k: false, field: "text", shardTokens: 0, inputs: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`option ${flag} is missing its value`);
      return next;
    };
    if (flag === "--out") options.out = value();
    else if (flag === "--tokenizer") options.tokenizer = value();
    else if (flag === "--cl100k") options.cl100k = true;
    else if (flag === "--field") options.field = value();
    else if (flag === "--shard-tokens") options.shardTokens = Number(value());
    else if (flag.startsWith("--")) throw new Error(`unknown option ${flag}; see the header of scripts/build-index.ts`);
    else options.inputs.push(flag);
  }
  if (options.out === "") throw new Error("--out DIR is required");
  if (options.inputs.length === 0) throw new Error("give at least one input file (.txt or .jsonl)");
  if (options.shardTokens !== 0 && (!Number.isInteger(options.shardTokens) || options.shardTokens < 1)) {
    throw new Error(`--shard-tokens = ${options.shardTokens} must be a positive integer`);
  }
  return options;
}

async function loadEncoder(options: Options): Promise<Encoder> {
  if (options.cl100k) {
    const encoding = get_encoding("cl100k_base");
    return {
      name: "cl100k_base",
      vocabSize: CL100K.vocabSize,
      separator: CL100K.endOfText,
      encode: (text) => Array.from(encoding.encode_ordinary(text)),
      free: () => encoding.free(),
    };
  }
  const tokenizer = await loadModelTokenizerFromFolder(options.tokenizer);
  if (tokenizer.eosTokenIds.length === 0) throw new Error(`tokenizer in ${options.tokenizer} declares no EOS token to separate documents`);
  return {
    name: options.tokenizer,
    vocabSize: tokenizer.vocabSize,
    separator: tokenizer.eosTokenIds[0],
    encode: (text) => tokenizer.encode(text),
    free: () => tokenizer.free(),
  };
}

/** Yields the documents of one input file. */
function* readDocuments(file: string, field: string): Generator<string> {
  const text = readFileSync(file, "utf8");
  if (file.endsWith(".jsonl")) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      let record: unknown;
      try {
        record = JSON.parse(lines[i]);
      } catch (error) {
        throw new Error(`${file}:${i + 1}: invalid JSON (${(error as Error).message})`);
      }
      const document = typeof record === "string" ? record : (record as Record<string, unknown> | null)?.[field];
      if (typeof document !== "string") throw new Error(`${file}:${i + 1}: expected a string or an object with a string "${field}"`);
      yield document;
    }
  } else if (file.endsWith(".txt")) {
    for (const document of text.split(/\n\s*\n/)) if (document.trim() !== "") yield document;
  } else {
    throw new Error(`${file}: unsupported input, expected a .txt or .jsonl file`);
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const encoder = await loadEncoder(options);
  const shardTokens = options.shardTokens || maxTokensPerShard(encoder.vocabSize);
  if (shardTokens > maxTokensPerShard(encoder.vocabSize)) {
    throw new Error(`--shard-tokens = ${shardTokens} would exceed 25 MiB per shard; use at most ${maxTokensPerShard(encoder.vocabSize)}`);
  }
  mkdirSync(options.out, { recursive: true });

  const started = performance.now();
  const tokens: number[] = [];
  let documents = 0;
  let characters = 0;
  for (const file of options.inputs) {
    for (const document of readDocuments(file, options.field)) {
      if (documents > 0) tokens.push(encoder.separator);
      for (const id of encoder.encode(document)) tokens.push(id);
      documents++;
      characters += document.length;
      if (documents % 1000 === 0) process.stderr.write(`  tokenized ${documents} documents, ${tokens.length} tokens\n`);
    }
  }
  encoder.free();
  const tokenizeSeconds = (performance.now() - started) / 1000;
  process.stderr.write(`Tokenized ${documents} documents (${characters} characters) into ${tokens.length} tokens in ${tokenizeSeconds.toFixed(1)} s.\n`);
  if (tokens.length === 0) throw new Error("the inputs hold no text to index");

  const shards = [];
  let buildSeconds = 0;
  for (let start = 0, shard = 0; start < tokens.length; start += shardTokens, shard++) {
    const slice = tokens.slice(start, start + shardTokens);
    const buildStarted = performance.now();
    const index = SuffixIndex.build(slice, encoder.vocabSize);
    buildSeconds += (performance.now() - buildStarted) / 1000;
    const bytes = serializeSuffixIndex(index);
    const file = `corpus-${String(shard).padStart(3, "0")}.essx`;
    writeFileSync(path.join(options.out, file), bytes);
    shards.push({ file, tokens: slice.length, bytes: bytes.length, crc32: crc32(bytes) });
    process.stderr.write(`  wrote ${file}: ${slice.length} tokens, ${(bytes.length / 2 ** 20).toFixed(2)} MiB\n`);
  }

  const manifest = {
    format: "edgespec-suffix-index",
    version: INDEX_FORMAT_VERSION,
    tokenizer: encoder.name,
    vocabSize: encoder.vocabSize,
    documentSeparator: encoder.separator,
    documents,
    tokens: tokens.length,
    shards,
  };
  writeFileSync(path.join(options.out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  process.stderr.write(
    `Built ${shards.length} shard(s) in ${buildSeconds.toFixed(2)} s (${(tokens.length / buildSeconds / 1e6).toFixed(2)}M tokens/s); manifest at ${path.join(options.out, "manifest.json")}.\n`,
  );
}

main().catch((error: Error) => {
  console.error(`build-index: ${error.message}`);
  process.exit(1);
});
