import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadModelTokenizerFromFolder } from "../../shared/tokenizer-node.ts";
import type { ModelTokenizer } from "../../shared/tokenizer.ts";
import { fitToContext } from "./e2e-prompts.ts";
import { ROOT } from "./stack.ts";

let tokenizer: ModelTokenizer;

beforeAll(async () => {
  tokenizer = await loadModelTokenizerFromFolder(join(ROOT, "models/edgespec-tiny"));
});

describe("fitToContext", () => {
  it("keeps a short conversation unchanged", () => {
    const messages = [{ role: "user" as const, content: "Summarize: a short text." }];
    const fitted = fitToContext(tokenizer, messages, 100);

    expect(fitted).toEqual({ messages, truncated: false });
  });

  it("cuts the middle of the longest message", () => {
    const body = Array.from({ length: 300 }, (_, i) => `word${i}`).join(" ");
    const messages = [
      { role: "user" as const, content: `Summarize: ${body} QUESTION?` },
      { role: "assistant" as const, content: "ok" },
    ];
    const fitted = fitToContext(tokenizer, messages, 200);

    expect(fitted).not.toBeNull();
    expect(fitted!.truncated).toBe(true);
    expect(tokenizer.encodeChat(fitted!.messages).length).toBeLessThanOrEqual(200);
    expect(fitted!.messages[0].content.startsWith("Summarize: word0")).toBe(true);
    expect(fitted!.messages[0].content.endsWith("QUESTION?")).toBe(true);
    expect(fitted!.messages[0].content).toContain("\n...\n");
    expect(fitted!.messages[1]).toEqual({ role: "assistant", content: "ok" });
  });

  it("returns null when the head alone does not fit", () => {
    const body = Array.from({ length: 300 }, (_, i) => `word${i}`).join(" ");
    expect(fitToContext(tokenizer, [{ role: "user", content: body }], 20)).toBeNull();
  });
});
