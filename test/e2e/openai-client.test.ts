/** The official `openai` npm client talks to the worker: streaming chat and completion. */
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { MODEL, post, workerUrl } from "./helpers.ts";

describe("openai client", () => {
  const client = () => new OpenAI({ baseURL: `${workerUrl()}/v1`, apiKey: "unused-locally", maxRetries: 0 });

  it("streams a chat completion", async () => {
    const messages = [{ role: "user" as const, content: "Write a Python function that adds two numbers." }];
    const stream = await client().chat.completions.create({
      model: MODEL, messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    let finishReason: string | null = null;
    let usage: any = null;
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) {
        text += chunk.choices[0].delta.content ?? "";
        finishReason = chunk.choices[0].finish_reason ?? finishReason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    const whole = await post("/v1/chat/completions", { model: MODEL, messages, max_tokens: 24, temperature: 0 });
    expect(text).toBe(whole.json.choices[0].message.content);
    expect(finishReason).toBe(whole.json.choices[0].finish_reason);
    expect(usage.completion_tokens).toBe(whole.json.usage.completion_tokens);
    expect(usage.prompt_tokens).toBe(whole.json.usage.prompt_tokens);
    expect(usage.speculation.verify_steps).toBeGreaterThan(0);
  });

  it("streams a completion", async () => {
    const prompt = "def fibonacci(n):\n";
    const stream = await client().completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    const whole = await client().completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0 });
    expect(text).toBe(whole.choices[0].text);
    expect(text.length).toBeGreaterThan(0);
  });

  it("lists the model", async () => {
    const models = await client().models.list();
    expect(models.data.map((model) => model.id)).toEqual([MODEL]);
  });
});
