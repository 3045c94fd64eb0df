import { describe, expect, it } from "vitest";
import { pruneTree, runDecodeLoop, type DraftSource, type DraftTree, type StepResult, type StepVerifier } from "./decode-loop.ts";

// A tiny byte vocabulary: token i < 256 is byte i; 300 is EOS.
const EOS = 300;
const decodeBytes = (ids: readonly number[]) => Uint8Array.from(ids.filter((id) => id < 256));
const bytesOf = (text: string) => [...new TextEncoder().encode(text)];

/** Verifier that follows a fixed target sequence, accepting the longest agreeing tree path. */
class ScriptedVerifier implements StepVerifier {
  private position = 0;
  readonly trees: DraftTree[] = [];
  constructor(private readonly target: number[]) {}

  async verify(tree: DraftTree): Promise<StepResult> {
    this.trees.push(tree);
    const acceptedTokens: number[] = [];
    const acceptedNodes: number[] = [];
    let parent = -1;
    for (;;) {
      const next = this.target[this.position];
      if (next === undefined) throw new Error("the scripted target ran out of tokens");
      this.position += 1;
      acceptedTokens.push(next);
      const child = tree.tokens.findIndex((token, i) => tree.parents[i] === parent && token === next);
      if (child === -1) break;
      acceptedNodes.push(child);
      parent = child;
      if (next === EOS) break;
    }
    return { acceptedTokens, acceptedNodes, topK: acceptedTokens.map((token) => [token]), forwardMs: 1, roundTripMs: 2 };
  }
}

/** Drafter that always proposes a chain: the next `length` target tokens from its position. */
class OracleDrafts implements DraftSource {
  private position = 0;
  readonly verified: number[][] = [];
  constructor(private readonly target: number[], private readonly length: number) {}

  nextTree() {
    const tokens = this.target.slice(this.position, this.position + this.length);
    return { tree: { tokens, parents: tokens.map((_, i) => i - 1) }, proposers: tokens.map(() => 1), draftMs: 0.5 };
  }

  onVerified(_plan: unknown, feedback: { acceptedTokens: readonly number[] }) {
    this.verified.push([...feedback.acceptedTokens]);
    this.position += feedback.acceptedTokens.length;
  }
}

async function decode(target: number[], options: { maxTokens: number; stop?: string[]; draftLength?: number }) {
  const pieces: string[] = [];
  const drafts = options.draftLength ? new OracleDrafts(target, options.draftLength) : null;
  const verifier = new ScriptedVerifier(target);
  const result = await runDecodeLoop(verifier, {
    maxTokens: options.maxTokens,
    maxTreeDepth: () => 64,
    promptLength: 0,
    stop: options.stop ?? [],
    eosTokenIds: [EOS],
    decodeBytes,
    drafts,
    signal: new AbortController().signal,
    onText: (text) => void pieces.push(text),
  });
  return { result, pieces, verifier, drafts };
}

