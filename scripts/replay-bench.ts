/**
 * Trace-replay benchmark of the drafters: replays the decode loop over real model outputs with an
 * exact greedy replay verifier (it accepts the longest tree path that matches the true continuation,
 * plus the bonus token = the true next token) and reports, per data set and drafter configuration,
 * τ (tokens per verify step), drafted and accepted counts, drafting time per step and memory.
 *
 *   node --import tsx scripts/replay-bench.ts [--data-dir DIR] [--out bench-results/replay]
 *        [--limit N] [--budget 64] [--traces FILE.json] [--index-bench TOKENS] [--index-file SHARD.essx]
 *        [--replay false]
 *
 * --index-bench times SA-IS and longest-match lookups on a synthetic index of that many tokens;
 * --index-file times loading a built shard (scripts/build-index.ts) and lookups of contexts cut from
 * its own text with one changed token among the last 12; --replay false skips the trace replay.
 *
 * Traces: by default the prompt-lookup data sets (Mistral-7B greedy outputs on CNN/DM, HAGRID and
 * MT-bench), tokenized with cl100k. `--traces` replays a model's own traces instead, from a JSON
 * object {"vocab_size": V, "records": [{prompt_tokens, output_tokens, top_k}, ...]} where top_k[j]
 * holds the model's top-k ids of the distribution that produced output_tokens[j].
 *
 * Token recycling needs the verifier's real top-k. On cl100k traces only the top-1 is known honestly
 * (the greedy output token itself), so the "recycling" rows there are fed top-1 only.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { get_encoding } from "@dqbd/tiktoken";

import { FixedCostModel } from "../shared/budget.ts";
import { DRAFTER_NAMES, Speculator, type DraftPlan, type DrafterName } from "../shared/speculation.ts";
import { parseSuffixIndex } from "../shared/suffix-index/format.ts";
import { SuffixIndex } from "../shared/suffix-index/suffix-index.ts";
import { buildSuffixArray } from "../shared/suffix-index/sais.ts";

interface Trace {
  prompt: number[];
  output: number[];
  /** Real top-k per output position, when the trace comes from a model that reported it. */
  topK?: number[][];
}

interface DataSet {
  name: string;
  vocabSize: number;
  traces: Trace[];
  /** Whether top-k rows are real model candidates (otherwise recycling gets the top-1 only). */
  realTopK: boolean;
}

interface RunResult {
  dataset: string;
  config: string;
  tau: number;
  verifySteps: number;
  drafted: number;
  accepted: number;
  draftUsMedian: number;
  draftUsP99: number;
  /** Memory of the model's shared drafter state after the run (recycling, trie, corpus), in bytes. */
  sharedStateBytes: number;
  /** Share of verify steps that accepted no draft token (only the bonus token). */
  emptyStepShare: number;
  acceptedByDrafter: Record<DrafterName, number>;
}

/** cl100k_base ids: 100256 ordinary ranks, special tokens up to id 100276. */
const CL100K_VOCAB_SIZE = 100277;

const CONFIGS: Array<{ name: string; drafters: DrafterName[] }> = [
  { name: "context", drafters: ["context"] },
  { name: "trie", drafters: ["trie"] },
  { name: "corpus", drafters: ["corpus"] },
  { name: "recycling", drafters: ["recycling"] },
  { name: "composed", drafters: [...DRAFTER_NAMES] },
];

function parseArgs(argv: string[]) {
  const options = {
    dataDir: path.resolve("../shared/data"),
    out: path.resolve("bench-results/replay"),
    limit: Infinity,
    budget: 64,
    traces: "",
    indexBench: 0,
    replay: true,
    indexFile: "",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`option ${argv[i]} is missing its value`);
    switch (argv[i]) {
      case "--data-dir": options.dataDir = path.resolve(value); break;
      case "--out": options.out = path.resolve(value); break;
      case "--limit": options.limit = Number(value); break;
      case "--budget": options.budget = Number(value); break;
      case "--traces": options.traces = path.resolve(value); break;
      case "--index-bench": options.indexBench = Number(value); break;
      case "--replay": options.replay = value !== "false"; break;
      case "--index-file": options.indexFile = path.resolve(value); break;
      default: throw new Error(`unknown option ${argv[i]}; see the header of scripts/replay-bench.ts`);
    }
  }
  return options;
}

