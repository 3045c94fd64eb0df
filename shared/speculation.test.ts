import { describe, expect, it } from "vitest";
import { FixedCostModel } from "./budget.ts";
import { DraftInputError, Speculator, type DraftPlan, type RequestSpeculation } from "./speculation.ts";
import { SuffixIndex } from "./suffix-index/suffix-index.ts";
import { validateTree } from "./tree.ts";

const VOCAB = 32;
const cheapVerifier = new FixedCostModel({ baseMs: 10, perNodeMs: 0.01, overheadMs: 1 });

/** Exact greedy replay: accepts the longest tree path that matches `truth` from `position`, plus the bonus token. */
function replayStep(plan: DraftPlan, truth: number[], position: number) {
  const acceptedTokens: number[] = [];
  const acceptedNodes: number[] = [];
  let parent = -1;
  while (position + acceptedTokens.length < truth.length - 1) {
    const want = truth[position + acceptedTokens.length];
    const node = plan.tree.tokens.findIndex((token, i) => token === want && plan.tree.parents[i] === parent);
    if (node < 0) break;
    acceptedTokens.push(want);
    acceptedNodes.push(node);
    parent = node;
  }
  acceptedTokens.push(truth[position + acceptedTokens.length]);
  return { acceptedTokens, acceptedNodes, topK: acceptedTokens.map(() => []), forwardMs: 10, roundTripMs: 11 };
}

function decode(request: RequestSpeculation, truth: number[]): number[] {
  const output: number[] = [];
  while (output.length < truth.length) {
    const plan = request.nextTree();
    validateTree(plan.tree, { vocabSize: VOCAB });
    const feedback = replayStep(plan, truth, output.length);
    request.onVerified(plan, feedback);
    output.push(...feedback.acceptedTokens);
  }
  return output;
}

