import { describe, expect, it } from "vitest";
import { EdgeCalibrator } from "./calibration.ts";
import { composeTree } from "./composer.ts";
import { DRAFTER_NAMES, type DraftCandidates } from "./drafters/candidates.ts";
import { nodeDepths, validateTree } from "./tree.ts";

function random(seed: number): () => number {
  let state = seed;
  return () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Builds a random candidate tree with distinct siblings over a tiny vocabulary, so drafters overlap often. */
function randomCandidates(drafter: (typeof DRAFTER_NAMES)[number], size: number, next: () => number): DraftCandidates {
  const set: DraftCandidates = { drafter, tokens: [], parents: [], scores: [], features: [] };
  const used = new Set<string>();
  for (let i = 0; i < size; i++) {
    const parent = Math.floor(next() * (set.tokens.length + 1)) - 1;
    const token = Math.floor(next() * 4);
    if (used.has(`${parent}:${token}`)) continue;
    used.add(`${parent}:${token}`);
    set.tokens.push(token);
    set.parents.push(parent);
    set.scores.push(next());
    set.features.push(Math.floor(next() * 64));
  }
  return set;
}

describe("composeTree", () => {
  it("merges duplicate paths and records every proposer", () => {
    const a: DraftCandidates = { drafter: "trie", tokens: [5, 6], parents: [-1, 0], scores: [0.9, 0.8], features: [0, 0] };
    const b: DraftCandidates = { drafter: "context", tokens: [5, 7], parents: [-1, 0], scores: [0.5, 0.4], features: [1, 1] };
    const tree = composeTree([a, b], new EdgeCalibrator(), { maxNodes: 10 });
    expect(tree.tokens).toEqual([5, 6, 7]);
    expect(tree.parents).toEqual([-1, 0, 0]);
    expect(tree.proposers).toEqual([0b1010, 0b0010, 0b1000]);
    expect(tree.pathProbs[0]).toBeCloseTo(0.9, 12);
    expect(tree.pathProbs[1]).toBeCloseTo(0.72, 12);
    expect(tree.pathProbs[2]).toBeCloseTo(0.36, 12);
  });

  it("keeps budget, order and uniqueness on random inputs", () => {
    const next = random(5);
    for (let trial = 0; trial < 200; trial++) {
      const sets = DRAFTER_NAMES.map((name) => randomCandidates(name, Math.floor(next() * 40), next));
      const maxNodes = Math.floor(next() * 30);
      const maxDepth = 1 + Math.floor(next() * 5);
      const tree = composeTree(sets, new EdgeCalibrator(), { maxNodes, maxDepth });
      expect(tree.tokens.length).toBeLessThanOrEqual(maxNodes);
      expect(() => validateTree(tree, { maxDepth })).not.toThrow();
      for (let i = 1; i < tree.pathProbs.length; i++) expect(tree.pathProbs[i]).toBeLessThanOrEqual(tree.pathProbs[i - 1]);
      expect(tree.proposers.every((mask) => mask > 0)).toBe(true);
      expect(tree.features.length).toBe(tree.tokens.length * DRAFTER_NAMES.length);
      expect(Math.max(0, ...nodeDepths(tree.parents))).toBeLessThanOrEqual(maxDepth);
    }
  });

  it("learns to prefer the drafter that gets accepted", () => {
    const calibrator = new EdgeCalibrator();
    for (let step = 0; step < 50; step++) {
      calibrator.record(1, 0, false); // trie, bucket 0: always rejected
      calibrator.record(3, 0, true); // context, bucket 0: always accepted
      calibrator.endStep();
    }
    const trie: DraftCandidates = { drafter: "trie", tokens: [1], parents: [-1], scores: [0.9], features: [0] };
    const context: DraftCandidates = { drafter: "context", tokens: [2], parents: [-1], scores: [0.3], features: [0] };
    const tree = composeTree([trie, context], calibrator, { maxNodes: 1 });
    expect(tree.tokens).toEqual([2]);
  });

  it("rejects absurd budgets", () => {
    expect(() => composeTree([], new EdgeCalibrator(), { maxNodes: -1 })).toThrow(/maxNodes = -1/);
    expect(() => composeTree([], new EdgeCalibrator(), { maxNodes: 2.5 })).toThrow(/maxNodes = 2.5/);
  });
});
