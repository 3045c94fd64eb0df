/**
 * Suffix array construction by induced sorting (SA-IS, Nong, Zhang and Chan 2009): O(n) time and
 * about 9 bytes of working memory per token on top of the result.
 *
 * Suffix order is lexicographic by token id. A suffix that is a proper prefix of another sorts first,
 * because the end of the text counts as smaller than every token.
 */

import { checkIntegerOption, checkTokenIds } from "../drafters/errors.ts";

/** Returns the suffix array of `tokens` (ids in [0, alphabetSize)): sa[r] is the start of the r-th smallest suffix. */
export function buildSuffixArray(tokens: ArrayLike<number>, alphabetSize: number): Int32Array {
  checkIntegerOption(alphabetSize, 1, 2 ** 31 - 2, "alphabetSize");
  checkTokenIds(tokens, alphabetSize, "tokens");
  const n = tokens.length;
  if (n === 0) return new Int32Array(0);
  // Shift ids by one and end with a unique 0, the sentinel SA-IS needs.
  const text = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) text[i] = tokens[i] + 1;
  const sa = inducedSort(text, alphabetSize + 1);
  return sa.subarray(1); // sa[0] is the sentinel suffix
}

/** SA-IS over `s` whose last symbol is a unique 0; symbols lie in [0, k). */
function inducedSort(s: Int32Array, k: number): Int32Array {
  const n = s.length;
  const sa = new Int32Array(n);
  if (n === 1) return sa;

  // S-type (1) or L-type (0): s[i..] < s[i+1..] makes i S-type. The sentinel is S-type.
  const type = new Uint8Array(n);
  type[n - 1] = 1;
  for (let i = n - 2; i >= 0; i--) {
    type[i] = s[i] < s[i + 1] || (s[i] === s[i + 1] && type[i + 1] === 1) ? 1 : 0;
  }
  const isLms = (i: number) => i > 0 && type[i] === 1 && type[i - 1] === 0;

  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[s[i]]++;
  const bucket = new Int32Array(k);
  const bucketEnds = () => {
    let sum = 0;
    for (let c = 0; c < k; c++) bucket[c] = sum += counts[c];
  };
  const bucketStarts = () => {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      bucket[c] = sum;
      sum += counts[c];
    }
  };
  const induce = () => {
    // L-type suffixes, left to right from bucket starts; then S-type, right to left from bucket ends.
    bucketStarts();
    for (let i = 0; i < n; i++) {
      const j = sa[i] - 1;
      if (j >= 0 && type[j] === 0) sa[bucket[s[j]]++] = j;
    }
    bucketEnds();
    for (let i = n - 1; i >= 0; i--) {
      const j = sa[i] - 1;
      if (j >= 0 && type[j] === 1) sa[--bucket[s[j]]] = j;
    }
  };

  // Stage 1: sort the LMS substrings by inducing from LMS positions placed at their bucket ends.
  sa.fill(-1);
  bucketEnds();
  for (let i = n - 1; i >= 1; i--) if (isLms(i)) sa[--bucket[s[i]]] = i;
  induce();

  // Compact the sorted LMS positions to the front, then name equal LMS substrings alike.
  let lmsCount = 0;
  for (let i = 0; i < n; i++) if (isLms(sa[i])) sa[lmsCount++] = sa[i];
  sa.fill(-1, lmsCount);
  let names = 0;
  let previous = -1;
  for (let r = 0; r < lmsCount; r++) {
    const position = sa[r];
    if (previous < 0 || !equalLmsSubstrings(s, type, position, previous, isLms)) {
      names++;
      previous = position;
    }
    // Distinct LMS positions are at least 2 apart, so position >> 1 gives each its own slot.
    sa[lmsCount + (position >> 1)] = names - 1;
  }
  const reduced = new Int32Array(lmsCount);
  for (let i = n - 1, j = lmsCount - 1; i >= lmsCount; i--) if (sa[i] >= 0) reduced[j--] = sa[i];

  // Stage 2: order the LMS suffixes, recursing while names repeat.
  let reducedSa: Int32Array;
  if (names < lmsCount) {
    reducedSa = inducedSort(reduced, names);
  } else {
    reducedSa = new Int32Array(lmsCount);
    for (let i = 0; i < lmsCount; i++) reducedSa[reduced[i]] = i;
  }

  // Stage 3: place the sorted LMS suffixes at their bucket ends and induce the full order.
  const lmsPositions = new Int32Array(lmsCount);
  for (let i = 1, j = 0; i < n; i++) if (isLms(i)) lmsPositions[j++] = i;
  sa.fill(-1);
  bucketEnds();
  for (let r = lmsCount - 1; r >= 0; r--) {
    const position = lmsPositions[reducedSa[r]];
    sa[--bucket[s[position]]] = position;
  }
  induce();
  return sa;
}

/** Checks whether the LMS substrings at a and b are equal: same symbols and types up to the next LMS position. */
function equalLmsSubstrings(s: Int32Array, type: Uint8Array, a: number, b: number, isLms: (i: number) => boolean): boolean {
  for (let d = 0; ; d++) {
    if (s[a + d] !== s[b + d] || type[a + d] !== type[b + d]) return false;
    if (d > 0 && (isLms(a + d) || isLms(b + d))) return isLms(a + d) && isLms(b + d);
  }
}