/** Loads the prompt-lookup traces, tokenized with cl100k; MT-bench second turns include the first turn. */
function loadPromptLookupSets(dataDir: string, limit: number): { sets: DataSet[]; corpus: number[] } {
  const encoding = get_encoding("cl100k_base");
  const encode = (text: string) => Array.from(encoding.encode(text, "all"));
  const vocabSize = CL100K_VOCAB_SIZE;
  const greedyOf = (record: { response_mistral7b: Array<{ gen_func: string; turn?: number; response_text: string }> }, turn?: number) =>
    record.response_mistral7b.find((r) => r.gen_func === "greedy" && (turn === undefined || r.turn === turn))!.response_text;

  const sets: DataSet[] = [];
  for (const [name, file] of [["cnn_dm", "pld_cnn_dm_outputs.json"], ["hagrid", "pld_hagrid_outputs.json"]]) {
    const records = JSON.parse(readFileSync(path.join(dataDir, file), "utf8")).slice(0, limit);
    const traces = records.map((record: { prompt: string }) => ({ prompt: encode(record.prompt), output: encode(greedyOf(record as never)) }));
    sets.push({ name, vocabSize, traces, realTopK: false });
  }
  const mtBench = JSON.parse(readFileSync(path.join(dataDir, "pld_mt_bench_output.json"), "utf8")).slice(0, limit);
  const mtTraces: Trace[] = [];
  for (const record of mtBench) {
    const first = `[INST] ${record.prompt[0]} [/INST]`;
    const firstOutput = greedyOf(record, 0);
    mtTraces.push({ prompt: encode(first), output: encode(firstOutput) });
    const second = `${first}${firstOutput}</s>[INST] ${record.prompt[1]} [/INST]`;
    mtTraces.push({ prompt: encode(second), output: encode(greedyOf(record, 1)) });
  }
  sets.push({ name: "mt_bench", vocabSize, traces: mtTraces, realTopK: false });

  // The corpus drafter needs text the traces were not produced from: the ShareGPT-format dummy chats
  // and the Spec-Bench questions (prompts only, no model outputs).
  const corpus: number[] = [];
  const chats = JSON.parse(readFileSync(path.join(dataDir, "fastchat_dummy_conversation_sharegpt.json"), "utf8"));
  for (const chat of chats) for (const turn of chat.conversations) corpus.push(...encode(turn.value + "\n"));
  for (const line of readFileSync(path.join(dataDir, "spec_bench_question.jsonl"), "utf8").split("\n")) {
    if (line.trim() === "") continue;
    for (const turn of JSON.parse(line).turns) corpus.push(...encode(turn + "\n"));
  }
  encoding.free();
  return { sets, corpus };
}

function loadModelTraces(file: string, limit: number): DataSet {
  const json = JSON.parse(readFileSync(file, "utf8"));
  if (!Number.isInteger(json.vocab_size) || !Array.isArray(json.records)) {
    throw new Error(`${file}: expected {"vocab_size": integer, "records": [...]}`);
  }
  const traces: Trace[] = json.records.slice(0, limit).map((record: { prompt_tokens: number[]; output_tokens: number[]; top_k: number[][] }, i: number) => {
    if (!Array.isArray(record.top_k) || record.top_k.length !== record.output_tokens.length) {
      throw new Error(`${file}: records[${i}].top_k must hold one row per output token`);
    }
    return { prompt: record.prompt_tokens, output: record.output_tokens, topK: record.top_k };
  });
  return { name: path.basename(file, ".json"), vocabSize: json.vocab_size, traces, realTopK: true };
}

