/**
 * The composer: merges every drafter's candidates into one draft tree of at most `maxNodes` nodes.
 *
 * 1. Union: candidate paths from all drafters go into one trie keyed by (parent, token), so the same
 *    path proposed twice becomes one node that remembers every proposer.
 * 2. Edge estimate: each proposer's raw score is calibrated (EdgeCalibrator); the node takes the
 *    maximum over its proposers.
 * 3. Best first: a max-heap on path probability (product of edge estimates from the root) pops nodes
 *    starting from the root's children. A child's path probability never exceeds its parent's, so the
 *    pop order lists parents before children and every prefix of it is the best tree of that size.
 *
 * Cost: O(C log C) for C candidate nodes in total.
 */

import type { EdgeCalibrator } from "./calibration";
import { BestFirstQueue } from "./drafters/best-first";
import { DRAFTER_NAMES, drafterIndex, type DraftCandidates } from "./drafters/candidates";
import { checkIntegerOption } from "./drafters/errors";
import { ROOT } from "./tree";

const DRAFTER_COUNT = DRAFTER_NAMES.length;

/** A composed draft tree, nodes in best-first order (so `pathProbs` is non-increasing). */
export interface ComposedTree {
  tokens: number[];
  parents: number[];
  /** Bitmask per node: bit `drafterIndex(name)` is set when that drafter proposed the node. */
  proposers: number[];
  /** Estimated probability that the verifier accepts the whole path from the root to the node. */
  pathProbs: number[];
  /** Calibration feature per node and drafter, [node * 4 + drafter], -1 where not proposed. */
  features: Int16Array;
}

interface UnionNode {
  token: number;
  parent: number;
  edgeProb: number;
  proposers: number;
  features: number[];
  children: number[];
}

export function composeTree(
  candidates: readonly DraftCandidates[],
  calibrator: EdgeCalibrator,
  options: { maxNodes: number; maxDepth?: number },
): ComposedTree {
  const maxNodes = checkIntegerOption(options.maxNodes, 0, 1 << 16, "maxNodes", "invalid_budget");
  const maxDepth = checkIntegerOption(options.maxDepth ?? 64, 1, 1024, "maxDepth", "invalid_budget");
  const union = buildUnion(candidates, calibrator);
  return selectBestFirst(union, maxNodes, maxDepth);
}

function buildUnion(candidates: readonly DraftCandidates[], calibrator: EdgeCalibrator): UnionNode[] {
  const nodes: UnionNode[] = [];
  const rootChildren: number[] = [];
  const index = new Map<string, number>();
  for (const set of candidates) {
    const drafter = drafterIndex(set.drafter);
    const unionOf = new Array<number>(set.tokens.length);
    for (let i = 0; i < set.tokens.length; i++) {
      const localParent = set.parents[i];
      if (!(localParent >= ROOT && localParent < i)) {
        throw new Error(`${set.drafter} candidates: parents[${i}] = ${localParent} is not in [-1, ${i})`);
      }
      const parent = localParent === ROOT ? ROOT : unionOf[localParent];
      const key = `${parent}:${set.tokens[i]}`;
      let node = index.get(key);
      if (node === undefined) {
        node = nodes.length;
        index.set(key, node);
        nodes.push({ token: set.tokens[i], parent, edgeProb: 0, proposers: 0, features: new Array(DRAFTER_COUNT).fill(-1), children: [] });
        (parent === ROOT ? rootChildren : nodes[parent].children).push(node);
      }
      const target = nodes[node];
      const estimate = calibrator.estimate(drafter, set.features[i], set.scores[i]);
      target.edgeProb = Math.max(target.edgeProb, estimate);
      target.proposers |= 1 << drafter;
      target.features[drafter] = set.features[i];
      unionOf[i] = node;
    }
  }
  // The virtual root sits at the end so the heap code can treat it as an ordinary parent.
  nodes.push({ token: -1, parent: ROOT, edgeProb: 1, proposers: 0, features: [], children: rootChildren });
  return nodes;
}

function selectBestFirst(nodes: UnionNode[], maxNodes: number, maxDepth: number): ComposedTree {
  const result: ComposedTree = { tokens: [], parents: [], proposers: [], pathProbs: [], features: new Int16Array(0) };
  const featureRows: number[][] = [];
  // Frontier entries, addressed by the heap's payload: union node, output index of its parent, depth.
  const entries: Array<{ node: number; outParent: number; depth: number; pathProb: number }> = [];
  const queue = new BestFirstQueue();
  const enqueue = (node: number, outParent: number, depth: number, pathProb: number) => {
    queue.push(pathProb, entries.length);
    entries.push({ node, outParent, depth, pathProb });
  };
  for (const child of nodes[nodes.length - 1].children) enqueue(child, ROOT, 1, nodes[child].edgeProb);

  while (queue.size > 0 && result.tokens.length < maxNodes) {
    const { node, outParent, depth, pathProb } = entries[queue.pop()];
    const outIndex = result.tokens.length;
    result.tokens.push(nodes[node].token);
    result.parents.push(outParent);
    result.proposers.push(nodes[node].proposers);
    result.pathProbs.push(pathProb);
    featureRows.push(nodes[node].features);
    if (depth >= maxDepth) continue;
    for (const child of nodes[node].children) enqueue(child, outIndex, depth + 1, pathProb * nodes[child].edgeProb);
  }

  result.features = Int16Array.from(featureRows.flat());
  return result;
}
