/**
 * A binary max-heap of integer payloads keyed by priority, the frontier of every best-first tree
 * expansion in this package. Equal priorities pop in insertion order, so expansions are deterministic.
 * push and pop cost O(log n); storage is typed arrays that double when full.
 */
export class BestFirstQueue {
  private priorities = new Float64Array(64);
  private orders = new Int32Array(64);
  private payloads = new Int32Array(64);
  private count = 0;
  private pushed = 0;

  get size(): number {
    return this.count;
  }

  /** Empties the queue, keeping its storage for reuse (in place). */
  clear(): void {
    this.count = 0;
    this.pushed = 0;
  }

  /** Priority of the next payload pop() returns; -Infinity when empty. */
  peekPriority(): number {
    return this.count > 0 ? this.priorities[0] : -Infinity;
  }

  /** Adds `payload` (an int32) with `priority`. */
  push(priority: number, payload: number): void {
    if (this.count === this.payloads.length) this.grow();
    let i = this.count++;
    const order = this.pushed++;
    // Sift up: move parents that rank below the new entry down one level.
    while (i > 0) {
      const up = (i - 1) >> 1;
      const upPriority = this.priorities[up];
      if (upPriority > priority || (upPriority === priority && this.orders[up] < order)) break;
      this.priorities[i] = upPriority;
      this.orders[i] = this.orders[up];
      this.payloads[i] = this.payloads[up];
      i = up;
    }
    this.priorities[i] = priority;
    this.orders[i] = order;
    this.payloads[i] = payload;
  }

  /** Removes and returns the payload with the highest priority. The queue must not be empty. */
  pop(): number {
    const top = this.payloads[0];
    const last = --this.count;
    const priority = this.priorities[last];
    const order = this.orders[last];
    const payload = this.payloads[last];
    // Sift the former last entry down from the root.
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.ranksBefore(child + 1, child)) child++;
      const childPriority = this.priorities[child];
      if (childPriority > priority || (childPriority === priority && this.orders[child] < order)) {
        this.priorities[i] = childPriority;
        this.orders[i] = this.orders[child];
        this.payloads[i] = this.payloads[child];
        i = child;
      } else {
        break;
      }
    }
    this.priorities[i] = priority;
    this.orders[i] = order;
    this.payloads[i] = payload;
    return top;
  }

  private ranksBefore(a: number, b: number): boolean {
    const pa = this.priorities[a];
    const pb = this.priorities[b];
    return pa > pb || (pa === pb && this.orders[a] < this.orders[b]);
  }

  private grow(): void {
    const capacity = this.payloads.length * 2;
    const priorities = new Float64Array(capacity);
    priorities.set(this.priorities);
    this.priorities = priorities;
    const orders = new Int32Array(capacity);
    orders.set(this.orders);
    this.orders = orders;
    const payloads = new Int32Array(capacity);
    payloads.set(this.payloads);
    this.payloads = payloads;
  }
}
