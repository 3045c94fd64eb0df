/**
 * A binary max-heap of integer payloads keyed by priority, the frontier of every best-first tree
 * expansion in this package. Equal priorities pop in insertion order, so expansions are deterministic.
 * push and pop cost O(log n).
 */
export class BestFirstQueue {
  private readonly priorities: number[] = [];
  private readonly orders: number[] = [];
  private readonly payloads: number[] = [];
  private pushed = 0;

  get size(): number {
    return this.payloads.length;
  }

  /** Priority of the next payload pop() returns; -Infinity when empty. */
  peekPriority(): number {
    return this.payloads.length > 0 ? this.priorities[0] : -Infinity;
  }

  push(priority: number, payload: number): void {
    this.priorities.push(priority);
    this.orders.push(this.pushed++);
    this.payloads.push(payload);
    let i = this.payloads.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.before(i, up)) break;
      this.swap(i, up);
      i = up;
    }
  }

  /** Removes and returns the payload with the highest priority. The queue must not be empty. */
  pop(): number {
    const top = this.payloads[0];
    const last = this.payloads.length - 1;
    this.swap(0, last);
    this.priorities.pop();
    this.orders.pop();
    this.payloads.pop();
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < last && this.before(left, best)) best = left;
      if (right < last && this.before(right, best)) best = right;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const pa = this.priorities[a];
    const pb = this.priorities[b];
    return pa > pb || (pa === pb && this.orders[a] < this.orders[b]);
  }

  private swap(a: number, b: number): void {
    const priority = this.priorities[a];
    this.priorities[a] = this.priorities[b];
    this.priorities[b] = priority;
    const order = this.orders[a];
    this.orders[a] = this.orders[b];
    this.orders[b] = order;
    const payload = this.payloads[a];
    this.payloads[a] = this.payloads[b];
    this.payloads[b] = payload;
  }
}
