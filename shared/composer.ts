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

import type { EdgeCalibrator } from "./calibration.ts";
import { BestFirstQueue } from "./drafters/best-first.ts";
import { DRAFTER_NAMES, drafterIndex, type DraftCandidates } from "./drafters/candidates.ts";
import { checkIntegerOption } from "./drafters/errors.ts";
import { ROOT } from "./tree.ts";

const DRAFTER_COUNT = DRAFTER_NAMES.length;
/** Frontier of the best-first selection, reused across calls (JavaScript runs one call at a time). */
const FRONTIER = new BestFirstQueue();

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

/** The union trie of every drafter's candidates, in parallel arrays. */
interface Union {
  size: number;
  /** Index of the virtual root (the last committed token), after every possible node. */
  root: number;
  token: Int32Array;
  edgeProb: Float64Array;
  proposers: Int32Array;
  /** [node * DRAFTER_COUNT + drafter] calibration feature, -1 where that drafter did not propose the node. */
  features: Int16Array;
  /** Children as linked lists: firstChild[parent] and nextSibling[child], in insertion order via lastChild. */
  firstChild: Int32Array;
  lastChild: Int32Array;
  nextSibling: Int32Array;
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

/**
 * Open-addressing hash table from (parent, token) to a union node, reused across calls so composing
 * allocates no Map per step. Entries of earlier calls are invalidated by bumping `generation`.
 */
class ChildIndex {
  private parents = new Int32Array(1024);
  private tokens = new Int32Array(1024);
  private nodes = new Int32Array(1024);
  private stamps = new Int32Array(1024);
  private generation = 0;

  /** Empties the table and makes room for `entries` entries at a load factor of at most 1/2. */
  reset(entries: number): void {
    let capacity = this.stamps.length;
    while (capacity < 2 * entries) capacity *= 2;
    if (capacity !== this.stamps.length) {
      this.parents = new Int32Array(capacity);
      this.tokens = new Int32Array(capacity);
      this.nodes = new Int32Array(capacity);
      this.stamps = new Int32Array(capacity);
      this.generation = 0;
    }
    this.generation++;
  }

  /** Returns the node stored for (parent, token), or inserts `node` and returns -1 when absent. */
  findOrInsert(parent: number, token: number, node: number): number {
    const mask = this.stamps.length - 1;
    let slot = (Math.imul(parent + 1, 0x9e3779b1) ^ Math.imul(token, 0x85ebca6b)) & mask;
    while (this.stamps[slot] === this.generation) {
      if (this.parents[slot] === parent && this.tokens[slot] === token) return this.nodes[slot];
      slot = (slot + 1) & mask;
    }
    this.stamps[slot] = this.generation;
    this.parents[slot] = parent;
    this.tokens[slot] = token;
    this.nodes[slot] = node;
    return -1;
  }
}

const CHILD_INDEX = new ChildIndex();

function buildUnion(candidates: readonly DraftCandidates[], calibrator: EdgeCalibrator): Union {
  let total = 0;
  for (const set of candidates) total += set.tokens.length;
  // At worst every candidate is a distinct node, so the virtual root takes the slot after all of them.
  const root = total;
  const union: Union = {
    size: 0,
    root,
    token: new Int32Array(total + 1),
    edgeProb: new Float64Array(total + 1),
    proposers: new Int32Array(total + 1),
    features: new Int16Array((total + 1) * DRAFTER_COUNT).fill(-1),
    firstChild: new Int32Array(total + 1).fill(-1),
    lastChild: new Int32Array(total + 1).fill(-1),
    nextSibling: new Int32Array(total + 1).fill(-1),
  };
  CHILD_INDEX.reset(total);
  for (const set of candidates) {
    const drafter = drafterIndex(set.drafter);
    const unionOf = new Int32Array(set.tokens.length);
    for (let i = 0; i < set.tokens.length; i++) {
      const localParent = set.parents[i];
      if (!(localParent >= ROOT && localParent < i)) {
        throw new Error(`${set.drafter} candidates: parents[${i}] = ${localParent} is not in [-1, ${i})`);
      }
      const parent = localParent === ROOT ? root : unionOf[localParent];
      let node = CHILD_INDEX.findOrInsert(parent, set.tokens[i], union.size);
      if (node < 0) {
        node = union.size++;
        union.token[node] = set.tokens[i];
        if (union.lastChild[parent] < 0) union.firstChild[parent] = node;
        else union.nextSibling[union.lastChild[parent]] = node;
        union.lastChild[parent] = node;
      }
      const estimate = calibrator.estimate(drafter, set.features[i], set.scores[i]);
      union.edgeProb[node] = Math.max(union.edgeProb[node], estimate);
      union.proposers[node] |= 1 << drafter;
      union.features[node * DRAFTER_COUNT + drafter] = set.features[i];
      unionOf[i] = node;
    }
  }
  return union;
}

function selectBestFirst(union: Union, maxNodes: number, maxDepth: number): ComposedTree {
  const result: ComposedTree = { tokens: [], parents: [], proposers: [], pathProbs: [], features: new Int16Array(0) };
  const featureRows: number[] = [];
  // Frontier entries, addressed by the heap's payload: union node, output index of its parent, depth.
  const entryNode: number[] = [];
  const entryParent: number[] = [];
  const entryDepth: number[] = [];
  const queue = FRONTIER;
  queue.clear();
  const enqueueChildren = (parent: number, outParent: number, depth: number, pathProb: number) => {
    for (let child = union.firstChild[parent]; child >= 0; child = union.nextSibling[child]) {
      queue.push(pathProb * union.edgeProb[child], entryNode.length);
      entryNode.push(child);
      entryParent.push(outParent);
      entryDepth.push(depth);
    }
  };
  enqueueChildren(union.root, ROOT, 1, 1);

  while (queue.size > 0 && result.tokens.length < maxNodes) {
    const pathProb = queue.peekPriority();
    const entry = queue.pop();
    const node = entryNode[entry];
    const outIndex = result.tokens.length;
    result.tokens.push(union.token[node]);
    result.parents.push(entryParent[entry]);
    result.proposers.push(union.proposers[node]);
    result.pathProbs.push(pathProb);
    for (let d = 0; d < DRAFTER_COUNT; d++) featureRows.push(union.features[node * DRAFTER_COUNT + d]);
    if (entryDepth[entry] < maxDepth) enqueueChildren(node, outIndex, entryDepth[entry] + 1, pathProb);
  }

  result.features = Int16Array.from(featureRows);
  return result;
}
