/**
 * A suffix array over one token array, with the queries the drafters need (infini-gram style):
 * the range of suffixes that start with a pattern, the longest suffix of a context that occurs
 * (∞-gram backoff), and the distribution of the tokens that follow a matched range.
 *
 * Within the range of suffixes that share a prefix of length m, suffixes are sorted by the token at
 * offset m, so next-token counts are contiguous sub-ranges found by binary search.
 */

import { checkIntegerOption, checkTokenIds, DraftInputError } from "../drafters/errors.ts";
import { buildSuffixArray } from "./sais.ts";

/** Half-open range [lo, hi) of suffix-array ranks. */
export interface SaRange {
  lo: number;
  hi: number;
}

export interface NextTokenCount {
  /** Following token id. */
  token: number;
  /** Its sub-range of ranks; hi - lo is the count. */
  lo: number;
  hi: number;
}

export class SuffixIndex {
  readonly vocabSize: number;
  readonly tokens: Uint16Array | Uint32Array;
  readonly sa: Uint32Array;
  /** Common prefix length found by the last compareFrom() call. */
  private commonLength = 0;
  /** bucketStart[t] is the first rank of the suffixes that start with token t; bucketStart[vocabSize] = n. */
  private readonly bucketStart: Uint32Array;

  /** Wraps arrays that already form a valid index; use `build` or `parseSuffixIndex` to get one. */
  constructor(vocabSize: number, tokens: Uint16Array | Uint32Array, sa: Uint32Array) {
    if (tokens.length !== sa.length) {
      throw new DraftInputError("corrupt_index", `index has ${tokens.length} tokens but ${sa.length} suffix-array entries`);
    }
    this.vocabSize = vocabSize;
    this.tokens = tokens;
    this.sa = sa;
    // Suffixes are sorted by their first token, so counting tokens gives each token's rank range.
    this.bucketStart = new Uint32Array(vocabSize + 1);
    for (let i = 0; i < tokens.length; i++) this.bucketStart[tokens[i] + 1]++;
    for (let t = 0; t < vocabSize; t++) this.bucketStart[t + 1] += this.bucketStart[t];
  }

  /** Builds the index of `tokens` with SA-IS; the token array is stored as Uint16 when vocabSize ≤ 65536. */
  static build(tokens: ArrayLike<number>, vocabSize: number): SuffixIndex {
    checkIntegerOption(vocabSize, 1, 2 ** 31 - 2, "vocabSize");
    checkTokenIds(tokens, vocabSize, "tokens");
    const stored = vocabSize <= 0x10000 ? Uint16Array.from(tokens) : Uint32Array.from(tokens);
    const sa = buildSuffixArray(stored, vocabSize);
    return new SuffixIndex(vocabSize, stored, new Uint32Array(sa.buffer, sa.byteOffset, sa.length));
  }

  get length(): number {
    return this.tokens.length;
  }

  /** Bytes held by the token array, the suffix array and the first-token bucket table. */
  get bytes(): number {
    return this.tokens.byteLength + this.sa.byteLength + this.bucketStart.byteLength;
  }

  /**
   * Returns the ranks of the suffixes that start with pattern[from..to). O(m + log n) token
   * comparisons for m pattern tokens (Manber-Myers LCP skipping). The empty pattern matches every suffix.
   */
  findRange(pattern: ArrayLike<number>, from = 0, to = pattern.length): SaRange {
    const lo = this.searchBound(pattern, from, to, false);
    const hi = this.searchBound(pattern, from, to, true);
    return { lo, hi };
  }

  /**
   * Returns the first rank whose suffix is ≥ the pattern (`after` false) or whose prefix of the
   * pattern's length is > the pattern (`after` true).
   *
   * Invariant: the suffix at rank `below` (or none when -1) is before the target and the one at
   * `above` (or none when n) is not. Every suffix between them shares at least min(lcpBelow,
   * lcpAbove) leading tokens with the pattern, so comparisons start there.
   */
  private searchBound(pattern: ArrayLike<number>, from: number, to: number, after: boolean): number {
    let below = -1;
    let above = this.sa.length;
    let lcpBelow = 0;
    let lcpAbove = 0;
    if (to > from) {
      // Start inside the first token's bucket: every suffix there shares that one token with the pattern.
      const first = pattern[from];
      if (first < 0) return 0;
      if (first >= this.vocabSize) return this.sa.length;
      below = this.bucketStart[first] - 1;
      above = this.bucketStart[first + 1];
      lcpBelow = 1;
      lcpAbove = 1;
      if (to - from === 1) return after ? above : below + 1;
    }
    while (above - below > 1) {
      const mid = (below + above) >>> 1;
      const skip = Math.min(lcpBelow, lcpAbove);
      const order = this.compareFrom(this.sa[mid], pattern, from, to, skip);
      const beforeTarget = after ? order <= 0 : order < 0;
      if (beforeTarget) {
        below = mid;
        lcpBelow = this.commonLength;
      } else {
        above = mid;
        lcpAbove = this.commonLength;
      }
    }
    return above;
  }

