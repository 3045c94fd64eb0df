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

describe("multi-byte text", () => {
  it("streams non-ASCII output intact whatever the tokens per step", async () => {
    const [question] = benchQuestions(["translation"], 1, 1000);
    // The German prompt and a repeated pattern of accented letters make non-ASCII output likely.
    const prompt = `${question.turns[0]}\nä ö ü é – ä ö ü é – ä ö ü é – ä ö`;
    const request = { model: MODEL, prompt, max_tokens: 48, temperature: 0 };
    const whole = await post("/v1/completions", request);
    const reference: string = whole.json.choices[0].text;
    // A character outside ASCII spans several tokens of this byte-level BPE, so the stream must
    // hold its first bytes back. U+FFFD (from invalid bytes) does not count as one.
    expect(reference).toMatch(/[^\x00-\x7f\uFFFD]/);
    for (const speculation of [{ enabled: false }, { enabled: true }]) {
      const events = await postStream("/v1/completions", { ...request, speculation });
      const pieces: string[] = events.slice(0, -1).map((event) => JSON.parse(event).choices[0]?.text ?? "");
      // Equal to the decode of all tokens at once: no piece carried half a character.
      expect(pieces.join("")).toBe(reference);
    }
  });
});
