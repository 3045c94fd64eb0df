import { describe, expect, it } from "vitest";
import { BestFirstQueue } from "./best-first.ts";

describe("BestFirstQueue", () => {
  it("pops like a stable sort by descending priority", () => {
    let state = 3;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % 7;
    const queue = new BestFirstQueue();
    const reference: Array<{ priority: number; payload: number }> = [];
    const popped: number[] = [];
    const expected: number[] = [];
    for (let step = 0; step < 500; step++) {
      if (step % 3 === 2 && queue.size > 0) {
        popped.push(queue.pop());
        let best = 0;
        for (let i = 1; i < reference.length; i++) if (reference[i].priority > reference[best].priority) best = i;
        expected.push(reference.splice(best, 1)[0].payload);
      } else {
        const priority = next();
        queue.push(priority, step);
        reference.push({ priority, payload: step });
      }
    }
    expect(popped).toEqual(expected);
    expect(queue.size).toBe(reference.length);
  });

  it("reports -Infinity when empty", () => {
    expect(new BestFirstQueue().peekPriority()).toBe(-Infinity);
  });
});
