/**
 * Stop strings over a growing text. The matcher finds the earliest occurrence of any stop string,
 * also one that spans several pushes, and returns how much text is safe to emit. Text that could
 * still turn out to be the start of a stop string is held back until it cannot.
 */

export interface StopMatch {
  /** Offset of the first character of the stop string in the full text. */
  start: number;
  /** Offset just after the stop string. */
  end: number;
  stop: string;
}

export class StopStringMatcher {
  private readonly stops: string[];
  private readonly longest: number;
  private text = "";
  /** Offset before which no stop string can start (all earlier starts were checked). */
  private searchFrom = 0;

  constructor(stops: readonly string[]) {
    for (const stop of stops) {
      if (stop.length === 0) throw new Error("stop strings must not be empty");
    }
    this.stops = [...stops];
    this.longest = this.stops.reduce((max, stop) => Math.max(max, stop.length), 0);
  }

  /** Appends text; returns the earliest match in the whole text so far, or null. */
  push(piece: string): StopMatch | null {
    this.text += piece;
    let best: StopMatch | null = null;
    for (const stop of this.stops) {
      const start = this.text.indexOf(stop, this.searchFrom);
      if (start !== -1 && (best === null || start < best.start || (start === best.start && stop.length < best.stop.length))) {
        best = { start, end: start + stop.length, stop };
      }
    }
    if (best === null) {
      // A future match must end after the current text, so it starts after length - longest.
      this.searchFrom = Math.max(this.searchFrom, this.text.length - this.longest + 1);
    }
    return best;
  }

  /**
   * Returns the length of the prefix of the text that no stop string can still claim: everything
   * except the longest suffix that is a proper prefix of some stop string.
   */
  safeLength(): number {
    for (let keep = Math.min(this.longest - 1, this.text.length); keep > 0; keep--) {
      const suffix = this.text.slice(this.text.length - keep);
      if (this.stops.some((stop) => stop.startsWith(suffix))) return this.text.length - keep;
    }
    return this.text.length;
  }
}
