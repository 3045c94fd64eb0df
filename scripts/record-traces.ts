/**
 * Records a model's own greedy traces with top-k candidates from a running GPU service, as input
 * for `scripts/replay-bench.ts --traces`: plain decoding (empty trees) of each prompt, keeping the
 * top-k ids of the distribution behind every output token, which token recycling needs.
 *
 *   EDGESPEC_GPU_SECRET=... node --import tsx scripts/record-traces.ts --prompts FILE.jsonl
 *        [--url http://127.0.0.1:8400] [--tokenizer models/edgespec-tiny] [--max-new-tokens 128]
 *        [--limit N] [--top-k 8] [--out bench-results/traces.json]
 *
 * FILE.jsonl contains one prompt per line: a JSON string, an object with a string "prompt", or a
 * Spec-Bench question ({"turns": [...]}, first turn only). Each prompt is encoded as one user
 * message with the tokenizer's chat template. Writes {"vocab_size", "records": [{prompt_tokens,
 * output_tokens, top_k}]}.
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { GpuClient } from "../shared/gpu-client.ts";
import { loadModelTokenizerFromFolder } from "../shared/tokenizer-node.ts";

interface Options {
  prompts: string;
  url: string;
  tokenizer: string;
  maxNewTokens: number;
  limit: number;
  topK: number;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    prompts: "",
    url: "http://127.0.0.1:8400",
    tokenizer: "models/edgespec-tiny",
    maxNewTokens: 128,
    limit: Infinity,
    topK: 8,
    out: "bench-results/traces.json",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`option ${argv[i]} is missing its value`);
    switch (argv[i]) {
      case "--prompts": options.prompts = value; break;
      case "--url": options.url = value; break;
      case "--tokenizer": options.tokenizer = value; break;
      case "--max-new-tokens": options.maxNewTokens = Number(value); break;
      case "--limit": options.limit = Number(value); break;
      case "--top-k": options.topK = Number(value); break;
      case "--out": options.out = value; break;
      default: throw new Error(`unknown option ${argv[i]}; see the header of scripts/record-traces.ts`);
    }
  }
  if (options.prompts === "") throw new Error("--prompts FILE.jsonl is required");
  for (const [name, value] of [["--max-new-tokens", options.maxNewTokens], ["--top-k", options.topK]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} = ${value} must be a positive integer`);
  }
  return options;
}

function readPrompts(file: string, limit: number): string[] {
  const prompts: string[] = [];
  const lines = readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length && prompts.length < limit; i++) {
    if (lines[i].trim() === "") continue;
    const record = JSON.parse(lines[i]) as unknown;
    const fields = record as { prompt?: unknown; turns?: unknown[] } | null;
    let prompt: unknown = record;
    if (typeof record !== "string") prompt = typeof fields?.prompt === "string" ? fields.prompt : fields?.turns?.[0];
    if (typeof prompt !== "string") throw new Error(`${file}:${i + 1}: expected a string, {"prompt": string} or {"turns": [string, ...]}`);
    prompts.push(prompt);
  }
  return prompts;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const secret = process.env.EDGESPEC_GPU_SECRET ?? "";
  const client = new GpuClient({ baseUrl: options.url, secret, timeoutMs: 120_000 });
  const model = await client.modelInfo();
  const tokenizer = await loadModelTokenizerFromFolder(options.tokenizer);
  if (tokenizer.vocabSize > model.vocab_size) {
    throw new Error(`tokenizer in ${options.tokenizer} has ${tokenizer.vocabSize} ids but the served model only ${model.vocab_size}`);
  }
  const modelLimits = { vocabSize: model.vocab_size, eosTokenIds: model.eos_token_ids };
  const topK = Math.min(options.topK, model.limits.max_top_k);

  const records = [];
  const prompts = readPrompts(options.prompts, options.limit);
  for (const [index, prompt] of prompts.entries()) {
    const promptTokens = tokenizer.encodeChat([{ role: "user", content: prompt }]);
    const session = await client.createSession(promptTokens);
    const outputTokens: number[] = [];
    const topKRows: number[][] = [];
    try {
      let committed = session.committed_len;
      while (outputTokens.length < options.maxNewTokens && committed < model.max_context) {
        const step = await client.verify(
          session.session_id,
          { baseLen: committed, append: [], tree: { tokens: [], parents: [] }, sampling: { temperature: 0, top_p: 1, top_k: 0, seed: null }, topK, logprobs: false },
          modelLimits,
        );
        outputTokens.push(...step.accepted_tokens);
        topKRows.push(...step.top_k);
        committed = step.committed_len;
        if (step.eos) break;
      }
    } finally {
      await client.deleteSession(session.session_id);
    }
    records.push({ prompt_tokens: promptTokens, output_tokens: outputTokens, top_k: topKRows });
    process.stderr.write(`  ${index + 1}/${prompts.length}: ${promptTokens.length} prompt tokens, ${outputTokens.length} output tokens\n`);
  }
  tokenizer.free();

  mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true });
  writeFileSync(options.out, JSON.stringify({ vocab_size: model.vocab_size, model: model.model, records }));
  console.log(`Wrote ${records.length} traces to ${options.out}`);
}

main().catch((error: Error) => {
  console.error(`record-traces: ${error.message}`);
  process.exit(1);
});
