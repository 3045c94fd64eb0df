/**
 * Lookahead trie: counts of every token n-gram of length ≤ maxDepth seen in prompts and outputs.
 * Invariant: the count of the node reached by path g equals the number of occurrences of g as a
 * contiguous substring of everything inserted (until eviction drops nodes).
 *
 * Retrieval finds the longest suffix of the context (≤ maxMatch tokens) that is a path in the trie
 * and expands the continuations below it best-first by count ratio, so frequent branches come first.
 *
 * Memory is bounded: nodes live in typed arrays (20 bytes per node plus a 4-byte root slot per
 * vocabulary id). When the node cap is reached, eviction removes every node whose count is at or
 * below the smallest threshold that frees at least a quarter of the nodes (least frequent first).
 */

import { crc32 } from "../crc32.ts";
import { BestFirstQueue } from "./best-first.ts";
import { edgeFeature, emptyCandidates, matchLengthKind, type DraftCandidates, type DrafterName } from "./candidates.ts";
import { checkIntegerOption, checkTokenIds, DraftInputError } from "./errors.ts";

const BYTES_PER_NODE = 20;
/** Siblings examined per node when ranking children for a proposal. */
const SIBLING_SCAN_LIMIT = 64;
const NONE = -1;

export interface TrieOptions {
  vocabSize: number;
  /** Maximum n-gram length stored, in tokens (default 20). */
  maxDepth?: number;
  /** Memory cap in bytes for the node arrays and the root index (default 16 MiB). */
  maxBytes?: number;
}

export interface TrieProposeOptions {
  maxNodes: number;
  /** Maximum context suffix length matched, in tokens: < maxDepth, default 6 (or maxDepth - 1 when smaller). */
  maxMatch?: number;
  /** Children considered per node, most frequent first (default 8). */
  maxChildren?: number;
  drafter?: DrafterName;
}

const MAGIC = 0x52545345; // "ESTR" read as a little-endian uint32
const FORMAT_VERSION = 1;
const HEADER_BYTES = 24;

export class NgramTrie {
  readonly vocabSize: number;
  readonly maxDepth: number;
  readonly maxNodes: number;
  private tokenOf: Int32Array;
  private countOf: Uint32Array;
  private parentOf: Int32Array;
  private firstChild: Int32Array;
  private nextSibling: Int32Array;
  /** Node of the 1-gram for each vocabulary id, NONE when absent. */
  private readonly rootChild: Int32Array;
  private nodeCount = 0;
  /** Frontier of the best-first expansion, reused across calls to spare the garbage collector. */
  private readonly queue = new BestFirstQueue();
  /** Streaming insertion state: nodes (and lengths) of the suffixes shorter than maxDepth of the stream so far. */
  private activeNodes: number[] = [];
  private activeLengths: number[] = [];

  constructor(options: TrieOptions) {
    this.vocabSize = checkIntegerOption(options.vocabSize, 1, 1 << 30, "vocabSize");
    this.maxDepth = checkIntegerOption(options.maxDepth ?? 20, 2, 64, "trie maxDepth");
    const maxBytes = checkIntegerOption(options.maxBytes ?? 16 * 1024 * 1024, 1, 2 ** 31, "trie maxBytes");
    this.maxNodes = Math.floor((maxBytes - 4 * this.vocabSize) / BYTES_PER_NODE);
    if (this.maxNodes < 64) {
      throw new DraftInputError(
        "invalid_option",
        `trie maxBytes = ${maxBytes} leaves room for ${this.maxNodes} nodes after the ${4 * this.vocabSize}-byte root index; allow at least 64 nodes`,
      );
    }
    this.rootChild = new Int32Array(this.vocabSize).fill(NONE);
    const initial = Math.min(1024, this.maxNodes);
    this.tokenOf = new Int32Array(initial);
    this.countOf = new Uint32Array(initial);
    this.parentOf = new Int32Array(initial);
    this.firstChild = new Int32Array(initial);
    this.nextSibling = new Int32Array(initial);
  }

  get size(): number {
    return this.nodeCount;
  }