/** Exact greedy replay verifier: the longest tree path equal to the true continuation, plus the bonus. */
function verifyByReplay(plan: DraftPlan, output: number[], position: number) {
  const acceptedTokens: number[] = [];
  const acceptedNodes: number[] = [];
  const { tokens, parents } = plan.tree;
  let parent = -1;
  while (position + acceptedTokens.length < output.length - 1) {
    const want = output[position + acceptedTokens.length];
    let next = -1;
    for (let i = 0; i < tokens.length; i++) {
      if (parents[i] === parent && tokens[i] === want) {
        next = i;
        break;
      }
    }
    if (next < 0) break;
    acceptedTokens.push(want);
    acceptedNodes.push(next);
    parent = next;
  }
  acceptedTokens.push(output[position + acceptedTokens.length]);
  return { acceptedTokens, acceptedNodes };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function runConfig(set: DataSet, config: { name: string; drafters: DrafterName[] }, corpus: SuffixIndex[], budget: number): RunResult {
  // A GPU step whose cost barely grows with the tree, so the planner keeps the full budget when drafts have any value.
  const costModel = new FixedCostModel({ baseMs: 20, perNodeMs: 0.005, overheadMs: 2 });
  const speculator = new Speculator({ vocabSize: set.vocabSize, corpus, costModel });
  const draftUs: number[] = [];
  const totals = { steps: 0, committed: 0, drafted: 0, accepted: 0, emptySteps: 0 };
  const acceptedByDrafter = Object.fromEntries(DRAFTER_NAMES.map((n) => [n, 0])) as Record<DrafterName, number>;

  set.traces.forEach((trace, index) => {
    if (trace.output.length === 0 || trace.prompt.length === 0) return;
    const request = speculator.beginRequest(trace.prompt, { drafters: config.drafters, maxBudget: budget });
    let position = 0;
    while (position < trace.output.length) {
      const plan = request.nextTree();
      draftUs.push(plan.draftMs * 1000);
      const { acceptedTokens, acceptedNodes } = verifyByReplay(plan, trace.output, position);
      if (acceptedNodes.length === 0) totals.emptySteps++;
      // Real top-k when the trace has it; otherwise only the top-1 (the greedy token itself) is known.
      const topK = acceptedTokens.map((token, j) => trace.topK?.[position + j] ?? [token]);
      request.onVerified(plan, { acceptedTokens, acceptedNodes, topK, forwardMs: 20, roundTripMs: 22 });
      position += acceptedTokens.length;
    }
    const stats = request.stats();
    totals.steps += stats.verifySteps;
    totals.committed += trace.output.length;
    totals.drafted += stats.drafted;
    totals.accepted += stats.accepted;
    for (const name of DRAFTER_NAMES) acceptedByDrafter[name] += stats.acceptedByDrafter[name];
    request.finish();
    if ((index + 1) % 25 === 0) process.stderr.write(`  ${set.name}/${config.name}: ${index + 1}/${set.traces.length} traces\n`);
  });

  draftUs.sort((a, b) => a - b);
  return {
    dataset: set.name,
    config: config.name,
    tau: totals.committed / totals.steps,
    verifySteps: totals.steps,
    drafted: totals.drafted,
    accepted: totals.accepted,
    draftUsMedian: percentile(draftUs, 0.5),
    draftUsP99: percentile(draftUs, 0.99),
    emptyStepShare: totals.emptySteps / totals.steps,
    sharedStateBytes: speculator.memoryBytes(),
    acceptedByDrafter,
  };
}

/** Times SA-IS construction and longest-match lookups on a synthetic index of `size` tokens. */
function runIndexBench(size: number) {
  process.stderr.write(`Index bench: building a suffix array over ${size} synthetic tokens.\n`);
  // Zipf-like ids over a 32K vocabulary with repeated phrases, closer to text than uniform noise.
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const tokens = new Uint16Array(size);
  for (let i = 0; i < size; i++) {
    tokens[i] = next() < 0.3 && i > 1000 ? tokens[i - 1000 + Math.floor(next() * 10)] : Math.floor(32000 * next() ** 3);
  }
  // CPU time next to wall time: on a shared machine the wall time also counts waiting for a core.
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const sa = buildSuffixArray(tokens, 32000);
  const buildCpu = process.cpuUsage(cpuBefore);
  const buildSeconds = (performance.now() - started) / 1000;
  const buildCpuSeconds = (buildCpu.user + buildCpu.system) / 1e6;
  const index = new SuffixIndex(32000, tokens, new Uint32Array(sa.buffer, sa.byteOffset, sa.length));

  const queries = 2000;
  const contexts: number[][] = [];
  for (let q = 0; q < queries; q++) {
    const at = 64 + Math.floor(next() * (size - 128));
    const context = Array.from(tokens.subarray(at - 32, at));
    if (q % 2 === 1) context[Math.floor(next() * 32)] = Math.floor(next() * 32000); // half with a mismatch inside
    contexts.push(context);
  }
  const { lookupUs, meanMatchLength } = timeLongestMatches(index, contexts);
  return {
    tokens: size,
    buildSeconds,
    buildCpuSeconds,
    buildTokensPerSecond: size / buildSeconds,
    buildTokensPerCpuSecond: size / buildCpuSeconds,
    lookupUsMean: lookupUs,
    meanMatchLength,
  };
}

/**
 * Times longest-suffix matches of `contexts`: the best of three passes after one warm-up pass,
 * because other load on a shared machine only adds time.
 */
function timeLongestMatches(index: SuffixIndex, contexts: readonly number[][]): { lookupUs: number; meanMatchLength: number } {
  let matched = 0;
  let lookupUs = Infinity;
  for (let pass = 0; pass < 4; pass++) {
    const started = performance.now();
    matched = 0;
    for (const context of contexts) matched += index.longestSuffixMatch(context, 32).length;
    if (pass > 0) lookupUs = Math.min(lookupUs, ((performance.now() - started) * 1000) / contexts.length);
  }
  return { lookupUs, meanMatchLength: matched / contexts.length };
}

/** Times parsing one shard file and longest-match lookups of contexts taken from its own text. */
function runShardBench(file: string) {
  process.stderr.write(`Shard bench: loading ${file}.\n`);
  const bytes = readFileSync(file);
  const parseStarted = performance.now();
  const index = parseSuffixIndex(bytes, path.basename(file));
  const parseMs = performance.now() - parseStarted;
  let state = 7;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const contexts: number[][] = [];
  for (let q = 0; q < 5000; q++) {
    const at = 64 + Math.floor(next() * (index.length - 128));
    const context = Array.from(index.tokens.subarray(at - 32, at));
    context[31 - Math.floor(next() * 12)] = Math.floor(next() * index.vocabSize);
    contexts.push(context);
  }
  const { lookupUs, meanMatchLength } = timeLongestMatches(index, contexts);
  return { file: path.basename(file), tokens: index.length, bytes: bytes.length, parseMs, lookupUsMean: lookupUs, meanMatchLength };
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(options.out, { recursive: true });
  let sets: DataSet[];
  let corpusTokens: number[] = [];
  if (options.traces) {
    sets = [loadModelTraces(options.traces, options.limit)];
  } else {
    if (!existsSync(options.dataDir)) throw new Error(`data folder ${options.dataDir} not found; pass --data-dir`);
    process.stderr.write("Tokenizing the prompt-lookup traces with cl100k.\n");
    ({ sets, corpus: corpusTokens } = loadPromptLookupSets(options.dataDir, options.limit));
  }
  const corpus = corpusTokens.length > 0 ? [SuffixIndex.build(corpusTokens, sets[0].vocabSize)] : [];

  const results: RunResult[] = [];
  for (const set of options.replay ? sets : []) {
    for (const config of CONFIGS) {
      if (config.name === "corpus" && corpus.length === 0) continue;
      process.stderr.write(`Replaying ${set.name} (${set.traces.length} traces) with ${config.name}.\n`);
      const result = runConfig(set, config, corpus, options.budget);
      results.push(result);
      process.stderr.write(
        `  τ ${result.tau.toFixed(3)}  steps ${result.verifySteps}  drafted ${result.drafted}  accepted ${result.accepted}  ` +
          `draft µs median ${result.draftUsMedian.toFixed(1)} p99 ${result.draftUsP99.toFixed(1)}\n`,
      );
    }
  }
  const indexBench = options.indexBench > 0 ? runIndexBench(options.indexBench) : null;
  if (indexBench) process.stderr.write(`  ${JSON.stringify(indexBench)}\n`);
  const shardBench = options.indexFile ? runShardBench(options.indexFile) : null;
  if (shardBench) process.stderr.write(`  ${JSON.stringify(shardBench)}\n`);

  const report = {
    command: `node --import tsx scripts/replay-bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
    budget: options.budget,
    recyclingFeed: options.traces ? "real top-k from the traces" : "top-1 only (the greedy output token); cl100k traces carry no top-k",
    corpusTokens: corpusTokens.length,
    node: process.version,
    results,
    indexBench,
    shardBench,
  };
  const jsonPath = path.join(options.out, "replay.json");
  writeFileSync(jsonPath, JSON.stringify(report, null, 2));
  console.log(`Wrote ${jsonPath}`);
  plot(jsonPath, path.join(options.out, "replay.png"));
}

function plot(jsonPath: string, pngPath: string): void {
  const venv = spawnSync("bash", ["scripts/python-env.sh"], { encoding: "utf8" });
  const python = venv.status === 0 ? path.join(venv.stdout.trim(), "bin", "python") : "python3";
  const result = spawnSync(python, ["scripts/plot_replay.py", jsonPath, pngPath], { stdio: "inherit" });
  if (result.status !== 0) console.error(`Plotting failed (exit ${result.status}); the JSON is complete without it.`);
}

main();
