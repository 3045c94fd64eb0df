/** Stop strings, max_tokens and multi-byte text through the real stack. */
import { describe, expect, it } from "vitest";
import { benchQuestions, MODEL, post, postStream } from "./helpers.ts";

const CHAT = "/v1/chat/completions";

function streamedText(events: string[]): { text: string; finishReason: string | null; usage: any } {
  expect(events[events.length - 1]).toBe("[DONE]");
  let text = "";
  let finishReason: string | null = null;
  let usage: any = null;
  for (const event of events.slice(0, -1)) {
    const chunk = JSON.parse(event);
    if (chunk.error) throw new Error(`stream error: ${JSON.stringify(chunk.error)}`);
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    text += chunk.choices[0].delta?.content ?? chunk.choices[0].text ?? "";
    finishReason = chunk.choices[0].finish_reason ?? finishReason;
  }
  return { text, finishReason, usage };
}

describe("cuts", () => {
  const messages = [{ role: "user", content: "Explain what a Python list comprehension is." }];

  it("stops before a stop string, streamed and not", async () => {
    const full = await post(CHAT, { model: MODEL, messages, max_tokens: 48, temperature: 0 });
    const fullText: string = full.json.choices[0].message.content;
    expect(fullText.length).toBeGreaterThan(20);
    // A stop string from the middle of the greedy output, so it spans tokens there.
    const stop = fullText.slice(10, 14);
    const cutAt = fullText.indexOf(stop);

    for (const speculation of [{ enabled: true }, { enabled: false }]) {
      const cut = await post(CHAT, { model: MODEL, messages, max_tokens: 48, temperature: 0, stop: [stop], speculation });
      expect(cut.json.choices[0].message.content).toBe(fullText.slice(0, cutAt));
      expect(cut.json.choices[0].finish_reason).toBe("stop");
      expect(cut.json.usage.completion_tokens).toBeLessThan(full.json.usage.completion_tokens);

      const streamed = streamedText(
        await postStream(CHAT, { model: MODEL, messages, max_tokens: 48, temperature: 0, stop: [stop], speculation, stream_options: { include_usage: true } }),
      );
      expect(streamed.text).toBe(fullText.slice(0, cutAt));
      expect(streamed.finishReason).toBe("stop");
      expect(streamed.usage.completion_tokens).toBe(cut.json.usage.completion_tokens);
    }
  });

  it("stops at max_tokens with finish reason length", async () => {
    const result = await post(CHAT, { model: MODEL, messages, max_tokens: 5, temperature: 0 });
    expect(result.json.choices[0].finish_reason).toBe("length");
    expect(result.json.usage.completion_tokens).toBe(5);
  });
});

describe("streamed text", () => {
  // The split-character case itself is a unit test (decode-loop.test.ts): the embedded model,
  // trained on mostly ASCII code, sampled no non-ASCII character in ten 48-token completions of
  // this German prompt, so an end-to-end test cannot make it emit one.
  it("equals the full decode whatever the tokens per step", async () => {
    const [question] = benchQuestions(["translation"], 1, 1000);
    const request = { model: MODEL, prompt: question.turns[0], max_tokens: 48, temperature: 1, seed: 3 };
    const references: string[] = [];
    for (const speculation of [{ enabled: false }, { enabled: true }]) {
      const whole = await post("/v1/completions", { ...request, speculation });
      const reference: string = whole.json.choices[0].text;
      references.push(reference);
      const events = await postStream("/v1/completions", { ...request, speculation });
      const pieces: string[] = events.slice(0, -1).map((event) => JSON.parse(event).choices[0]?.text ?? "");
      expect(pieces.join("")).toBe(reference);
      expect(pieces.length).toBeGreaterThan(1);
    }
    // A seeded draw depends only on (seed, position), so speculation does not change sampled text.
    expect(references[1]).toBe(references[0]);
    expect(references[0].length).toBeGreaterThan(0);
  });
});