  /** Bytes held by the node arrays and the root index. */
  get bytes(): number {
    return this.rootChild.byteLength + this.tokenOf.length * BYTES_PER_NODE;
  }

  /** Inserts every n-gram (length ≤ maxDepth) of `tokens` as one separate sequence, in place. */
  insertSequence(tokens: readonly number[]): void {
    checkTokenIds(tokens, this.vocabSize, "trie sequence");
    this.resetStream();
    for (const token of tokens) this.appendChecked(token);
    this.resetStream();
  }

  /**
   * Appends tokens to the current stream (in place): each call continues the n-grams of the previous
   * one, at O(maxDepth) per token. `resetStream()` starts a new, unrelated sequence.
   */
  append(tokens: readonly number[]): void {
    checkTokenIds(tokens, this.vocabSize, "trie tokens");
    for (const token of tokens) this.appendChecked(token);
  }

  resetStream(): void {
    this.activeNodes = [];
    this.activeLengths = [];
  }

  /** Returns the count of the n-gram `path`, 0 when it is absent or longer than maxDepth. */
  count(path: readonly number[]): number {
    const node = this.walk(path, 0, path.length);
    return node === NONE ? 0 : this.countOf[node];
  }

  /**
   * Proposes continuations of `context`: the longest suffix of at most maxMatch tokens that is in the
   * trie and has children, expanded best-first by count ratio into at most maxNodes nodes.
   */
  propose(context: readonly number[], options: TrieProposeOptions): DraftCandidates {
    return this.proposeBackoff(context, { ...options, matchLengths: 1 })[0] ?? emptyCandidates(options.drafter ?? "trie");
  }

  /**
   * Like `propose`, but also expands the next shorter matching suffixes: one candidate set per match
   * length, longest first, at most `matchLengths` sets. A shorter match sees more (and more varied)
   * continuations; the composer merges the sets and ranks their nodes by calibrated estimates.
   */
  proposeBackoff(context: readonly number[], options: TrieProposeOptions & { matchLengths?: number }): DraftCandidates[] {
    const drafter = options.drafter ?? "trie";
    const maxNodes = checkIntegerOption(options.maxNodes, 0, 1 << 16, "maxNodes", "invalid_budget");
    const maxMatch = checkIntegerOption(options.maxMatch ?? Math.min(6, this.maxDepth - 1), 1, this.maxDepth - 1, "trie maxMatch");
    const maxChildren = checkIntegerOption(options.maxChildren ?? 8, 1, 1024, "trie maxChildren");
    const matchLengths = checkIntegerOption(options.matchLengths ?? 3, 1, 64, "trie matchLengths");
    const sets: DraftCandidates[] = [];
    if (maxNodes === 0) return sets;

    for (let length = Math.min(maxMatch, context.length); length >= 1 && sets.length < matchLengths; length--) {
      const matched = this.walk(context, context.length - length, context.length);
      if (matched === NONE || this.firstChild[matched] === NONE) continue;
      const set = emptyCandidates(drafter);
      // Shorter matches add alternatives to the longest one; a quarter of the budget each is plenty.
      this.expand(matched, length, sets.length === 0 ? maxNodes : Math.ceil(maxNodes / 4), maxChildren, set);
      sets.push(set);
    }
    return sets;
  }

