import { describe, expect, it } from "vitest";
import { DraftInputError } from "./errors.ts";
import { buildRankTemplate, parseTreeTemplate, RecyclingMatrix } from "./recycling.ts";

describe("RecyclingMatrix", () => {
  it("expands a template breadth-first from the rows", () => {
    const matrix = new RecyclingMatrix(10, 3);
    matrix.update(5, [6, 7, 8]);
    matrix.update(6, [9]);
    // root → rank 0 (node 1), rank 1 (node 2); node 1 → rank 0 (node 3); node 2 → rank 0 (node 4)
    const template = { parents: [-1, 0, 0, 1, 2], ranks: [0, 0, 1, 0, 0] };
    const proposal = matrix.propose(5, template);
    // 5 → 6 and 7; 6 → 9; row of 7 is empty, so node 4 is dropped.
    expect(proposal.tokens).toEqual([6, 7, 9]);
    expect(proposal.parents).toEqual([-1, -1, 0]);
  });

  it("keeps the first topK distinct candidates", () => {
    const matrix = new RecyclingMatrix(10, 3);
    matrix.update(1, [2, 2, 3, 4, 5]);
    expect([0, 1, 2].map((rank) => matrix.candidate(1, rank))).toEqual([2, 3, 4]);
    matrix.update(1, [7, 8, 9]);
    expect([0, 1, 2].map((rank) => matrix.candidate(1, rank))).toEqual([7, 8, 9]);
  });

  it("keeps older candidates behind a short update", () => {
    const matrix = new RecyclingMatrix(10, 3);
    matrix.update(1, [2, 3, 4]);
    matrix.update(1, [3]);
    expect([0, 1, 2].map((rank) => matrix.candidate(1, rank))).toEqual([3, 2, 4]);
    matrix.update(1, [9]);
    expect([0, 1, 2].map((rank) => matrix.candidate(1, rank))).toEqual([9, 3, 2]);
  });

  it("uses 16-bit ids when the vocabulary fits", () => {
    expect(new RecyclingMatrix(65535, 8).ids).toBeInstanceOf(Uint16Array);
    expect(new RecyclingMatrix(65536, 8).ids).toBeInstanceOf(Uint32Array);
    expect(new RecyclingMatrix(1000, 8).bytes).toBe(1000 * 8 * 2);
  });

  it("rejects ids outside the vocabulary", () => {
    const matrix = new RecyclingMatrix(10, 2);
    expect(() => matrix.update(10, [1])).toThrow(DraftInputError);
    expect(() => matrix.update(1, [1, 12])).toThrow(/top-k candidates\[1\] = 12/);
  });

  it("round-trips and rejects corrupt bytes", () => {
    const matrix = new RecyclingMatrix(70000, 4);
    matrix.update(69999, [1, 69998]);
    const bytes = matrix.serialize();
    // Buffer.equals: a deep toEqual over 1.1 MB of bytes takes seconds.
    expect(Buffer.from(RecyclingMatrix.deserialize(bytes).serialize()).equals(Buffer.from(bytes))).toBe(true);
    const flipped = bytes.slice();
    flipped[30] ^= 1;
    expect(() => RecyclingMatrix.deserialize(flipped)).toThrow(/checksum mismatch/);
    expect(() => RecyclingMatrix.deserialize(bytes.slice(0, 100))).toThrow(/length 100 bytes/);
    expect(() => RecyclingMatrix.deserialize(bytes, 8)).toThrow(/vocabSize 70000 does not match the model's 8/);
    const badVersion = bytes.slice();
    badVersion[4] = 7;
    expect(() => RecyclingMatrix.deserialize(badVersion)).toThrow(/unsupported version 7/);
    expect(() => RecyclingMatrix.deserialize(new Uint8Array(24))).toThrow(/bad magic/);
  });
});

describe("tree templates", () => {
  it("parses tree_adj with ranks from sibling order", () => {
    const template = parseTreeTemplate({ tree_adj: { "0": [1, 2], "1": [3], "2": [], "3": [] } });
    expect(template).toEqual({ parents: [-1, 0, 0, 1], ranks: [0, 0, 1, 0] });
  });

  it("rejects a template that reaches a node twice", () => {
    expect(() => parseTreeTemplate({ tree_adj: { "0": [1, 2], "1": [2] } })).toThrow(/reaches node 2 twice/);
  });

  it("builds the best-first template of a rank model", () => {
    // P(rank 0) = 0.6, P(rank 1) = 0.3: path probabilities 0.6 (r0), 0.36 (r0 r0), 0.3 (r1), 0.216 (r0 r0 r0).
    const template = buildRankTemplate([0.6, 0.3], 4);
    expect(template.parents).toEqual([-1, 0, 1, 0, 2]);
    expect(template.ranks).toEqual([0, 0, 0, 1, 0]);
  });
});
