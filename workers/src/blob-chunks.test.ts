import { describe, expect, it } from "vitest";
import { joinChunks, splitIntoChunks } from "./blob-chunks.ts";

describe("blob chunks", () => {
  it("split and join round-trip", () => {
    const blob = Uint8Array.from({ length: 10 }, (_, i) => i * 7);
    const chunks = splitIntoChunks(blob, 4);
    expect(chunks.map((chunk) => chunk.length)).toEqual([4, 4, 2]);
    expect(joinChunks(chunks, 10)).toEqual(blob);
  });

  it("empty blob has no chunks", () => {
    expect(splitIntoChunks(new Uint8Array(0))).toEqual([]);
    expect(joinChunks([], 0)).toEqual(new Uint8Array(0));
  });

  it("join rejects a missing chunk", () => {
    const chunks = splitIntoChunks(new Uint8Array(10), 4);
    expect(() => joinChunks(chunks.slice(0, 2), 10)).toThrow("stored chunks contain 8 bytes, but the blob row records 10");
  });
});
