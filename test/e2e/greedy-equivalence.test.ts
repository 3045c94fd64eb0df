/**
 * Speculation is lossless: greedy output with the drafters on equals greedy output with
 * speculation off (plain decoding through the same stack), token for token, on real prompts.
 */
import { describe, expect, it } from "vitest";
import { benchQuestions, MODEL, post } from "./helpers.ts";

const CATEGORIES = ["writing", "roleplay", "coding", "math_reasoning", "qa", "translation"];
const MAX_TOKENS = 40;

describe("greedy decoding with speculation", () => {
  const questions = benchQuestions(CATEGORIES, 2, 1000);

  it("uses at least ten prompts from several categories", () => {
    expect(questions.length).toBeGreaterThanOrEqual(10);
    expect(new Set(questions.map((question) => question.category)).size).toBe(CATEGORIES.length);
  });

  it("matches plain decoding on every prompt", async () => {
    let draftedTotal = 0;
    let acceptedTotal = 0;
    for (const question of questions) {
      const request = { model: MODEL, messages: [{ role: "user", content: question.turns[0] }], max_tokens: MAX_TOKENS, temperature: 0 };
      const plain = await post("/v1/chat/completions", { ...request, speculation: { enabled: false } });
      const speculative = await post("/v1/chat/completions", request);
      expect(plain.status, JSON.stringify(plain.json)).toBe(200);
      expect(speculative.status, JSON.stringify(speculative.json)).toBe(200);

      const label = `question ${question.question_id} (${question.category})`;
      expect(speculative.json.choices[0].message.content, label).toBe(plain.json.choices[0].message.content);
      expect(speculative.json.choices[0].finish_reason, label).toBe(plain.json.choices[0].finish_reason);
      expect(speculative.json.usage.completion_tokens, label).toBe(plain.json.usage.completion_tokens);
      expect(plain.json.usage.completion_tokens, label).toBeGreaterThanOrEqual(32);
      expect(plain.json.usage.speculation.drafted_tokens, label).toBe(0);
      expect(plain.json.usage.speculation.tau, label).toBe(1);
      draftedTotal += speculative.json.usage.speculation.drafted_tokens;
      acceptedTotal += speculative.json.usage.speculation.accepted_tokens;
    }
    // The drafters ran: they proposed trees and some drafts were accepted over the whole set.
    expect(draftedTotal).toBeGreaterThan(0);
    expect(acceptedTotal).toBeGreaterThan(0);
  });
});
