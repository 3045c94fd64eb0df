/**
 * Prompts of the end-to-end benchmark, by category, from the public prompt sets in the data
 * folder (EDGESPEC_DATA_DIR, default shared/data beside the checkout):
 *
 * - spec_bench_question.jsonl: Spec-Bench's six categories. Its MT-bench questions (categories
 *   writing, roleplay, ...) form the category "multi_turn"; only their first turn is sent.
 * - mt_bench_question.jsonl: category "mt_bench_turn2", the second turn of a two-turn chat. The
 *   assistant's first answer is the model's own greedy answer, produced by the caller.
 * - pld_cnn_dm_outputs.json, pld_hagrid_outputs.json: categories "cnn_dm" and "hagrid", the
 *   prompts without their Mistral [INST] markers (the embedded model uses its own chat template).
 *
 * Prompts are picked at evenly spaced positions of each category, so sub-categories are spread.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ModelTokenizer } from "../../shared/tokenizer.ts";

export const CATEGORIES = ["multi_turn", "translation", "summarization", "qa", "math_reasoning", "rag", "mt_bench_turn2", "cnn_dm", "hagrid"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

export interface BenchPrompt {
  /** Unique across categories, e.g. "summarization/241" or "cnn_dm/17". */
  id: string;
  category: Category;
  /** The conversation; for mt_bench_turn2 the assistant turn is filled in by the caller. */
  messages: ChatMessage[];
  /** Second-turn question of mt_bench_turn2, sent after the model's first answer. */
  followUp?: string;
}

const SPEC_BENCH_CATEGORIES: Record<string, Category> = {
  translation: "translation",
  summarization: "summarization",
  qa: "qa",
  math_reasoning: "math_reasoning",
  rag: "rag",
};

export function dataFolder(): string {
  const folder = process.env.EDGESPEC_DATA_DIR ?? resolve(import.meta.dirname, "../../../shared/data");
  if (!existsSync(folder)) throw new Error(`data folder ${folder} not found; set EDGESPEC_DATA_DIR to the folder with spec_bench_question.jsonl`);
  return folder;
}

/** Loads `perCategory` prompts of every category in `categories`. */
export function loadPrompts(folder: string, categories: readonly Category[], perCategory: number): BenchPrompt[] {
  const pools = new Map<Category, BenchPrompt[]>();
  const add = (prompt: BenchPrompt) => {
    const pool = pools.get(prompt.category) ?? [];
    pool.push(prompt);
    pools.set(prompt.category, pool);
  };

  for (const row of readJsonLines(join(folder, "spec_bench_question.jsonl"))) {
    const category = SPEC_BENCH_CATEGORIES[row.category] ?? "multi_turn";
    add({ id: `${category}/${row.question_id}`, category, messages: [{ role: "user", content: firstTurn(row) }] });
  }
  for (const row of readJsonLines(join(folder, "mt_bench_question.jsonl"))) {
    if (!Array.isArray(row.turns) || row.turns.length < 2 || typeof row.turns[1] !== "string") {
      throw new Error(`mt_bench_question.jsonl: question ${row.question_id} has no second turn`);
    }
    add({ id: `mt_bench_turn2/${row.question_id}`, category: "mt_bench_turn2", messages: [{ role: "user", content: firstTurn(row) }], followUp: row.turns[1] });
  }
  for (const [file, category] of [["pld_cnn_dm_outputs.json", "cnn_dm"], ["pld_hagrid_outputs.json", "hagrid"]] as const) {
    const rows = JSON.parse(readFileSync(join(folder, file), "utf8")) as { prompt?: unknown }[];
    rows.forEach((row, index) => {
      if (typeof row.prompt !== "string") throw new Error(`${file}: record ${index} has no string "prompt"`);
      add({ id: `${category}/${index}`, category, messages: [{ role: "user", content: stripInstMarkers(row.prompt) }] });
    });
  }

  const picked: BenchPrompt[] = [];
  for (const category of categories) {
    const pool = pools.get(category) ?? [];
    if (pool.length < perCategory) throw new Error(`category ${category} has ${pool.length} prompts, fewer than the ${perCategory} requested`);
    // mt_bench_turn2 shares its first turns with multi_turn, so it is offset by half a step to
    // pick other questions.
    const offset = category === "mt_bench_turn2" ? 0.5 : 0;
    for (let i = 0; i < perCategory; i++) picked.push(pool[Math.floor(((i + offset) * pool.length) / perCategory)]);
  }
  return picked;
}

/**
 * Fits a conversation into `maxPromptTokens` chat-template tokens by cutting the middle of its
 * longest message: the first `headTokens` tokens (where instructions such as "Summarize:" are)
 * and the end (where RAG and HAGRID put the question) are kept, joined by "\n...\n".
 * Returns the messages unchanged when they fit, and null when even the cut does not fit.
 */
export function fitToContext(tokenizer: ModelTokenizer, messages: ChatMessage[], maxPromptTokens: number, headTokens = 32): { messages: ChatMessage[]; truncated: boolean } | null {
  let excess = tokenizer.encodeChat(messages).length - maxPromptTokens;
  if (excess <= 0) return { messages, truncated: false };
  const longest = messages.reduce((best, message, index) => (message.content.length > messages[best].content.length ? index : best), 0);
  const ids = tokenizer.encode(messages[longest].content);
  const decoder = new TextDecoder();
  // Cutting at token boundaries can split a UTF-8 character and re-encoding can merge differently,
  // so the cut grows until the whole conversation fits.
  for (let attempt = 0; attempt < 8; attempt++) {
    const keepTail = ids.length - headTokens - excess - 4;
    if (keepTail < 1) return null;
    const content = decoder.decode(tokenizer.decodeBytes(ids.slice(0, headTokens))) + "\n...\n" + decoder.decode(tokenizer.decodeBytes(ids.slice(ids.length - keepTail)));
    const candidate = messages.map((message, index) => (index === longest ? { ...message, content } : message));
    const length = tokenizer.encodeChat(candidate).length;
    if (length <= maxPromptTokens) return { messages: candidate, truncated: true };
    excess += length - maxPromptTokens + 1;
  }
  return null;
}

function stripInstMarkers(prompt: string): string {
  return prompt.replace(/^\s*\[INST\]\s*/, "").replace(/\s*\[\/INST\]\s*$/, "");
}

function firstTurn(row: { question_id?: unknown; turns?: unknown }): string {
  if (!Array.isArray(row.turns) || typeof row.turns[0] !== "string") throw new Error(`question ${String(row.question_id)} has no first turn`);
  return row.turns[0];
}

function readJsonLines(path: string): { question_id: number; category: string; turns: string[] }[] {
  if (!existsSync(path)) throw new Error(`${path} not found; set EDGESPEC_DATA_DIR to the folder that contains it`);
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}
