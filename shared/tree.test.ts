import { describe, expect, it } from "vitest";
import { DraftInputError } from "./drafters/errors.ts";
import { ancestors, attentionMask, canonicalTree, nodeDepths, pathTo, treeDepth, validateTree, type FlatTree } from "./tree.ts";

const example: FlatTree = { tokens: [17, 42, 18, 5], parents: [-1, 0, -1, 1] };

/** Mask by brute force: walk up from i and mark every node met. */
function bruteForceMask(parents: number[]): boolean[][] {
  return parents.map((_, i) => {
    const row = new Array<boolean>(parents.length).fill(false);
    for (let node = i; node !== -1; node = parents[node]) row[node] = true;
    return row;
  });
}

function randomTree(size: number, seed: number): FlatTree {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const tree: FlatTree = { tokens: [], parents: [] };
  for (let i = 0; i < size; i++) {
    tree.parents.push(Math.floor(next() * (i + 1)) - 1);
    tree.tokens.push(i); // distinct tokens make siblings distinct
  }
  return tree;
}

describe("tree helpers", () => {
  it("computes depths of the worked example", () => {
    expect(nodeDepths(example.parents)).toEqual([1, 2, 1, 3]);
    expect(treeDepth(example.parents)).toBe(3);
    expect(treeDepth([])).toBe(0);
  });

  it("lists ancestors and paths", () => {
    expect(ancestors(example.parents, 3)).toEqual([1, 0]);
    expect(ancestors(example.parents, 2)).toEqual([]);
    expect(pathTo(example.parents, 3)).toEqual([0, 1, 3]);
  });

  it("builds the attention mask of the worked example", () => {
    expect(attentionMask(example.parents)).toEqual([
      [true, false, false, false],
      [true, true, false, false],
      [false, false, true, false],
      [true, true, false, true],
    ]);
  });

  it("matches a brute-force mask on random trees", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const tree = randomTree(1 + (seed * 7) % 40, seed);
      expect(attentionMask(tree.parents)).toEqual(bruteForceMask(tree.parents));
    }
  });

  it("canonical form ignores node order", () => {
    const reordered: FlatTree = { tokens: [18, 17, 42, 5], parents: [-1, -1, 1, 2] };
    expect(canonicalTree(reordered)).toEqual(canonicalTree(example));
    expect(canonicalTree(example)).toEqual({ tokens: [17, 18, 42, 5], parents: [-1, -1, 0, 2] });
  });
});

describe("validateTree", () => {
  it("accepts valid and empty trees", () => {
    expect(() => validateTree(example, { vocabSize: 100, maxDepth: 3 })).not.toThrow();
    expect(() => validateTree({ tokens: [], parents: [] })).not.toThrow();
  });

  const cases: Array<[string, FlatTree, object, RegExp]> = [
    ["length mismatch", { tokens: [1, 2], parents: [-1] }, {}, /2 entries but tree.parents has 1/],
    ["parent after child", { tokens: [1, 2], parents: [-1, 1] }, {}, /parents\[1\] = 1 must be an integer in \[-1, 1\)/],
    ["parent below -1", { tokens: [1], parents: [-2] }, {}, /parents\[0\] = -2/],
    ["duplicate sibling", { tokens: [1, 1], parents: [-1, -1] }, {}, /node 1 repeats token 1 under parent -1/],
    ["token out of vocabulary", { tokens: [100], parents: [-1] }, { vocabSize: 100 }, /tokens\[0\] = 100 is not a token id in \[0, 100\)/],
    ["too deep", example, { maxDepth: 2 }, /node 3 has depth 3 > max depth 2/],
  ];
  for (const [name, tree, options, message] of cases) {
    it(`rejects ${name}`, () => {
      expect(() => validateTree(tree, options)).toThrow(DraftInputError);
      expect(() => validateTree(tree, options)).toThrow(message);
    });
  }
});
