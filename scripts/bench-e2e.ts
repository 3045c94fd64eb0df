/**
 * End-to-end speed benchmark through the real stack: the GPU service on CPU with the embedded
 * model, and the worker in `wrangler dev`, with a delay proxy between them that adds a fixed
 * edge↔GPU round-trip time. Each prompt runs greedily in every arm, one after another, before the
 * next prompt starts. An arm is a configuration (baseline = speculation off, one drafter alone, or
 * all drafters composed) at one round-trip time.
 *
 *   node --import tsx scripts/bench-e2e.ts [--per-category N] [--max-tokens N] [--rtt-ms 0,5,20]
 *     [--drafter-rtt-ms 0] [--categories a,b] [--max-budget N] [--cpu-threads N] [--out DIR]
 *
 * Every arm has its own worker process (its own Durable Object state) behind its own proxy, so
 * the drafters' learned state (trie, recycling matrix, cost model) sees each prompt once per arm,
 * never an earlier arm's output of the same prompt. Every output is compared with the baseline
 * at the lowest round-trip time: a difference is reported with the prompt id and the first
 * diverging token, and makes the exit status 1. wrangler dev reloads the worker whenever a source
 * file changes, so in a checkout others are editing, run this script from an exported copy. Writes OUT/e2e.json and OUT/e2e.png
 * (scripts/plot_e2e.py) and prints a Markdown table. Prompts: scripts/lib/e2e-prompts.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { loadModelTokenizerFromFolder } from "../shared/tokenizer-node.ts";
import type { ModelTokenizer } from "../shared/tokenizer.ts";
import { startDelayProxy, type DelayProxy } from "./lib/delay-proxy.ts";
import { CATEGORIES, dataFolder, fitToContext, loadPrompts, type BenchPrompt, type Category, type ChatMessage } from "./lib/e2e-prompts.ts";
import { freePort, HOST, newSecret, pythonPath, ROOT, startGpuService, startWorker, stopProcess, waitForHealthy, type RunningProcess } from "./lib/stack.ts";
import type { SpeculationUsage } from "../workers/src/generate.ts";

const DRAFTERS = ["recycling", "trie", "corpus", "context"] as const;
const CONFIGS = ["baseline", ...DRAFTERS, "composed"] as const;
type Config = (typeof CONFIGS)[number];
const MODEL_DIR = join(ROOT, "models/edgespec-tiny");

interface Options {
  perCategory: number;
  maxTokens: number;
  rttMs: number[];
  drafterRttMs: number[];
  categories: Category[];
  maxBudget: number | null;
  cpuThreads: number;
  out: string;
}

interface Arm {
  name: string;
  config: Config;
  rttMs: number;
  url: string;
}

interface RunResult {
  arm: string;
  ms: number;
  completionTokens: number;
  finishReason: string;
  text: string;
  speculation: SpeculationUsage;
}

interface PromptRecord {
  id: string;
  category: Category;
  promptTokens: number;
  truncated: boolean;
  runs: RunResult[];
}

interface Mismatch {
  prompt: string;
  arm: string;
  /** Index of the first differing token, in the re-tokenized outputs. */
  firstDivergingToken: number;
  expected: string;
  actual: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    perCategory: 3,
    maxTokens: 64,
    rttMs: [0, 5, 20],
    drafterRttMs: [0],
    categories: [...CATEGORIES],
    maxBudget: null,
    cpuThreads: 1,
    out: join(ROOT, "bench-results/e2e"),
  };
  const numbers = (flag: string, value: string) =>
    value.split(",").map((part) => {
      const number = Number(part);
      if (part.trim() === "" || !Number.isFinite(number) || number < 0) throw new Error(`${flag} must be a comma-separated list of numbers ≥ 0, got ${value}`);
      return number;
    });
  const positiveInt = (flag: string, value: string, min = 1) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min) throw new Error(`${flag} must be an integer ≥ ${min}, got ${value}`);
    return number;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`option ${flag} is missing its value`);
    if (flag === "--per-category") options.perCategory = positiveInt(flag, value);
    else if (flag === "--max-tokens") options.maxTokens = positiveInt(flag, value);
    else if (flag === "--rtt-ms") options.rttMs = numbers(flag, value);
    else if (flag === "--drafter-rtt-ms") options.drafterRttMs = value === "none" ? [] : numbers(flag, value);
    else if (flag === "--max-budget") options.maxBudget = positiveInt(flag, value, 0);
    else if (flag === "--cpu-threads") options.cpuThreads = positiveInt(flag, value);
    else if (flag === "--out") options.out = resolve(value);
    else if (flag === "--categories") {
      const names = value.split(",");
      const unknown = names.filter((name) => !(CATEGORIES as readonly string[]).includes(name));
      if (unknown.length > 0) throw new Error(`unknown categories ${unknown.join(", ")}; choose from ${CATEGORIES.join(", ")}`);
      options.categories = names as Category[];
    } else throw new Error(`unknown option ${flag}; see the header of scripts/bench-e2e.ts`);
  }
  const missing = options.drafterRttMs.filter((rtt) => !options.rttMs.includes(rtt));
  if (missing.length > 0) throw new Error(`--drafter-rtt-ms ${missing.join(",")} must also be listed in --rtt-ms`);
  return options;
}