describe("Speculator", () => {
  it("reproduces the true continuation exactly", () => {
    const speculator = new Speculator({ vocabSize: VOCAB, costModel: cheapVerifier });
    const truth = [5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 9, 1];
    const request = speculator.beginRequest([1, 2, 5, 6, 7, 8]);
    expect(decode(request, truth)).toEqual(truth);
    const stats = request.stats();
    expect(stats.accepted).toBe(truth.length - stats.verifySteps);
    expect(stats.tau).toBe(truth.length / stats.verifySteps);
    expect(stats.tau).toBeGreaterThan(2);
  });

  it("credits the corpus drafter for corpus-only text", () => {
    const corpusText = [3, 9, 4, 11, 12, 13, 14, 15, 16, 17, 18];
    const speculator = new Speculator({ vocabSize: VOCAB, costModel: cheapVerifier, corpus: [SuffixIndex.build(corpusText, VOCAB)] });
    const request = speculator.beginRequest([3, 9, 4], { drafters: ["corpus"] });
    decode(request, [11, 12, 13, 14, 15, 16, 17, 18]);
    const stats = request.stats();
    expect(stats.acceptedByDrafter.corpus).toBe(7);
    expect(stats.acceptedByDrafter.trie).toBe(0);
    expect(stats.verifySteps).toBe(1);
  });

  it("drafts nothing when the round trip dwarfs the gain", () => {
    const slow = new FixedCostModel({ baseMs: 1, perNodeMs: 50, overheadMs: 0 });
    const speculator = new Speculator({ vocabSize: VOCAB, costModel: slow });
    const request = speculator.beginRequest([1, 2, 3, 1, 2, 3, 1, 2]);
    expect(request.nextTree().tree.tokens).toEqual([]);
  });

  it("shares the trie across requests after finish", () => {
    const speculator = new Speculator({ vocabSize: VOCAB, costModel: cheapVerifier });
    const first = speculator.beginRequest([20, 21, 22, 23, 24, 25, 26]);
    first.finish();
    const second = speculator.beginRequest([1, 20, 21], { drafters: ["trie"] });
    const plan = second.nextTree();
    expect(plan.tree.tokens.slice(0, 3)).toEqual([22, 23, 24]);
    expect(plan.tree.parents.slice(0, 3)).toEqual([-1, 0, 1]);
  });

  it("learns recycling rows from top-k feedback", () => {
    const speculator = new Speculator({ vocabSize: VOCAB, costModel: cheapVerifier });
    const request = speculator.beginRequest([7], { drafters: ["recycling"] });
    const plan = request.nextTree();
    expect(plan.tree.tokens).toEqual([]);
    request.onVerified(plan, { acceptedTokens: [8], acceptedNodes: [], topK: [[8, 9, 10]], forwardMs: 5, roundTripMs: 6 });
    expect(speculator.recycling.candidate(7, 0)).toBe(8);
    expect(speculator.recycling.candidate(7, 2)).toBe(10);
  });

  it("round-trips state through bytes", () => {
    const speculator = new Speculator({ vocabSize: VOCAB });
    speculator.beginRequest([1, 2, 3, 4]).finish();
    speculator.recycling.update(4, [5, 6]);
    const restored = new Speculator({ vocabSize: VOCAB });
    restored.importState(speculator.exportState());
    expect(restored.exportState()).toEqual(speculator.exportState());
  });

  it("rejects corrupt state without changing anything", () => {
    const speculator = new Speculator({ vocabSize: VOCAB });
    const before = speculator.exportState();
    const bad = before.trie.slice(0, 10);
    expect(() => speculator.importState({ recycling: before.recycling, trie: bad })).toThrow(/trie state: 10 bytes is shorter/);
    expect(speculator.exportState()).toEqual(before);
  });

  it("rejects bad requests and feedback with typed errors", () => {
    const speculator = new Speculator({ vocabSize: VOCAB });
    const codeOf = (action: () => unknown) => {
      try {
        action();
      } catch (error) {
        return error instanceof DraftInputError ? error.code : "untyped";
      }
      return "none";
    };
    expect(codeOf(() => speculator.beginRequest([]))).toBe("empty_context");
    expect(codeOf(() => speculator.beginRequest([VOCAB]))).toBe("token_out_of_range");
    expect(codeOf(() => speculator.beginRequest([1], { maxBudget: -1 }))).toBe("invalid_budget");
    expect(codeOf(() => speculator.beginRequest([1], { maxBudget: 1e9 }))).toBe("invalid_budget");
    const request = speculator.beginRequest([1, 2, 1, 2, 1]);
    const plan = request.nextTree();
    const ok = { acceptedTokens: [2], acceptedNodes: [], topK: [], forwardMs: 1, roundTripMs: 2 };
    expect(codeOf(() => request.onVerified({ ...plan }, ok))).toBe("invalid_feedback");
    expect(codeOf(() => request.onVerified(plan, { ...ok, acceptedTokens: [] }))).toBe("invalid_feedback");
    expect(codeOf(() => request.onVerified(plan, { ...ok, acceptedNodes: [0, 1, 2] }))).toBe("invalid_feedback");
    expect(codeOf(() => request.onVerified(plan, { ...ok, topK: [[1], [2]] }))).toBe("invalid_feedback");
    expect(codeOf(() => request.onVerified(plan, { ...ok, forwardMs: Number.NaN }))).toBe("invalid_feedback");
    expect(codeOf(() => request.onVerified(plan, ok))).toBe("none");
    expect(codeOf(() => request.onVerified(plan, ok))).toBe("invalid_feedback");
  });
});

describe("Speculator memory", () => {
  it("counts recycling, trie and corpus bytes", () => {
    const corpus = SuffixIndex.build([1, 2, 3, 4], VOCAB);
    const speculator = new Speculator({ vocabSize: VOCAB, corpus: [corpus], topK: 4, trieMaxBytes: 1 << 20 });
    const recyclingBytes = VOCAB * 4 * 2;
    const trieBytes = VOCAB * 4 + 1024 * 20; // root index plus the initial 1024 nodes
    const corpusBytes = 4 * 2 + 4 * 4 + (VOCAB + 1) * 4; // tokens, suffix array, first-token buckets
    expect(speculator.memoryBytes()).toBe(recyclingBytes + trieBytes + corpusBytes);
  });
});