describe("runDecodeLoop", () => {
  it("cuts at a stop string in the middle of an accepted block", async () => {
    const target = [...bytesOf("one two STOP three four"), EOS];
    const { result, pieces } = await decode(target, { maxTokens: 100, stop: ["STOP"], draftLength: 50 });
    expect(result.finishReason).toBe("stop");
    expect(result.text).toBe("one two ");
    expect(pieces.join("")).toBe("one two ");
    // Tokens end with the one that completed "STOP".
    expect(result.tokens).toEqual(bytesOf("one two STOP"));
    expect(result.counts.verifySteps).toBe(1);
  });

  it("cuts at a stop string that spans steps", async () => {
    const target = bytesOf("abc<|end|>xyz");
    const { result, pieces } = await decode(target, { maxTokens: 100, stop: ["<|end|>"], draftLength: 2 });
    expect(result.text).toBe("abc");
    expect(pieces.join("")).toBe("abc");
    expect(result.tokens).toEqual(bytesOf("abc<|end|>"));
    expect(result.counts.verifySteps).toBe(4);
  });

  it("never streams a held-back stop prefix that turns out not to stop", async () => {
    const target = [...bytesOf("a<|en|>b"), EOS];
    const { result, pieces } = await decode(target, { maxTokens: 100, stop: ["<|end|>"] });
    expect(result.text).toBe("a<|en|>b");
    expect(pieces.join("")).toBe("a<|en|>b");
    // "<|en" is held until "|" shows it is not "<|end|>"; each later byte is released at once.
    expect(pieces).toEqual(["a", "<|en|", ">", "b"]);
  });

  it("stops at EOS inside an accepted draft", async () => {
    const target = [...bytesOf("hi"), EOS, ...bytesOf("never")];
    const { result, pieces } = await decode(target, { maxTokens: 100, draftLength: 10 });
    expect(result.finishReason).toBe("stop");
    expect(result.tokens).toEqual([...bytesOf("hi"), EOS]);
    expect(pieces.join("")).toBe("hi");
    expect(result.counts.verifySteps).toBe(1);
  });

  it("stops at max_tokens inside an accepted draft", async () => {
    const target = bytesOf("0123456789");
    const { result, pieces } = await decode(target, { maxTokens: 4, draftLength: 8 });
    expect(result.finishReason).toBe("length");
    expect(result.tokens).toEqual(bytesOf("0123"));
    expect(pieces.join("")).toBe("0123");
  });

  it("cuts a block longer than max_tokens allows", async () => {
    // A verifier may return more tokens than were drafted (a service that decodes ahead).
    const block = bytesOf("abcdef");
    const verifier: StepVerifier = {
      verify: async () => ({ acceptedTokens: block, acceptedNodes: [], topK: [], forwardMs: 0, roundTripMs: 0 }),
    };
    const pieces: string[] = [];
    const result = await runDecodeLoop(verifier, {
      maxTokens: 4, maxTreeDepth: () => 64, promptLength: 0, stop: [], eosTokenIds: [EOS], decodeBytes, drafts: null,
      signal: new AbortController().signal, onText: (text) => void pieces.push(text),
    });
    expect(result.finishReason).toBe("length");
    expect(result.tokens).toEqual(bytesOf("abcd"));
    expect(pieces.join("")).toBe("abcd");
  });

  it("prunes drafts deeper than the tokens still allowed", async () => {
    const target = bytesOf("0123456789");
    const { verifier } = await decode(target, { maxTokens: 4, draftLength: 8 });
    // Three drafted tokens plus the bonus make the four allowed tokens.
    expect(verifier.trees.map((tree) => tree.tokens.length)).toEqual([3]);
  });

  it("streams a character split across steps intact", async () => {
    const target = [...bytesOf("x€y"), EOS];
    for (const draftLength of [0, 1, 2, 3]) {
      const { result, pieces } = await decode(target, { maxTokens: 100, draftLength });
      expect(pieces.join("")).toBe("x€y");
      expect(pieces.every((piece) => !piece.includes("\uFFFD"))).toBe(true);
      expect(result.tokens.length).toBe(6);
    }
  });

  it("counts steps, drafted and accepted tokens", async () => {
    const target = [...bytesOf("abcdefgh"), EOS];
    const { result, drafts } = await decode(target, { maxTokens: 100, draftLength: 3 });
    // Each step accepts 3 drafted tokens plus a bonus: abcd, efgh, then the drafted EOS alone.
    expect(drafts!.verified).toEqual([bytesOf("abcd"), bytesOf("efgh"), [EOS]]);
    expect(result.counts.verifySteps).toBe(3);
    expect(result.counts.draftedTokens).toBe(3 + 3 + 1);
    expect(result.counts.acceptedTokens).toBe(3 + 3 + 1);
    expect(result.counts.tau).toBe(3);
  });

  it("falls back to plain decoding when drafters throw", async () => {
    const target = [...bytesOf("abc"), EOS];
    const broken: DraftSource = {
      nextTree: () => ({ tree: { tokens: [97], parents: [-1] }, proposers: [1], draftMs: 0 }),
      onVerified: () => {
        throw new Error("drafter bug");
      },
    };
    const verifier = new ScriptedVerifier(target);
    const result = await runDecodeLoop(verifier, {
      maxTokens: 10, maxTreeDepth: () => 64, promptLength: 0, stop: [], eosTokenIds: [EOS], decodeBytes, drafts: broken,
      signal: new AbortController().signal, onText: () => {},
    });
    expect(result.text).toBe("abc");
    expect(verifier.trees.map((tree) => tree.tokens.length)).toEqual([1, 0, 0]);
  });

  it("sends empty trees when speculation is off", async () => {
    const target = [...bytesOf("abc"), EOS];
    const { result, verifier } = await decode(target, { maxTokens: 100 });
    expect(verifier.trees.every((tree) => tree.tokens.length === 0)).toBe(true);
    expect(result.counts.verifySteps).toBe(4);
    expect(result.counts.tau).toBe(1);
  });

  it("stops before the first step when the signal is aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("client disconnected"));
    const run = runDecodeLoop(new ScriptedVerifier(bytesOf("abc")), {
      maxTokens: 10, maxTreeDepth: () => 64, promptLength: 0, stop: [], eosTokenIds: [EOS], decodeBytes, drafts: null, signal: controller.signal, onText: () => {},
    });
    await expect(run).rejects.toThrow("client disconnected");
  });
});

describe("pruneTree", () => {
  it("keeps nodes within the depth and reindexes parents", () => {
    const tree = { tokens: [10, 11, 12, 13, 14], parents: [-1, 0, 1, -1, 3] };
    expect(pruneTree(tree, 1)).toEqual({ tree: { tokens: [10, 13], parents: [-1, -1] }, originalIndex: [0, 3] });
    expect(pruneTree(tree, 2)).toEqual({ tree: { tokens: [10, 11, 13, 14], parents: [-1, 0, -1, 2] }, originalIndex: [0, 1, 3, 4] });
    expect(pruneTree(tree, 0).tree).toEqual({ tokens: [], parents: [] });
  });
});