function armsFor(options: Options): Omit<Arm, "url">[] {
  const arms: Omit<Arm, "url">[] = [];
  for (const rttMs of [...options.rttMs].sort((a, b) => a - b)) {
    const configs: Config[] = options.drafterRttMs.includes(rttMs) ? [...CONFIGS] : ["baseline", "composed"];
    for (const config of configs) arms.push({ name: `${config}@${rttMs}ms`, config, rttMs });
  }
  return arms;
}

function speculationField(config: Config, maxBudget: number | null): Record<string, unknown> {
  if (config === "baseline") return { enabled: false };
  const drafters = config === "composed" ? [...DRAFTERS] : [config];
  return maxBudget === null ? { enabled: true, drafters } : { enabled: true, drafters, max_budget: maxBudget };
}

async function complete(url: string, messages: ChatMessage[], maxTokens: number, speculation: Record<string, unknown>) {
  const started = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "edgespec-tiny", messages, max_tokens: maxTokens, temperature: 0, speculation }),
  });
  const raw = await response.text();
  const ms = performance.now() - started;
  // wrangler dev restarts the worker when a source file changes and returns a plain-text response.
  if (response.status !== 200 || !response.headers.get("content-type")?.includes("application/json")) {
    throw new Error(`POST ${url}/v1/chat/completions failed with ${response.status}: ${raw.slice(0, 500)}`);
  }
  const body = JSON.parse(raw);
  return {
    ms,
    text: body.choices[0].message.content as string,
    finishReason: body.choices[0].finish_reason as string,
    completionTokens: body.usage.completion_tokens as number,
    promptTokens: body.usage.prompt_tokens as number,
    speculation: body.usage.speculation as SpeculationUsage,
  };
}