  /**
   * Grows the best-first tree below `matched` into `out`. Children are ranked by count, so the queue
   * only holds each expanded node's best unexplored child: popping a child pushes its next sibling
   * and its own first child, two pushes per node instead of one per child.
   */
  private expand(matched: number, matchLength: number, maxNodes: number, maxChildren: number, out: DraftCandidates): void {
    const kind = matchLengthKind(matchLength, [1, 2, 4]);
    // Sibling groups: the ranked children of one expanded node, with that node's path score and count.
    const groups: Array<{ children: number[]; outParent: number; depth: number; pathScore: number; count: number }> = [];
    const queue = this.queue;
    queue.clear();
    // Payload = group * 1024 + rank (maxChildren ≤ 1024).
    const pushChild = (group: number, rank: number) => {
      const { children, pathScore, count } = groups[group];
      if (rank < children.length) queue.push((pathScore * this.countOf[children[rank]]) / (count + 1), group * 1024 + rank);
    };
    const openGroup = (node: number, outParent: number, depth: number, pathScore: number) => {
      if (matchLength + depth > this.maxDepth || this.firstChild[node] === NONE) return;
      groups.push({ children: this.topChildren(node, maxChildren), outParent, depth, pathScore, count: this.countOf[node] });
      pushChild(groups.length - 1, 0);
    };
    openGroup(matched, -1, 1, 1);
    while (queue.size > 0 && out.tokens.length < maxNodes) {
      const pathScore = queue.peekPriority();
      const payload = queue.pop();
      const group = Math.floor(payload / 1024);
      const rank = payload % 1024;
      const { children, outParent, depth, count } = groups[group];
      const node = children[rank];
      const score = this.countOf[node] / (count + 1);
      const outIndex = out.tokens.length;
      out.tokens.push(this.tokenOf[node]);
      out.parents.push(outParent);
      out.scores.push(score);
      out.features.push(edgeFeature(kind, depth, score));
      pushChild(group, rank + 1);
      openGroup(node, outIndex, depth + 1, pathScore);
    }
  }

  /**
   * Returns up to `limit` children of `node`, highest count first (ties: lower token first), from the
   * first SIBLING_SCAN_LIMIT siblings. Sibling lists are in most-recently-used order, so a frequent
   * child is rarely further back, and a 1-gram node with thousands of children costs no more than 64.
   */
  private topChildren(node: number, limit: number): number[] {
    const top: number[] = [];
    let scanned = 0;
    for (let child = this.firstChild[node]; child !== NONE && scanned < SIBLING_SCAN_LIMIT; child = this.nextSibling[child]) {
      scanned++;
      if (top.length === limit && !this.ranksBefore(child, top[limit - 1])) continue;
      let at = top.length === limit ? limit - 1 : top.length;
      while (at > 0 && this.ranksBefore(child, top[at - 1])) {
        top[at] = top[at - 1];
        at--;
      }
      top[at] = child;
    }
    return top;
  }

  private ranksBefore(a: number, b: number): boolean {
    return this.countOf[a] > this.countOf[b] || (this.countOf[a] === this.countOf[b] && this.tokenOf[a] < this.tokenOf[b]);
  }

  /** Returns the node of path[from..to), or NONE. */
  private walk(path: readonly number[], from: number, to: number): number {
    if (to - from < 1 || to - from > this.maxDepth) return NONE;
    const first = path[from];
    let node = first >= 0 && first < this.vocabSize ? this.rootChild[first] : NONE;
    for (let i = from + 1; i < to && node !== NONE; i++) node = this.findChild(node, path[i]);
    return node;
  }

  private findChild(node: number, token: number): number {
    for (let child = this.firstChild[node]; child !== NONE; child = this.nextSibling[child]) {
      if (this.tokenOf[child] === token) return child;
    }
    return NONE;
  }

  private appendChecked(token: number): void {
    // One token creates at most maxDepth nodes; evicting beforehand keeps node ids stable below.
    if (this.nodeCount + this.maxDepth > this.maxNodes) {
      const remap = this.evict();
      const survivors = this.activeNodes.map((node) => remap[node]);
      this.activeLengths = this.activeLengths.filter((_, k) => survivors[k] !== NONE);
      this.activeNodes = survivors.filter((node) => node !== NONE);
    }
    // Each active n-gram (ending at the previous token) grows by `token`, and the 1-gram starts.
    const nextNodes = [this.childOrCreate(NONE, token)];
    const nextLengths = [1];
    this.countOf[nextNodes[0]]++;
    for (let k = 0; k < this.activeNodes.length; k++) {
      const child = this.childOrCreate(this.activeNodes[k], token);
      this.countOf[child]++;
      nextNodes.push(child);
      nextLengths.push(this.activeLengths[k] + 1);
    }
    // Only n-grams shorter than maxDepth can grow further.
    this.activeNodes = nextNodes.filter((_, k) => nextLengths[k] < this.maxDepth);
    this.activeLengths = nextLengths.filter((length) => length < this.maxDepth);
  }

