/**
 * Drafter output types: each drafter hands the composer a small tree of guesses rooted at the last
 * committed token, with a raw probability and a calibration feature per edge.
 */

export const DRAFTER_NAMES = ["recycling", "trie", "corpus", "context"] as const;
export type DrafterName = (typeof DRAFTER_NAMES)[number];

/** Index of a drafter in DRAFTER_NAMES; bit `1 << index` marks it in a proposer bitmask. */
export function drafterIndex(name: DrafterName): number {
  return DRAFTER_NAMES.indexOf(name);
}

/**
 * One drafter's guesses in flat tree form (`parents[i] < i`, -1 = child of the last committed token,
 * distinct siblings). `scores[i]` is the drafter's own estimate in (0, 1] of P(token i accepted |
 * its parent accepted); `features[i]` in [0, FEATURE_COUNT) selects the calibration bucket that turns
 * that estimate into a measured one.
 */
export interface DraftCandidates {
  drafter: DrafterName;
  tokens: number[];
  parents: number[];
  scores: number[];
  features: number[];
}

export function emptyCandidates(drafter: DrafterName): DraftCandidates {
  return { drafter, tokens: [], parents: [], scores: [], features: [] };
}

/** Number of calibration buckets per drafter: 4 kinds × 4 depth buckets × 4 score buckets. */
export const FEATURE_COUNT = 64;

/**
 * Returns the calibration bucket of an edge. `kind` in [0, 4) is drafter specific: the candidate's
 * rank for recycling, the match-length bucket for retrieval drafters. Depths fall into buckets
 * 1, 2-3, 4-7 and 8+, and scores into [0, 0.2), [0.2, 0.5), [0.5, 0.9) and [0.9, 1].
 */
export function edgeFeature(kind: number, depth: number, score: number): number {
  const kindBucket = Math.min(Math.max(kind, 0), 3);
  // Deep edges of a long copied span get their own measured rate instead of sharing one with depth 4.
  let depthBucket = 0;
  if (depth >= 8) depthBucket = 3;
  else if (depth >= 4) depthBucket = 2;
  else if (depth >= 2) depthBucket = 1;
  let scoreBucket = 0;
  if (score >= 0.9) scoreBucket = 3;
  else if (score >= 0.5) scoreBucket = 2;
  else if (score >= 0.2) scoreBucket = 1;
  return kindBucket * 16 + depthBucket * 4 + scoreBucket;
}

/** Returns the kind bucket (0 to 3) of a match length: the number of `bounds` (ascending) it exceeds. */
export function matchLengthKind(matchLength: number, bounds: readonly [number, number, number]): number {
  let kind = 0;
  for (const bound of bounds) if (matchLength > bound) kind++;
  return kind;
}
