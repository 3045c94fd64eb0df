/**
 * Incremental detokenization: token ids in, text out, never a broken UTF-8 character.
 *
 * A BPE token can end in the middle of a multi-byte character, so the bytes of a token are fed to
 * a streaming TextDecoder, which holds an incomplete trailing sequence until the next bytes arrive.
 * The concatenated output therefore equals TextDecoder's decode of all the bytes at once, however
 * the tokens are grouped into steps. Invalid bytes decode to U+FFFD exactly as in a full decode.
 */
export class IncrementalDetokenizer {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private text = "";
  /** charEnds[i]: length of the decoded text once token i has been fed (in UTF-16 code units). */
  private readonly charEnds: number[] = [];
  private finished = false;

  constructor(private readonly decodeBytes: (ids: readonly number[]) => Uint8Array) {}

  /** Feeds one token and returns the text it completes (possibly empty). */
  push(token: number): string {
    if (this.finished) throw new Error(`IncrementalDetokenizer.push(${token}) after finish()`);
    const piece = this.decoder.decode(this.decodeBytes([token]), { stream: true });
    this.text += piece;
    this.charEnds.push(this.text.length);
    return piece;
  }

  /** Flushes a trailing incomplete sequence (as U+FFFD) and returns that text. */
  finish(): string {
    if (this.finished) return "";
    this.finished = true;
    const tail = this.decoder.decode();
    this.text += tail;
    if (this.charEnds.length > 0) this.charEnds[this.charEnds.length - 1] = this.text.length;
    return tail;
  }

  get decodedText(): string {
    return this.text;
  }

  get tokenCount(): number {
    return this.charEnds.length;
  }

  /**
   * Returns how many tokens it takes to produce the first `chars` code units of the text:
   * the index of the first token whose decoded end reaches `chars`, plus one. Zero for chars = 0.
   */
  tokensCovering(chars: number): number {
    if (chars <= 0) return 0;
    // charEnds is non-decreasing, so binary search for the first end >= chars.
    let low = 0;
    let high = this.charEnds.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.charEnds[middle] >= chars) high = middle;
      else low = middle + 1;
    }
    if (low === this.charEnds.length) {
      throw new Error(`tokensCovering(${chars}): only ${this.text.length} characters are decoded`);
    }
    return low + 1;
  }
}
