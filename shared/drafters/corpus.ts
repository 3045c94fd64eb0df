/**
 * Corpus retrieval (REST style) over one or more suffix-index shards. The longest suffix of the
 * context found in any shard selects the matching corpus positions. Their continuations, counted
 * across every shard that matches at that length, become a weighted tree grown best-first by count ratio.
 */

import type { SaRange, SuffixIndex } from "../suffix-index/suffix-index.ts";
import { BestFirstQueue } from "./best-first.ts";
import { edgeFeature, emptyCandidates, matchLengthKind, type DraftCandidates } from "./candidates.ts";
import { checkIntegerOption, DraftInputError } from "./errors.ts";

/** Matched ranks in one shard. */
interface ShardRange extends SaRange {
  shard: number;
}

interface Entry {
  ranges: ShardRange[];
  count: number;
  depth: number;
  outParent: number;
  score: number;
  token: number;
}

export interface CorpusProposeOptions {
  /** Maximum context suffix length matched, in tokens (default 32). */
  maxMatch?: number;
  /** Children considered per node, most frequent first (default 8). */
  maxChildren?: number;
  /** Shortest match worth drafting from (default 2 tokens: a 1-token match is mostly noise). */
  minMatch?: number;
}

export class CorpusDrafter {
  /** Frontier of the best-first expansion, reused across calls to spare the garbage collector. */
  private readonly queue = new BestFirstQueue();

  constructor(
    private readonly shards: readonly SuffixIndex[],
    vocabSize: number,
  ) {
    shards.forEach((shard, i) => {
      if (shard.vocabSize !== vocabSize) {
        throw new DraftInputError("invalid_option", `corpus shard ${i} has vocabSize ${shard.vocabSize}, the model has ${vocabSize}`);
      }
    });
  }

  /** Total bytes of the loaded shards. */
  get bytes(): number {
    return this.shards.reduce((sum, shard) => sum + shard.bytes, 0);
  }

  propose(context: readonly number[], maxNodes: number, options: CorpusProposeOptions = {}): DraftCandidates {
    const result = emptyCandidates("corpus");
    checkIntegerOption(maxNodes, 0, 1 << 16, "maxNodes", "invalid_budget");
    const maxMatch = checkIntegerOption(options.maxMatch ?? 32, 1, 1024, "corpus maxMatch");
    const maxChildren = checkIntegerOption(options.maxChildren ?? 8, 1, 1024, "corpus maxChildren");
    const minMatch = checkIntegerOption(options.minMatch ?? 2, 1, maxMatch, "corpus minMatch");
    if (maxNodes === 0 || context.length === 0) return result;

    // The longest match over all shards; shards that match at that length all contribute.
    let matchLength = 0;
    let ranges: ShardRange[] = [];
    this.shards.forEach((index, shard) => {
      const match = index.longestSuffixMatch(context, maxMatch);
      if (match.length > matchLength) {
        matchLength = match.length;
        ranges = [];
      }
      if (match.length === matchLength && match.length > 0) ranges.push({ shard, lo: match.lo, hi: match.hi });
    });
    if (matchLength < minMatch) return result;

    const kind = matchLengthKind(matchLength, [2, 4, 8]);
    const entries: Entry[] = [];
    const queue = this.queue;
    queue.clear();
    const enqueueChildren = (parentRanges: ShardRange[], outParent: number, depth: number, pathScore: number) => {
      const parentCount = parentRanges.reduce((sum, r) => sum + r.hi - r.lo, 0);
      for (const child of this.children(parentRanges, matchLength + depth - 1, maxChildren)) {
        const score = child.count / (parentCount + 1);
        queue.push(pathScore * score, entries.length);
        entries.push({ ...child, depth, outParent, score });
      }
    };
    enqueueChildren(ranges, -1, 1, 1);
    while (queue.size > 0 && result.tokens.length < maxNodes) {
      const pathScore = queue.peekPriority();
      const entry = entries[queue.pop()];
      const outIndex = result.tokens.length;
      result.tokens.push(entry.token);
      result.parents.push(entry.outParent);
      result.scores.push(entry.score);
      result.features.push(edgeFeature(kind, entry.depth, entry.score));
      enqueueChildren(entry.ranges, outIndex, entry.depth + 1, pathScore);
    }
    return result;
  }

  /** Splits matched ranges by their token at `offset`, merging equal tokens across shards. */
  private children(ranges: ShardRange[], offset: number, maxChildren: number): Array<{ token: number; count: number; ranges: ShardRange[] }> {
    const byToken = new Map<number, { token: number; count: number; ranges: ShardRange[] }>();
    for (const range of ranges) {
      for (const next of this.shards[range.shard].nextTokens(range, offset, 64, maxChildren)) {
        let child = byToken.get(next.token);
        if (child === undefined) {
          child = { token: next.token, count: 0, ranges: [] };
          byToken.set(next.token, child);
        }
        child.count += next.hi - next.lo;
        child.ranges.push({ shard: range.shard, lo: next.lo, hi: next.hi });
      }
    }
    return [...byToken.values()].sort((a, b) => b.count - a.count || a.token - b.token).slice(0, maxChildren);
  }
}