function firstDivergence(tokenizer: ModelTokenizer, expected: string, actual: string): number {
  const a = tokenizer.encode(expected);
  const b = tokenizer.encode(actual);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Starts the GPU service with `cpuThreads` torch threads (through OMP_NUM_THREADS, which torch reads at start). */
async function startGpu(secret: string, cpuThreads: number): Promise<{ process: RunningProcess; url: string }> {
  const port = await freePort();
  const previous = process.env.OMP_NUM_THREADS;
  process.env.OMP_NUM_THREADS = String(cpuThreads);
  const gpu = startGpuService({ port, secret, modelDir: MODEL_DIR });
  if (previous === undefined) delete process.env.OMP_NUM_THREADS;
  else process.env.OMP_NUM_THREADS = previous;
  const url = `http://${HOST}:${port}`;
  await waitForHealthy(`${url}/healthz`, gpu, 180_000);
  return { process: gpu, url };
}

interface Aggregate {
  category: string;
  arm: string;
  config: Config;
  rttMs: number;
  prompts: number;
  completionTokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Tokens per second over the baseline's at the same round-trip time, same prompts. */
  speedup: number;
  /** Tokens per second of the decode loop alone: Σ(round_trip_ms + draft_ms) of the verify steps, so no prefill. */
  decodeTokensPerSecond: number;
  decodeSpeedup: number;
  /** Lowest speed-up of a single prompt in this group. */
  minPromptSpeedup: number;
  /** Wall time outside the verify steps (session open with the prefill, tokenization, HTTP), per request. */
  prefillAndOverheadMs: number;
  tau: number;
  verifyStepsPerRequest: number;
  draftMsPerToken: number;
  forwardMsPerToken: number;
  /** round_trip_ms − forward_ms: network, proxy delay, serialisation and HTTP, per token. */
  edgeGpuMsPerToken: number;
  identical: boolean;
}

function aggregate(records: PromptRecord[], arms: Arm[], mismatches: Mismatch[]): Aggregate[] {
  const rows: Aggregate[] = [];
  const groups: [string, PromptRecord[]][] = [["all", records]];
  for (const category of CATEGORIES) {
    const inCategory = records.filter((record) => record.category === category);
    if (inCategory.length > 0) groups.push([category, inCategory]);
  }
  for (const [category, group] of groups) {
    const ids = new Set(group.map((record) => record.id));
    const baselineRate = new Map<number, number>();
    const baselineDecodeRate = new Map<number, number>();
    for (const arm of arms) {
      const runs = group.flatMap((record) => record.runs.filter((run) => run.arm === arm.name));
      const tokens = runs.reduce((sum, run) => sum + run.completionTokens, 0);
      const seconds = runs.reduce((sum, run) => sum + run.ms, 0) / 1000;
      const steps = runs.reduce((sum, run) => sum + run.speculation.verify_steps, 0);
      const committed = runs.reduce((sum, run) => sum + run.speculation.tau * run.speculation.verify_steps, 0);
      const perToken = (pick: (usage: SpeculationUsage) => number) => runs.reduce((sum, run) => sum + pick(run.speculation), 0) / tokens;
      const rate = tokens / seconds;
      const decodeSeconds = runs.reduce((sum, run) => sum + run.speculation.round_trip_ms + run.speculation.draft_ms, 0) / 1000;
      const decodeRate = tokens / decodeSeconds;
      if (arm.config === "baseline") {
        baselineRate.set(arm.rttMs, rate);
        baselineDecodeRate.set(arm.rttMs, decodeRate);
      }
      rows.push({
        category,
        arm: arm.name,
        config: arm.config,
        rttMs: arm.rttMs,
        prompts: runs.length,
        completionTokens: tokens,
        seconds,
        tokensPerSecond: rate,
        speedup: rate / (baselineRate.get(arm.rttMs) ?? Number.NaN),
        decodeTokensPerSecond: decodeRate,
        decodeSpeedup: decodeRate / (baselineDecodeRate.get(arm.rttMs) ?? Number.NaN),
        prefillAndOverheadMs: (1000 * (seconds - decodeSeconds)) / runs.length,
        minPromptSpeedup: Math.min(...group.map((record) => promptSpeedup(record, arm))),
        tau: committed / steps,
        verifyStepsPerRequest: steps / runs.length,
        draftMsPerToken: perToken((usage) => usage.draft_ms),
        forwardMsPerToken: perToken((usage) => usage.forward_ms),
        edgeGpuMsPerToken: perToken((usage) => usage.round_trip_ms - usage.forward_ms),
        identical: !mismatches.some((mismatch) => mismatch.arm === arm.name && ids.has(mismatch.prompt)),
      });
    }
  }
  return rows;
}

function promptSpeedup(record: PromptRecord, arm: Arm): number {
  const run = record.runs.find((candidate) => candidate.arm === arm.name)!;
  const baseline = record.runs.find((candidate) => candidate.arm === `baseline@${arm.rttMs}ms`)!;
  return (run.completionTokens / run.ms) / (baseline.completionTokens / baseline.ms);
}

function markdownTable(rows: Aggregate[]): string {
  const lines = [
    "| category | arm | tokens/s | speedup | min per prompt | decode speedup | τ | verify steps/request | draft ms/token | forward ms/token | edge↔GPU ms/token | prefill + overhead ms/request | identical |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const cells = [
      row.category,
      row.arm,
      row.tokensPerSecond.toFixed(1),
      `${row.speedup.toFixed(2)}×`,
      `${row.minPromptSpeedup.toFixed(2)}×`,
      `${row.decodeSpeedup.toFixed(2)}×`,
      row.tau.toFixed(2),
      row.verifyStepsPerRequest.toFixed(1),
      row.draftMsPerToken.toFixed(2),
      row.forwardMsPerToken.toFixed(1),
      row.edgeGpuMsPerToken.toFixed(1),
      row.prefillAndOverheadMs.toFixed(0),
      row.identical ? "yes" : "**no**",
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const contextLength = JSON.parse(readFileSync(join(MODEL_DIR, "config.json"), "utf8")).max_position_embeddings as number;
  const tokenizer = await loadModelTokenizerFromFolder(MODEL_DIR);
  const prompts = loadPrompts(dataFolder(), options.categories, options.perCategory);
  const armSpecs = armsFor(options);
  const started = performance.now();
  const log = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

  const secret = newSecret();
  const running: RunningProcess[] = [];
  const proxies: DelayProxy[] = [];
  try {
    log(`starting the GPU service (CPU, ${options.cpuThreads} torch thread(s), ${MODEL_DIR})`);
    const gpu = await startGpu(secret, options.cpuThreads);
    running.push(gpu.process);

    const arms: Arm[] = [];
    for (const spec of armSpecs) {
      const proxy = await startDelayProxy({ target: gpu.url, delayMs: spec.rttMs });
      proxies.push(proxy);
      const port = await freePort();
      const worker = startWorker({ port, gpuUrl: proxy.url, secret });
      running.push(worker);
      const url = `http://${HOST}:${port}`;
      await waitForHealthy(`${url}/healthz`, worker, 120_000);
      // Warm-up: builds the worker's runtime (tokenizer, corpus index) and runs a first forward.
      await complete(url, [{ role: "user", content: "warm up" }], 4, speculationField(spec.config, options.maxBudget));
      arms.push({ ...spec, url });
      log(`worker ${arms.length}/${armSpecs.length} ready: ${spec.name} (proxy ${proxy.url})`);
    }
    const reference = arms.find((arm) => arm.config === "baseline");
    if (reference === undefined) throw new Error("no baseline arm; --rtt-ms must list at least one value");

    // The GPU service checks its kernels once per shape on first use, and long prefills take
    // other shapes than the short warm-ups above, so a long prompt (not from the prompt sets)
    // runs once before any timed request.
    const filler = Array.from({ length: 400 }, (_, i) => `line ${i}`).join("\n");
    const longWarmUp = fitToContext(tokenizer, [{ role: "user", content: filler }], contextLength - options.maxTokens);
    if (longWarmUp !== null) await complete(reference.url, longWarmUp.messages, options.maxTokens, speculationField("baseline", null));
    log("long warm-up done; timed requests start");

    const records: PromptRecord[] = [];
    const mismatches: Mismatch[] = [];
    const skipped: string[] = [];
    const maxPromptTokens = contextLength - options.maxTokens;
    for (const [index, prompt] of prompts.entries()) {
      let messages = prompt.messages;
      if (prompt.followUp !== undefined) {
        // The first answer is the model's own greedy answer, as in a real two-turn chat.
        const first = fitToContext(tokenizer, messages, maxPromptTokens);
        if (first === null) {
          skipped.push(prompt.id);
          continue;
        }
        const answer = await complete(reference.url, first.messages, options.maxTokens, speculationField("baseline", null));
        messages = [...first.messages, { role: "assistant", content: answer.text }, { role: "user", content: prompt.followUp }];
      }
      const fitted = fitToContext(tokenizer, messages, maxPromptTokens);
      if (fitted === null) {
        log(`skipping ${prompt.id}: it does not fit ${maxPromptTokens} prompt tokens even when cut`);
        skipped.push(prompt.id);
        continue;
      }

      const record: PromptRecord = { id: prompt.id, category: prompt.category, promptTokens: 0, truncated: fitted.truncated, runs: [] };
      // The arm order rotates from prompt to prompt, so load drift does not favour one arm.
      const order = arms.map((_, i) => arms[(i + index) % arms.length]);
      for (const arm of order) {
        const result = await complete(arm.url, fitted.messages, options.maxTokens, speculationField(arm.config, options.maxBudget));
        record.promptTokens = result.promptTokens;
        record.runs.push({ arm: arm.name, ms: result.ms, completionTokens: result.completionTokens, finishReason: result.finishReason, text: result.text, speculation: result.speculation });
      }
      record.runs.sort((a, b) => arms.findIndex((arm) => arm.name === a.arm) - arms.findIndex((arm) => arm.name === b.arm));
      records.push(record);

      const expected = record.runs.find((run) => run.arm === reference.name)!;
      for (const run of record.runs) {
        if (run.text === expected.text && run.completionTokens === expected.completionTokens && run.finishReason === expected.finishReason) continue;
        const position = firstDivergence(tokenizer, expected.text, run.text);
        mismatches.push({ prompt: prompt.id, arm: run.arm, firstDivergingToken: position, expected: expected.text, actual: run.text });
        log(`MISMATCH ${prompt.id} ${run.arm}: first diverging token ${position} (${run.completionTokens} vs ${expected.completionTokens} tokens)`);
      }
      const summary = arms
        .filter((arm) => arm.config !== "baseline")
        .map((arm) => `${arm.name} ${promptSpeedup(record, arm).toFixed(2)}× τ ${record.runs.find((run) => run.arm === arm.name)!.speculation.tau.toFixed(2)}`);
      const baselineRate = (1000 * expected.completionTokens) / expected.ms;
      log(`${index + 1}/${prompts.length} ${prompt.id} (${record.promptTokens} prompt tokens${fitted.truncated ? ", cut" : ""}, ${expected.completionTokens} out, baseline ${baselineRate.toFixed(1)} tok/s): ${summary.join(", ")}`);
    }

    const rows = aggregate(records, arms, mismatches);
    const report = {
      settings: {
        command: `node --import tsx scripts/bench-e2e.ts ${process.argv.slice(2).join(" ")}`.trim(),
        perCategory: options.perCategory,
        maxTokens: options.maxTokens,
        maxBudget: options.maxBudget,
        cpuThreads: options.cpuThreads,
        contextLength,
        arms: arms.map((arm) => arm.name),
        wallSeconds: (performance.now() - started) / 1000,
        loadAverageAtEnd: loadavg(),
      },
      prompts: records.length,
      truncated: records.filter((record) => record.truncated).map((record) => record.id),
      skipped,
      mismatches,
      summary: rows,
      records,
    };
    mkdirSync(options.out, { recursive: true });
    const jsonPath = join(options.out, "e2e.json");
    writeFileSync(jsonPath, JSON.stringify(report, null, 2) + "\n");
    console.log(markdownTable(rows));
    log(`wrote ${jsonPath}; ${records.length} prompts (${report.truncated.length} cut, ${skipped.length} skipped), ${mismatches.length} mismatches`);

    const plot = spawnSync(pythonPath(), [join(ROOT, "scripts/plot_e2e.py"), jsonPath, join(options.out, "e2e.png")], { stdio: "inherit" });
    if (plot.status !== 0) throw new Error(`scripts/plot_e2e.py failed with status ${plot.status}`);
    if (mismatches.length > 0) {
      for (const mismatch of mismatches) console.error(`output differs from the baseline: prompt ${mismatch.prompt}, arm ${mismatch.arm}, first diverging token ${mismatch.firstDivergingToken}`);
      return 1;
    }
    return 0;
  } finally {
    for (const proxy of proxies) await proxy.close();
    for (const process of running.reverse()) await stopProcess(process);
  }
}

process.exitCode = await main();