  /**
   * Compares the suffix at `position`, cut to the pattern's length, with pattern[from..to), knowing
   * that their first `skip` tokens are equal. Returns the order (negative, 0, positive) and leaves
   * the common prefix length in `commonLength`, so the hot loop allocates nothing.
   */
  private compareFrom(position: number, pattern: ArrayLike<number>, from: number, to: number, skip: number): number {
    const tokens = this.tokens;
    for (let i = from + skip; i < to; i++) {
      const at = position + i - from;
      this.commonLength = i - from;
      if (at >= tokens.length) return -1; // the text ended first: the suffix is smaller
      const difference = tokens[at] - pattern[i];
      if (difference !== 0) return difference;
    }
    this.commonLength = to - from;
    return 0;
  }

  /** Checks whether pattern[from..to) occurs, with one bound search instead of two. */
  private occurs(pattern: ArrayLike<number>, from: number, to: number): boolean {
    const lower = this.searchBound(pattern, from, to, false);
    return lower < this.sa.length && this.compareFrom(this.sa[lower], pattern, from, to, 0) === 0;
  }

  /** Returns how often pattern occurs in the indexed tokens. */
  count(pattern: readonly number[]): number {
    const { lo, hi } = this.findRange(pattern);
    return hi - lo;
  }

  /**
   * Returns the longest suffix of `context` (at most maxLength tokens) that occurs in the index, and its
   * range. If a suffix occurs, every shorter one does too, so the length is found by binary search:
   * O(log maxLength · maxLength · log n). Length 0 (the whole array) means not even the last token occurs.
   */
  longestSuffixMatch(context: readonly number[], maxLength = 32): { length: number } & SaRange {
    checkIntegerOption(maxLength, 0, 1 << 20, "maxLength");
    let bestLength = 0;
    let shortest = 1;
    let longest = Math.min(maxLength, context.length);
    // Invariant: a suffix of length shortest - 1 occurs; no suffix longer than `longest` needs testing.
    while (shortest <= longest) {
      const length = (shortest + longest) >>> 1;
      if (this.occurs(context, context.length - length, context.length)) {
        bestLength = length;
        shortest = length + 1;
      } else {
        longest = length - 1;
      }
    }
    return { length: bestLength, ...this.findRange(context, context.length - bestLength, context.length) };
  }

  /** Returns the token at `offset` after the start of the suffix of rank r, or -1 past the end. */
  tokenAfter(rank: number, offset: number): number {
    const position = this.sa[rank] + offset;
    return position < this.tokens.length ? this.tokens[position] : -1;
  }

  /**
   * Splits a range whose suffixes share their first `offset` tokens by the token at `offset`, most
   * frequent first, keeping at most `limit` tokens. Tokens are found from up to `samples` evenly
   * spaced ranks (all ranks when the range is smaller), so every token holding more than 1/samples of
   * the range is found. Counts are exact: each kept token's sub-range comes from two binary searches.
   */
  nextTokens(range: SaRange, offset: number, samples = 64, limit = Infinity): NextTokenCount[] {
    const size = range.hi - range.lo;
    const sampled = new Map<number, number>();
    const step = Math.max(size / samples, 1);
    for (let x = range.lo; x < range.hi; x += step) {
      const token = this.tokenAfter(Math.floor(x), offset);
      if (token >= 0) sampled.set(token, (sampled.get(token) ?? 0) + 1);
    }
    let candidates = [...sampled.keys()];
    if (candidates.length > limit) {
      candidates.sort((a, b) => sampled.get(b)! - sampled.get(a)! || a - b);
      candidates = candidates.slice(0, limit);
    }
    const result: NextTokenCount[] = [];
    for (const token of candidates) {
      const lo = this.firstRankWithTokenAtLeast(range, offset, token);
      const hi = this.firstRankWithTokenAtLeast(range, offset, token + 1);
      result.push({ token, lo, hi });
    }
    result.sort((a, b) => b.hi - b.lo - (a.hi - a.lo) || a.token - b.token);
    return result;
  }

  /** First rank in range whose token at `offset` is ≥ token (the end of the text counts as -1). */
  private firstRankWithTokenAtLeast(range: SaRange, offset: number, token: number): number {
    let lo = range.lo;
    let hi = range.hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tokenAfter(mid, offset) < token) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
