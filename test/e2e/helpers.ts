/** Helpers for the end-to-end tests: HTTP calls to the running worker and prompt data. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { inject } from "vitest";
import { ROOT } from "../../scripts/lib/stack.ts";

export const MODEL = "edgespec-tiny";

export function workerUrl(): string {
  return inject("workerUrl");
}

export async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(workerUrl() + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

/** Posts a streaming request and returns every SSE data payload, "[DONE]" included. */
export async function postStream(path: string, body: Record<string, unknown>): Promise<string[]> {
  const response = await fetch(workerUrl() + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (response.status !== 200) throw new Error(`stream request failed with ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((event) => event.startsWith("data: "))
    .map((event) => event.slice("data: ".length));
}

/**
 * Folder of the real prompt sets: EDGESPEC_DATA_DIR, else `shared/data` beside the checkout, else
 * beside the repository this one was cloned from (CI tests a fresh clone in another folder).
 */
export function dataDir(): string {
  const candidates: string[] = [];
  if (process.env.EDGESPEC_DATA_DIR) candidates.push(process.env.EDGESPEC_DATA_DIR);
  candidates.push(resolve(ROOT, "../shared/data"));
  try {
    const origin = execFileSync("git", ["-C", ROOT, "remote", "get-url", "origin"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const path = origin.startsWith("file://") ? origin.slice("file://".length) : origin;
    if (isAbsolute(path)) candidates.push(resolve(path, "../shared/data"));
  } catch {
    // No origin remote: only the first two places apply.
  }
  const found = candidates.find((candidate) => existsSync(join(candidate, "spec_bench_question.jsonl")));
  if (found === undefined) {
    throw new Error(`spec_bench_question.jsonl not found in ${candidates.join(", ")}; set EDGESPEC_DATA_DIR to the folder that holds it.`);
  }
  return found;
}

export interface BenchQuestion {
  question_id: number;
  category: string;
  turns: string[];
}

/** Returns the first `perCategory` questions of each category whose first turn is under `maxChars`. */
export function benchQuestions(categories: readonly string[], perCategory: number, maxChars: number): BenchQuestion[] {
  const rows = readFileSync(join(dataDir(), "spec_bench_question.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as BenchQuestion);
  return categories.flatMap((category) => rows.filter((row) => row.category === category && row.turns[0].length < maxChars).slice(0, perCategory));
}
