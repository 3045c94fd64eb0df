import { describe, expect, it } from "vitest";
import { crc32 } from "./crc32.ts";

/** Reference: the bitwise definition, one bit at a time. */
function bitwiseCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe("crc32", () => {
  it("matches the standard check value", () => {
    // The CRC-32 of the ASCII digits "123456789" is 0xCBF43926 by definition of the algorithm.
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("matches the bitwise definition at every length", () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => (i * 73 + 11) & 0xff);
    for (let length = 0; length <= bytes.length; length++) {
      expect(crc32(bytes.subarray(0, length))).toBe(bitwiseCrc32(bytes.subarray(0, length)));
    }
  });

  it("continues from a seed", () => {
    const bytes = Uint8Array.from({ length: 37 }, (_, i) => i);
    expect(crc32(bytes.subarray(13), crc32(bytes.subarray(0, 13)))).toBe(crc32(bytes));
  });
});
