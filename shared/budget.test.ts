import { describe, expect, it } from "vitest";
import { chooseBudget, FittedCostModel, FixedCostModel } from "./budget.ts";

describe("chooseBudget", () => {
  const probs = [0.9, 0.8, 0.5, 0.1, 0.01];

  it("takes every useful node when nodes are free", () => {
    const free = new FixedCostModel({ baseMs: 10, perNodeMs: 0, overheadMs: 0 });
    expect(chooseBudget(probs, free, 0, 64)).toBe(5);
    expect(chooseBudget(probs, free, 0, 3)).toBe(3);
  });

  it("stops where a node costs more than it gains", () => {
    // rate(B) = (1 + G(B)) / (10 + B): B = 3 gives 3.2 / 13 = 0.246, B = 4 gives 3.3 / 14 = 0.236.
    const linear = new FixedCostModel({ baseMs: 10, perNodeMs: 1, overheadMs: 0 });
    expect(chooseBudget(probs, linear, 0, 64)).toBe(3);
  });

  it("chooses plain decoding when drafts do not pay", () => {
    const expensive = new FixedCostModel({ baseMs: 1, perNodeMs: 5, overheadMs: 0 });
    expect(chooseBudget([0.5, 0.2], expensive, 0, 64)).toBe(0);
    expect(chooseBudget([], expensive, 0, 64)).toBe(0);
  });

  it("rejects absurd budgets", () => {
    const free = new FixedCostModel({ baseMs: 1, perNodeMs: 0, overheadMs: 0 });
    expect(() => chooseBudget(probs, free, 0, -2)).toThrow(/maxBudget = -2/);
    expect(() => new FixedCostModel({ baseMs: -1, perNodeMs: 0, overheadMs: 0 })).toThrow(/baseMs = -1/);
  });
});

describe("FittedCostModel", () => {
  it("converges to the measured cost line", () => {
    const model = new FittedCostModel({ baseMs: 10, perNodeMs: 0.02, overheadMs: 5 });
    for (let step = 0; step < 400; step++) {
      const size = (step * 7) % 65;
      model.observe(size, 4 + 0.5 * size, 4 + 0.5 * size + 20);
    }
    // The never-decaying prior (weight 0.25 per point against ~50 decayed observations) pulls by < 1 ms.
    expect(Math.abs(model.forwardMs(0) - 4)).toBeLessThan(1);
    expect(Math.abs(model.forwardMs(64) - 36)).toBeLessThan(1);
    expect(Math.abs(model.overheadMs() - 20)).toBeLessThan(1);
  });

  it("rejects invalid timings", () => {
    expect(() => new FittedCostModel().observe(3, Number.NaN, 1)).toThrow(/forwardMs = NaN/);
  });
});
