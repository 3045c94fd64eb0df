/**
 * End-to-end benchmark through the real stack: the GPU service on CPU and the worker in
 * `wrangler dev`. For each prompt it runs greedy decoding with speculation off (the baseline) and
 * on, and reports wall time per completion token, τ and the speed-up ratio measured in this run.
 *
 *   node --import tsx scripts/bench-e2e.ts [--prompts N] [--max-tokens N] [--out bench-results/e2e]
 *
 * Writes OUT/e2e.json and, through scripts/plot_e2e.py, OUT/e2e.png. Prompts are Spec-Bench
 * questions from spec_bench_question.jsonl (EDGESPEC_DATA_DIR or shared/data beside the checkout).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, HOST, newSecret, pythonPath, ROOT, startGpuService, startWorker, stopProcess, waitForHealthy, type RunningProcess } from "./lib/stack.ts";

interface PromptResult {
  id: number;
  category: string;
  tokens: number;
  identical: boolean;
  baselineMsPerToken: number;
  speculativeMsPerToken: number;
  tau: number;
  verifySteps: number;
  drafters: unknown;
}

interface Options {
  prompts: number;
  maxTokens: number;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { prompts: 12, maxTokens: 64, out: join(ROOT, "bench-results/e2e") };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`option ${flag} is missing its value`);
    if (flag === "--prompts") options.prompts = Number(value);
    else if (flag === "--max-tokens") options.maxTokens = Number(value);
    else if (flag === "--out") options.out = resolve(value);
    else throw new Error(`unknown option ${flag}; see the header of scripts/bench-e2e.ts`);
  }
  if (!Number.isInteger(options.prompts) || options.prompts < 1) throw new Error(`--prompts must be a positive integer, got ${options.prompts}`);
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) throw new Error(`--max-tokens must be a positive integer, got ${options.maxTokens}`);
  return options;
}

function loadPrompts(count: number): { id: number; category: string; text: string }[] {
  const folder = process.env.EDGESPEC_DATA_DIR ?? resolve(ROOT, "../shared/data");
  const file = join(folder, "spec_bench_question.jsonl");
  if (!existsSync(file)) throw new Error(`${file} not found; set EDGESPEC_DATA_DIR to the folder that holds spec_bench_question.jsonl`);
  const rows = readFileSync(file, "utf8").split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  // Round-robin over categories, short prompts only, so every category is represented.
  const byCategory = new Map<string, { id: number; category: string; text: string }[]>();
  for (const row of rows) {
    if (row.turns[0].length >= 1000) continue;
    const list = byCategory.get(row.category) ?? [];
    list.push({ id: row.question_id, category: row.category, text: row.turns[0] });
    byCategory.set(row.category, list);
  }
  const picked: { id: number; category: string; text: string }[] = [];
  for (let round = 0; picked.length < count; round++) {
    let added = false;
    for (const list of byCategory.values()) {
      if (round < list.length && picked.length < count) {
        picked.push(list[round]);
        added = true;
      }
    }
    if (!added) break;
  }
  return picked;
}

async function runOnce(url: string, prompt: string, maxTokens: number, enabled: boolean) {
  const started = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "edgespec-tiny", messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, temperature: 0, speculation: { enabled } }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`request failed with ${response.status}: ${JSON.stringify(body)}`);
  return { ms: performance.now() - started, text: body.choices[0].message.content as string, usage: body.usage };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const prompts = loadPrompts(options.prompts);
  const secret = newSecret();
  const running: RunningProcess[] = [];
  try {
    const gpuPort = await freePort();
    const gpu = startGpuService({ port: gpuPort, secret });
    running.push(gpu);
    await waitForHealthy(`http://${HOST}:${gpuPort}/healthz`, gpu, 180_000);
    const port = await freePort();
    const worker = startWorker({ port, gpuUrl: `http://${HOST}:${gpuPort}`, secret });
    running.push(worker);
    const url = `http://${HOST}:${port}`;
    await waitForHealthy(`${url}/healthz`, worker, 120_000);
    // Warm-up: loads the tokenizer, the corpus index and the model's first forward.
    await runOnce(url, "warm up", 4, true);

    const results: PromptResult[] = [];
    for (const [index, prompt] of prompts.entries()) {
      const baseline = await runOnce(url, prompt.text, options.maxTokens, false);
      const speculative = await runOnce(url, prompt.text, options.maxTokens, true);
      const tokens = baseline.usage.completion_tokens;
      results.push({
        id: prompt.id,
        category: prompt.category,
        tokens,
        identical: baseline.text === speculative.text,
        baselineMsPerToken: baseline.ms / tokens,
        speculativeMsPerToken: speculative.ms / speculative.usage.completion_tokens,
        tau: speculative.usage.speculation.tau,
        verifySteps: speculative.usage.speculation.verify_steps,
        drafters: speculative.usage.speculation.drafters,
      });
      process.stderr.write(`  ${index + 1}/${prompts.length} question ${prompt.id} (${prompt.category}): τ ${speculative.usage.speculation.tau}\n`);
    }

    const sum = (pick: (row: PromptResult) => number) => results.reduce((total, row) => total + pick(row), 0);
    const summary = {
      prompts: results.length,
      maxTokens: options.maxTokens,
      identical: results.filter((row) => row.identical).length,
      meanTau: sum((row) => row.tau) / results.length,
      baselineMsPerToken: sum((row) => row.baselineMsPerToken) / results.length,
      speculativeMsPerToken: sum((row) => row.speculativeMsPerToken) / results.length,
    };
    const report = { summary: { ...summary, speedup: summary.baselineMsPerToken / summary.speculativeMsPerToken }, results };
    mkdirSync(options.out, { recursive: true });
    const jsonPath = join(options.out, "e2e.json");
    writeFileSync(jsonPath, JSON.stringify(report, null, 2) + "\n");
    console.log(JSON.stringify(report.summary, null, 2));

    const plot = spawnSync(pythonPath(), [join(ROOT, "scripts/plot_e2e.py"), jsonPath, join(options.out, "e2e.png")], { stdio: "inherit" });
    if (plot.status !== 0) throw new Error(`scripts/plot_e2e.py failed with status ${plot.status}`);
  } finally {
    for (const process of running.reverse()) await stopProcess(process);
  }
}

await main();
