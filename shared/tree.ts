/**
 * The draft tree in the flat wire form the GPU service accepts, and pure helpers over it.
 *
 * `tokens[i]` is the token of node i and `parents[i]` its parent: `-1` (ROOT) means "child of the last
 * committed token", any other value must be `< i`, so parents always come before their children.
 * Siblings carry distinct tokens. Node i sits at position `committed_len + depth(i)`, where the
 * root's children have depth 1.
 *
 * Worked example: tokens [17, 42, 18, 5], parents [-1, 0, -1, 1]
 *
 *     last committed token
 *       ├── 17 (node 0, depth 1)
 *       │    └── 42 (node 1, depth 2)
 *       │         └── 5 (node 3, depth 3)
 *       └── 18 (node 2, depth 1)
 *
 * depths [1, 2, 1, 3]; with 7 committed tokens the positions are [7, 8, 7, 9].
 */

import { DraftInputError } from "./drafters/errors.ts";

/** Parent value of a child of the last committed token. */
export const ROOT = -1;

/** The draft tree exactly as it travels in a verify request. */
export interface FlatTree {
  tokens: number[];
  parents: number[];
}

export function emptyTree(): FlatTree {
  return { tokens: [], parents: [] };
}

/**
 * Checks the wire invariants and throws `invalid_tree` naming the first violation: equal lengths,
 * `parents[i]` an integer in [-1, i), distinct sibling tokens, token ids in [0, vocabSize) when a
 * vocabulary size is given, and depth ≤ maxDepth when given.
 */
export function validateTree(tree: FlatTree, options: { vocabSize?: number; maxDepth?: number } = {}): void {
  const { tokens, parents } = tree;
  if (!Array.isArray(tokens) || !Array.isArray(parents)) {
    throw new DraftInputError("invalid_tree", "tree.tokens and tree.parents must both be arrays");
  }
  if (tokens.length !== parents.length) {
    throw new DraftInputError(
      "invalid_tree",
      `tree.tokens has ${tokens.length} entries but tree.parents has ${parents.length}`,
    );
  }
  const seenChildren = new Set<string>();
  const depths: number[] = new Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const parent = parents[i];
    if (!Number.isInteger(parent) || parent < ROOT || parent >= i) {
      throw new DraftInputError("invalid_tree", `tree.parents[${i}] = ${parent} must be an integer in [-1, ${i})`);
    }
    const token = tokens[i];
    const vocabSize = options.vocabSize ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
      throw new DraftInputError("invalid_tree", `tree.tokens[${i}] = ${token} is not a token id in [0, ${vocabSize})`);
    }
    const key = `${parent}:${token}`;
    if (seenChildren.has(key)) {
      throw new DraftInputError("invalid_tree", `tree node ${i} repeats token ${token} under parent ${parent}`);
    }
    seenChildren.add(key);
    depths[i] = parent === ROOT ? 1 : depths[parent] + 1;
    if (options.maxDepth !== undefined && depths[i] > options.maxDepth) {
      throw new DraftInputError("invalid_tree", `tree node ${i} has depth ${depths[i]} > max depth ${options.maxDepth}`);
    }
  }
}

/** Returns the depth of every node (root children have depth 1). Assumes a valid tree. */
export function nodeDepths(parents: readonly number[]): number[] {
  const depths = new Array<number>(parents.length);
  for (let i = 0; i < parents.length; i++) {
    depths[i] = parents[i] === ROOT ? 1 : depths[parents[i]] + 1;
  }
  return depths;
}

/** Returns the maximum node depth, 0 for an empty tree. */
export function treeDepth(parents: readonly number[]): number {
  let max = 0;
  for (const depth of nodeDepths(parents)) max = Math.max(max, depth);
  return max;
}

/** Returns the ancestors of node i, nearest first, without i itself: for the example above, node 3 → [1, 0]. */
export function ancestors(parents: readonly number[], i: number): number[] {
  const result: number[] = [];
  for (let node = parents[i]; node !== ROOT; node = parents[node]) result.push(node);
  return result;
}

/** Returns the node indices from a root child down to node i: node 3 above → [0, 1, 3]. */
export function pathTo(parents: readonly number[], i: number): number[] {
  return [i, ...ancestors(parents, i)].reverse();
}

/**
 * Returns the tree part of the attention mask: `mask[i][j]` is true iff node i attends to node j,
 * that is j is i or one of its ancestors. Every node also sees all committed tokens (not shown).
 * Built row by row: a child's row is its parent's row plus itself, O(n²) for n nodes.
 */
export function attentionMask(parents: readonly number[]): boolean[][] {
  const n = parents.length;
  const mask: boolean[][] = [];
  for (let i = 0; i < n; i++) {
    const row = parents[i] === ROOT ? new Array<boolean>(n).fill(false) : mask[parents[i]].slice();
    row[i] = true;
    mask.push(row);
  }
  return mask;
}

/** Returns the children of every node and of the root (`roots`), each in index order. */
export function childLists(parents: readonly number[]): { roots: number[]; children: number[][] } {
  const roots: number[] = [];
  const children: number[][] = parents.map(() => []);
  parents.forEach((parent, i) => (parent === ROOT ? roots : children[parent]).push(i));
  return { roots, children };
}

/**
 * Returns the canonical form of a tree: breadth-first order, siblings by ascending token id. Two
 * trees that hold the same set of paths have the same canonical form, whatever their node order.
 */
export function canonicalTree(tree: FlatTree): FlatTree {
  const { roots, children } = childLists(tree.parents);
  const byToken = (a: number, b: number) => tree.tokens[a] - tree.tokens[b];
  const result = emptyTree();
  const queue: Array<{ node: number; newParent: number }> = roots.sort(byToken).map((node) => ({ node, newParent: ROOT }));
  for (let head = 0; head < queue.length; head++) {
    const { node, newParent } = queue[head];
    const newIndex = result.tokens.length;
    result.tokens.push(tree.tokens[node]);
    result.parents.push(newParent);
    for (const child of children[node].sort(byToken)) queue.push({ node: child, newParent: newIndex });
  }
  return result;
}
