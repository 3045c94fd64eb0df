/**
 * Online calibration of each drafter's edge estimates against what the verifier accepted.
 *
 * For every (drafter, feature bucket) it keeps decayed counts of evaluated edges (a node whose parent
 * was accepted, so the verifier actually tested it) and of accepted ones. The calibrated estimate of
 * an edge is the drafter's raw score shrunk towards the bucket's measured rate:
 *
 *     p = (accepted + PRIOR_WEIGHT · score) / (evaluated + PRIOR_WEIGHT)
 *
 * so a drafter starts at its own guess and converges to the measured rate after a few dozen edges.
 */

import { DRAFTER_NAMES, FEATURE_COUNT } from "./drafters/candidates.ts";

/** Pseudo-count of the raw score: how many observed edges it is worth. */
const PRIOR_WEIGHT = 4;

export class EdgeCalibrator {
  /** Decayed counts, indexed [drafter * FEATURE_COUNT + feature]. */
  private readonly evaluated = new Float64Array(DRAFTER_NAMES.length * FEATURE_COUNT);
  private readonly accepted = new Float64Array(DRAFTER_NAMES.length * FEATURE_COUNT);

  /** `decay` multiplies every count once per verify step, so old evidence fades (0.998 ≈ 500-step memory). */
  constructor(private readonly decay = 0.998) {}

  /** Returns the calibrated P(edge accepted | parent accepted), clamped to [1e-4, 0.999]. */
  estimate(drafter: number, feature: number, score: number): number {
    const slot = drafter * FEATURE_COUNT + feature;
    const p = (this.accepted[slot] + PRIOR_WEIGHT * score) / (this.evaluated[slot] + PRIOR_WEIGHT);
    return Math.min(Math.max(p, 1e-4), 0.999);
  }

  /** Records one evaluated edge (in place). */
  record(drafter: number, feature: number, wasAccepted: boolean): void {
    const slot = drafter * FEATURE_COUNT + feature;
    this.evaluated[slot] += 1;
    if (wasAccepted) this.accepted[slot] += 1;
  }

  /** Fades every count by the decay factor (in place). Call it once per verify step. */
  endStep(): void {
    for (let i = 0; i < this.evaluated.length; i++) {
      this.evaluated[i] *= this.decay;
      this.accepted[i] *= this.decay;
    }
  }
}