  /**
   * Returns the child of `parent` (NONE = root) with `token`, creating it with count 0 when absent.
   * A found child moves to the front of its sibling list (in place), so sibling lists stay in
   * most-recently-used order and frequent continuations sit near the front.
   */
  private childOrCreate(parent: number, token: number): number {
    if (parent === NONE) {
      if (this.rootChild[token] !== NONE) return this.rootChild[token];
    } else {
      let previous = NONE;
      for (let child = this.firstChild[parent]; child !== NONE; child = this.nextSibling[child]) {
        if (this.tokenOf[child] === token) {
          if (previous !== NONE) {
            this.nextSibling[previous] = this.nextSibling[child];
            this.nextSibling[child] = this.firstChild[parent];
            this.firstChild[parent] = child;
          }
          return child;
        }
        previous = child;
      }
    }
    if (this.nodeCount === this.tokenOf.length) this.grow();
    const node = this.nodeCount++;
    this.tokenOf[node] = token;
    this.countOf[node] = 0;
    this.parentOf[node] = parent;
    this.firstChild[node] = NONE;
    if (parent === NONE) {
      this.nextSibling[node] = NONE;
      this.rootChild[token] = node;
    } else {
      this.nextSibling[node] = this.firstChild[parent];
      this.firstChild[parent] = node;
    }
    return node;
  }

  private grow(): void {
    const capacity = Math.min(this.tokenOf.length * 2, this.maxNodes);
    const resize = <T extends Int32Array | Uint32Array>(array: T, make: (n: number) => T): T => {
      const bigger = make(capacity);
      bigger.set(array);
      return bigger;
    };
    this.tokenOf = resize(this.tokenOf, (n) => new Int32Array(n));
    this.countOf = resize(this.countOf, (n) => new Uint32Array(n));
    this.parentOf = resize(this.parentOf, (n) => new Int32Array(n));
    this.firstChild = resize(this.firstChild, (n) => new Int32Array(n));
    this.nextSibling = resize(this.nextSibling, (n) => new Int32Array(n));
  }

  /**
   * Removes the least frequent nodes and their descendants, compacting the arrays in place. Returns
   * the old-index → new-index map (NONE for removed nodes). Cost O(nodes).
   */
  private evict(): Int32Array {
    const threshold = this.evictionThreshold();
    const remap = new Int32Array(this.nodeCount).fill(NONE);
    let kept = 0;
    for (let i = 0; i < this.nodeCount; i++) {
      const parent = this.parentOf[i];
      const parentGone = parent !== NONE && remap[parent] === NONE;
      if (this.countOf[i] <= threshold || parentGone) continue;
      remap[i] = kept;
      this.tokenOf[kept] = this.tokenOf[i];
      this.countOf[kept] = this.countOf[i];
      this.parentOf[kept] = parent === NONE ? NONE : remap[parent];
      kept++;
    }
    this.nodeCount = kept;
    this.relink();
    return remap;
  }

  /**
   * Returns the smallest count t such that nodes with count ≤ t are at least a quarter of all nodes.
   * When even t = 64 frees too little (every n-gram is frequent), halves all counts first (in place).
   */
  private evictionThreshold(): number {
    for (;;) {
      const histogram = new Uint32Array(65);
      for (let i = 0; i < this.nodeCount; i++) if (this.countOf[i] <= 64) histogram[this.countOf[i]]++;
      let removed = histogram[0];
      for (let threshold = 0; threshold <= 64; threshold++) {
        if (threshold > 0) removed += histogram[threshold];
        if (removed >= this.nodeCount / 4) return threshold;
      }
      for (let i = 0; i < this.nodeCount; i++) this.countOf[i] >>>= 1;
    }
  }

  /** Rebuilds the child lists and the root index from parentOf (parents precede children). */
  private relink(): void {
    this.rootChild.fill(NONE);
    this.firstChild.fill(NONE, 0, this.nodeCount);
    for (let i = this.nodeCount - 1; i >= 0; i--) {
      const parent = this.parentOf[i];
      if (parent === NONE) {
        this.rootChild[this.tokenOf[i]] = i;
        this.nextSibling[i] = NONE;
      } else {
        this.nextSibling[i] = this.firstChild[parent];
        this.firstChild[parent] = i;
      }
    }
  }

