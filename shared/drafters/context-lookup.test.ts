import { describe, expect, it } from "vitest";
import { ContextLookup } from "./context-lookup.ts";

describe("ContextLookup", () => {
  it("proposes what followed the longest earlier match", () => {
    const lookup = new ContextLookup({ vocabSize: 20, maxNgram: 3, continuation: 3 });
    lookup.append([1, 2, 3, 4, 5, 9, 2, 3, 6, 7, 1, 2, 3]);
    // [1, 2, 3] occurred once before, followed by 4 5 9.
    const proposal = lookup.propose(10);
    expect(proposal.tokens).toEqual([4, 5, 9]);
    expect(proposal.parents).toEqual([-1, 0, 1]);
    expect(proposal.scores).toEqual([1, 1, 1]);
  });

  it("merges several occurrences into a weighted tree", () => {
    const lookup = new ContextLookup({ vocabSize: 20, maxNgram: 2, continuation: 2 });
    lookup.append([5, 1, 2, 5, 1, 3, 5, 1, 2, 8, 5, 1]);
    // [5, 1] occurred three times before the end, followed by "2 5", "3 5" and (most recent) "2 8".
    const proposal = lookup.propose(10);
    expect(proposal.tokens).toEqual([2, 8, 3, 5, 5]);
    expect(proposal.parents).toEqual([-1, 0, -1, 2, 0]);
    expect(proposal.scores).toEqual([2 / 3, 1 / 2, 1 / 3, 1, 1 / 2]);
  });

  it("keeps only the most recent positions", () => {
    const lookup = new ContextLookup({ vocabSize: 10, maxNgram: 1, maxPositions: 2, continuation: 1 });
    lookup.append([1, 2, 1, 3, 1, 4, 1]);
    expect(lookup.propose(10).tokens).toEqual([4, 3]);
  });

  it("matches a naive scan on long contexts", () => {
    let state = 17;
    const tokens = Array.from({ length: 3000 }, () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16) % 6);
    const lookup = new ContextLookup({ vocabSize: 6, maxNgram: 4, maxPositions: 1, continuation: 5 });
    lookup.append(tokens);
    const last4 = tokens.slice(-4);
    let latest = -1;
    for (let i = 0; i + 4 < tokens.length; i++) if (last4.every((t, k) => tokens[i + k] === t)) latest = i + 4;
    expect(lookup.propose(10).tokens).toEqual(tokens.slice(latest, latest + 5));
  });

  it("rejects absurd options and ids", () => {
    expect(() => new ContextLookup({ vocabSize: 10, maxNgram: 0 })).toThrow(/context maxNgram = 0/);
    expect(() => new ContextLookup({ vocabSize: 10 }).append([3, -1])).toThrow(/context tokens\[1\] = -1/);
    expect(() => new ContextLookup({ vocabSize: 10 }).propose(-3)).toThrow(/maxNodes = -3/);
  });
});
