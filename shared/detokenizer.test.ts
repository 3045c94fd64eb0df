import { describe, expect, it } from "vitest";
import { IncrementalDetokenizer } from "./detokenizer.ts";

// Token i decodes to PIECES[i]; "€" (E2 82 AC) and "é" (C3 A9) are split across tokens.
const PIECES: number[][] = [
  [...new TextEncoder().encode("ab")],
  [0xe2],
  [0x82],
  [0xac, 0x21], // end of "€", then "!"
  [0xc3],
  [0xa9],
  [0xff], // never valid in UTF-8
];
const decodeBytes = (ids: readonly number[]) => Uint8Array.from(ids.flatMap((id) => PIECES[id]));

describe("IncrementalDetokenizer", () => {
  it("holds a split character until its last byte arrives", () => {
    const detokenizer = new IncrementalDetokenizer(decodeBytes);
    expect(detokenizer.push(0)).toBe("ab");
    expect(detokenizer.push(1)).toBe("");
    expect(detokenizer.push(2)).toBe("");
    expect(detokenizer.push(3)).toBe("€!");
    expect(detokenizer.push(4)).toBe("");
    expect(detokenizer.push(5)).toBe("é");
  });

  it("concatenated output equals the full decode", () => {
    const ids = [0, 1, 2, 3, 6, 4, 5, 4, 0, 1];
    const detokenizer = new IncrementalDetokenizer(decodeBytes);
    const streamed = ids.map((id) => detokenizer.push(id)).join("") + detokenizer.finish();
    expect(streamed).toBe(new TextDecoder().decode(decodeBytes(ids)));
    expect(streamed).toBe("ab€!\uFFFDé\uFFFDab\uFFFD");
  });

  it("maps a text length to the tokens that produce it", () => {
    const detokenizer = new IncrementalDetokenizer(decodeBytes);
    for (const id of [0, 1, 2, 3, 4, 5]) detokenizer.push(id);
    // text "ab€!é": token ends at 2, 2, 2, 4, 4, 5 characters.
    expect(detokenizer.tokensCovering(0)).toBe(0);
    expect(detokenizer.tokensCovering(1)).toBe(1);
    expect(detokenizer.tokensCovering(3)).toBe(4);
    expect(detokenizer.tokensCovering(5)).toBe(6);
    expect(() => detokenizer.tokensCovering(6)).toThrow(/only 5 characters/);
  });
});