  /**
   * Serialises the trie: a 24-byte little-endian header (magic "ESTR", u16 version, u16 reserved,
   * u32 vocabSize, u32 maxDepth, u32 node count, u32 CRC-32 of the body), then per node in index
   * order (parents first) u32 token, u32 count, i32 parent (-1 = root).
   */
  serialize(): Uint8Array {
    const out = new Uint8Array(HEADER_BYTES + this.nodeCount * 12);
    const view = new DataView(out.buffer);
    for (let i = 0; i < this.nodeCount; i++) {
      const at = HEADER_BYTES + i * 12;
      view.setUint32(at, this.tokenOf[i], true);
      view.setUint32(at + 4, this.countOf[i], true);
      view.setInt32(at + 8, this.parentOf[i], true);
    }
    view.setUint32(0, MAGIC, true);
    view.setUint16(4, FORMAT_VERSION, true);
    view.setUint32(8, this.vocabSize, true);
    view.setUint32(12, this.maxDepth, true);
    view.setUint32(16, this.nodeCount, true);
    view.setUint32(20, crc32(out.subarray(HEADER_BYTES)), true);
    return out;
  }

  /** Parses `serialize()` output into a trie with `options`; throws `corrupt_state` on any mismatch. */
  static deserialize(bytes: Uint8Array, options: TrieOptions): NgramTrie {
    const fail = (why: string): never => {
      throw new DraftInputError("corrupt_state", `trie state: ${why}`);
    };
    if (bytes.length < HEADER_BYTES) fail(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) fail("bad magic, not a trie");
    const version = view.getUint16(4, true);
    if (version !== FORMAT_VERSION) fail(`unsupported version ${version}, expected ${FORMAT_VERSION}`);
    const vocabSize = view.getUint32(8, true);
    const maxDepth = view.getUint32(12, true);
    const nodeCount = view.getUint32(16, true);
    if (vocabSize !== options.vocabSize) fail(`vocabSize ${vocabSize} does not match the model's ${options.vocabSize}`);
    if (bytes.length !== HEADER_BYTES + nodeCount * 12) fail(`length ${bytes.length} bytes, expected ${HEADER_BYTES + nodeCount * 12} for ${nodeCount} nodes`);
    if (crc32(bytes.subarray(HEADER_BYTES)) !== view.getUint32(20, true)) fail("checksum mismatch");
    const trie = new NgramTrie({ ...options, maxDepth });
    if (nodeCount > trie.maxNodes) fail(`${nodeCount} nodes exceed this trie's cap of ${trie.maxNodes}`);

    const depth = new Int32Array(nodeCount);
    for (let i = 0; i < nodeCount; i++) {
      const at = HEADER_BYTES + i * 12;
      const token = view.getUint32(at, true);
      const count = view.getUint32(at + 4, true);
      const parent = view.getInt32(at + 8, true);
      if (token >= vocabSize) fail(`node ${i} has token ${token} outside [0, ${vocabSize})`);
      if (parent < NONE || parent >= i) fail(`node ${i} has parent ${parent}, expected -1 or an earlier node`);
      depth[i] = parent === NONE ? 1 : depth[parent] + 1;
      if (depth[i] > maxDepth) fail(`node ${i} is at depth ${depth[i]} > maxDepth ${maxDepth}`);
      const existing = parent === NONE ? trie.rootChild[token] : trie.findChild(parent, token);
      if (existing !== NONE) fail(`node ${i} repeats token ${token} under parent ${parent}`);
      if (trie.nodeCount === trie.tokenOf.length) trie.grow();
      trie.nodeCount++;
      trie.tokenOf[i] = token;
      trie.countOf[i] = count;
      trie.parentOf[i] = parent;
      trie.firstChild[i] = NONE;
      if (parent === NONE) {
        trie.nextSibling[i] = NONE;
        trie.rootChild[token] = i;
      } else {
        trie.nextSibling[i] = trie.firstChild[parent];
        trie.firstChild[parent] = i;
      }
    }
    return trie;
  }
}
