/**
 * Hardware-aware budget: picks the tree size B that maximises expected committed tokens per unit of
 * time, including B = 0 (plain decoding) when drafts do not pay for themselves.
 *
 *     rate(B) = (1 + G(B)) / (overheadMs + forwardMs(B) + draftMs·[B > 0])
 *
 * G(B) is the sum of the path probabilities of the B best nodes (the expected accepted length of
 * that tree), the 1 is the bonus token. `forwardMs(B)` is the verifier's cost by tree size and
 * `overheadMs` the rest of the round trip the edge observes (network, queueing, serialisation).
 */

import { checkIntegerOption, DraftInputError } from "./drafters/errors.ts";

/** Milliseconds one verify step costs, split into what the tree size changes and what it does not. */
export interface CostModel {
  forwardMs(treeSize: number): number;
  overheadMs(): number;
  /** Takes one measured step (no-op for a fixed model). */
  observe(treeSize: number, forwardMs: number, roundTripMs: number): void;
}

export interface LinearCost {
  /** Forward time of a plain decoding step, in ms. */
  baseMs: number;
  /** Extra forward time per tree node, in ms. */
  perNodeMs: number;
  /** Round-trip time minus forward time, in ms. */
  overheadMs: number;
}

function checkLinearCost(cost: LinearCost): void {
  for (const [name, value] of Object.entries(cost)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new DraftInputError("invalid_option", `cost model ${name} = ${value} must be a finite number ≥ 0`);
    }
  }
}

/** A cost model that never changes: for replays and benchmarks that must see one fixed budget rule. */
export class FixedCostModel implements CostModel {
  constructor(private readonly cost: LinearCost) {
    checkLinearCost(cost);
  }
  forwardMs(treeSize: number): number {
    return this.cost.baseMs + this.cost.perNodeMs * treeSize;
  }
  overheadMs(): number {
    return this.cost.overheadMs;
  }
  observe(): void {}
}

/**
 * The default prior: a memory-bound GPU step whose cost hardly grows with the tree, close to the
 * edge. It is only the starting point: FittedCostModel replaces it after a few measured steps.
 */
export const DEFAULT_COST_PRIOR: LinearCost = { baseMs: 10, perNodeMs: 0.02, overheadMs: 5 };

/**
 * Fits forwardMs(n) = base + perNode·n by least squares over exponentially decayed observations,
 * plus the prior line as two pseudo-observations (at n = 0 and n = 64) that never decay, so the fit
 * stays defined before any tree has been sent. Overhead is a decayed mean of roundTrip − forward.
 */
export class FittedCostModel implements CostModel {
  // Decayed sums over observations: weight, Σn, Σn², Σy, Σny.
  private w = 0;
  private sn = 0;
  private snn = 0;
  private sy = 0;
  private sny = 0;
  private overheadSum = 0;
  private overheadWeight = 0;
  private base: number;
  private perNode: number;

  constructor(
    private readonly prior: LinearCost = DEFAULT_COST_PRIOR,
    private readonly decay = 0.98,
    private readonly priorWeight = 0.25,
  ) {
    checkLinearCost(prior);
    this.base = prior.baseMs;
    this.perNode = prior.perNodeMs;
  }

  forwardMs(treeSize: number): number {
    return this.base + this.perNode * treeSize;
  }

  overheadMs(): number {
    const priorPart = this.priorWeight * this.prior.overheadMs;
    return (this.overheadSum + priorPart) / (this.overheadWeight + this.priorWeight);
  }

  observe(treeSize: number, forwardMs: number, roundTripMs: number): void {
    if (!Number.isFinite(forwardMs) || !Number.isFinite(roundTripMs) || forwardMs < 0 || roundTripMs < 0) {
      throw new DraftInputError("invalid_feedback", `timings must be finite and ≥ 0, got forwardMs = ${forwardMs}, roundTripMs = ${roundTripMs}`);
    }
    this.w = this.w * this.decay + 1;
    this.sn = this.sn * this.decay + treeSize;
    this.snn = this.snn * this.decay + treeSize * treeSize;
    this.sy = this.sy * this.decay + forwardMs;
    this.sny = this.sny * this.decay + treeSize * forwardMs;
    this.overheadSum = this.overheadSum * this.decay + Math.max(roundTripMs - forwardMs, 0);
    this.overheadWeight = this.overheadWeight * this.decay + 1;
    this.refit();
  }

  private refit(): void {
    const priorAt = (n: number) => this.prior.baseMs + this.prior.perNodeMs * n;
    const pw = this.priorWeight;
    const w = this.w + 2 * pw;
    const sn = this.sn + pw * 64;
    const snn = this.snn + pw * 64 * 64;
    const sy = this.sy + pw * (priorAt(0) + priorAt(64));
    const sny = this.sny + pw * 64 * priorAt(64);
    const det = w * snn - sn * sn;
    const slope = det > 1e-9 ? (w * sny - sn * sy) / det : 0;
    this.perNode = Math.max(slope, 0);
    this.base = Math.max((sy - this.perNode * sn) / w, 0);
  }
}

/**
 * Returns the budget B in [0, min(maxBudget, pathProbs.length)] with the highest expected committed
 * tokens per ms. `pathProbs` must be non-increasing (the composer's best-first order), so the first B
 * nodes are the best tree of size B.
 */
export function chooseBudget(pathProbs: readonly number[], cost: CostModel, draftMs: number, maxBudget: number): number {
  checkIntegerOption(maxBudget, 0, 1 << 16, "maxBudget", "invalid_budget");
  const overhead = cost.overheadMs();
  let bestBudget = 0;
  let bestRate = 1 / Math.max(overhead + cost.forwardMs(0), 1e-6);
  let gain = 0;
  const limit = Math.min(maxBudget, pathProbs.length);
  for (let budget = 1; budget <= limit; budget++) {
    gain += pathProbs[budget - 1];
    const rate = (1 + gain) / Math.max(overhead + cost.forwardMs(budget) + draftMs, 1e-6);
    if (rate > bestRate) {
      bestRate = rate;
      bestBudget = budget;
    }
  }
  return bestBudget;
}
