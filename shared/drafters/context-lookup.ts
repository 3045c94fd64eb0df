/**
 * Context lookup (prompt lookup): finds earlier occurrences of the context's last n tokens in the
 * request's own prompt and output, and proposes what followed them.
 *
 * The index is incremental and bounded: for every n in [1, maxNgram] a hash of the n-gram ending at
 * each position maps to the most recent `maxPositions` positions that followed it. Appending a token
 * costs O(maxNgram); a proposal costs O(maxNgram · maxPositions · continuation), whatever the length
 * of the context. Hash collisions are filtered by comparing the tokens.
 */

import { edgeFeature, emptyCandidates, type DraftCandidates } from "./candidates.ts";
import { checkIntegerOption, checkTokenIds } from "./errors.ts";

export interface ContextLookupOptions {
  vocabSize: number;
  /** Maximum n-gram length matched, in tokens (default 4). */
  maxNgram?: number;
  /** Most recent occurrences kept per n-gram (default 8). */
  maxPositions?: number;
  /** Tokens proposed after each occurrence (default 10). */
  continuation?: number;
}

export class ContextLookup {
  readonly vocabSize: number;
  readonly maxNgram: number;
  readonly maxPositions: number;
  readonly continuation: number;
  private tokens: Int32Array = new Int32Array(256);
  private length = 0;
  /** n-gram hash → positions right after its occurrences, oldest first. */
  private readonly followers = new Map<number, number[]>();

  constructor(options: ContextLookupOptions) {
    this.vocabSize = checkIntegerOption(options.vocabSize, 1, 1 << 30, "vocabSize");
    this.maxNgram = checkIntegerOption(options.maxNgram ?? 4, 1, 16, "context maxNgram");
    this.maxPositions = checkIntegerOption(options.maxPositions ?? 8, 1, 64, "context maxPositions");
    this.continuation = checkIntegerOption(options.continuation ?? 32, 1, 64, "context continuation");
  }

  get size(): number {
    return this.length;
  }

  /** Appends committed tokens to the index, in place. */
  append(tokens: readonly number[]): void {
    checkTokenIds(tokens, this.vocabSize, "context tokens");
    for (const token of tokens) {
      if (this.length === this.tokens.length) {
        const bigger = new Int32Array(this.tokens.length * 2);
        bigger.set(this.tokens);
        this.tokens = bigger;
      }
      this.tokens[this.length++] = token;
      // Register the n-grams ending at the previous token: they are followed by the new one.
      this.registerNgramsEndingAt(this.length - 2);
    }
  }

  private registerNgramsEndingAt(end: number): void {
    let hash = 0;
    for (let n = 1; n <= this.maxNgram && end - n + 1 >= 0; n++) {
      hash = mixHash(hash, this.tokens[end - n + 1], n);
      let positions = this.followers.get(hash);
      if (positions === undefined) {
        positions = [];
        this.followers.set(hash, positions);
      }
      positions.push(end + 1);
      if (positions.length > this.maxPositions) positions.shift();
    }
  }

  /**
   * Proposes continuations of the whole context: for the longest n-gram suffix with earlier
   * occurrences, the `continuation` tokens after each (most recent first) merged into one tree whose
   * edge score is the share of occurrences that agree.
   */
  propose(maxNodes: number): DraftCandidates {
    const result = emptyCandidates("context");
    checkIntegerOption(maxNodes, 0, 1 << 16, "maxNodes", "invalid_budget");
    if (maxNodes === 0 || this.length === 0) return result;

    const end = this.length - 1;
    let hash = 0;
    let best: { n: number; starts: number[] } | null = null;
    for (let n = 1; n <= this.maxNgram && end - n + 1 >= 0; n++) {
      hash = mixHash(hash, this.tokens[end - n + 1], n);
      const starts = (this.followers.get(hash) ?? []).filter((start) => start < this.length && this.ngramMatches(start, n));
      if (starts.length === 0) break;
      best = { n, starts };
    }
    if (best === null) return result;
    this.mergeContinuations(best.starts.reverse(), best.n, maxNodes, result);
    return result;
  }

  /** Checks whether the n tokens before `start` equal the context's last n tokens (hash collisions fail here). */
  private ngramMatches(start: number, n: number): boolean {
    if (start - n < 0) return false;
    for (let k = 1; k <= n; k++) {
      if (this.tokens[start - k] !== this.tokens[this.length - k]) return false;
    }
    return true;
  }

  private mergeContinuations(starts: number[], n: number, maxNodes: number, out: DraftCandidates): void {
    // A small trie of the continuations: per node its token, parent, count and depth.
    // Key (parent + 1) · 2^31 + token stays a safe integer: parents < maxNodes ≤ 2^16, tokens < 2^30.
    const childKey = new Map<number, number>();
    const counts: number[] = [];
    const depths: number[] = [];
    for (const start of starts) {
      let parent = -1;
      const stop = Math.min(start + this.continuation, this.length);
      for (let pos = start; pos < stop; pos++) {
        const key = (parent + 1) * 2147483648 + this.tokens[pos];
        let node = childKey.get(key);
        if (node === undefined) {
          if (out.tokens.length === maxNodes) break;
          node = out.tokens.length;
          childKey.set(key, node);
          out.tokens.push(this.tokens[pos]);
          out.parents.push(parent);
          counts.push(0);
          depths.push(parent === -1 ? 1 : depths[parent] + 1);
        }
        counts[node]++;
        parent = node;
      }
    }
    for (let i = 0; i < out.tokens.length; i++) {
      const parentCount = out.parents[i] === -1 ? starts.length : counts[out.parents[i]];
      const score = counts[i] / parentCount;
      out.scores.push(score);
      out.features.push(edgeFeature(n - 1, depths[i], score));
    }
  }
}

/** Extends a 32-bit n-gram hash by one token; mixing in n keeps n-grams of different lengths apart. */
function mixHash(hash: number, token: number, n: number): number {
  let h = Math.imul(hash ^ token, 0x9e3779b1) ^ n;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}
