import { describe, expect, it } from "vitest";
import { SuffixIndex } from "../suffix-index/suffix-index.ts";
import { CorpusDrafter } from "./corpus.ts";

const VOCAB = 20;

describe("CorpusDrafter", () => {
  it("merges continuation counts across shards", () => {
    // After [1, 2]: shard A continues 3 twice and 4 once, shard B continues 3 once and 5 once.
    const shardA = SuffixIndex.build([1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 4], VOCAB);
    const shardB = SuffixIndex.build([7, 1, 2, 3, 7, 1, 2, 5], VOCAB);
    const drafter = new CorpusDrafter([shardA, shardB], VOCAB);
    const proposal = drafter.propose([0, 1, 2], 3, { maxChildren: 8 });
    // Root children by count: 3 (3 of 5 matches), then 4 and 5 (1 each, lower token first).
    expect(proposal.tokens).toEqual([3, 4, 5]);
    expect(proposal.parents).toEqual([-1, -1, -1]);
    expect(proposal.scores).toEqual([3 / 6, 1 / 6, 1 / 6]);
  });

  it("uses only the shards with the longest match", () => {
    const long = SuffixIndex.build([5, 6, 7, 8], VOCAB);
    const short = SuffixIndex.build([6, 7, 11], VOCAB);
    const drafter = new CorpusDrafter([long, short], VOCAB);
    expect(drafter.propose([5, 6, 7], 4).tokens).toEqual([8]);
  });

  it("proposes nothing below the minimum match", () => {
    const drafter = new CorpusDrafter([SuffixIndex.build([1, 2, 3], VOCAB)], VOCAB);
    expect(drafter.propose([9, 2], 4).tokens).toEqual([]);
    expect(drafter.propose([9, 2], 4, { minMatch: 1 }).tokens).toEqual([3]);
  });

  it("rejects shards of another vocabulary", () => {
    expect(() => new CorpusDrafter([SuffixIndex.build([1], 10)], VOCAB)).toThrow(/corpus shard 0 has vocabSize 10, the model has 20/);
  });
});
