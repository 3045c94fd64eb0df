import { describe, expect, it } from "vitest";
import { DraftInputError } from "../drafters/errors.ts";
import { parseSuffixIndex, serializeSuffixIndex } from "./format.ts";
import { buildSuffixArray } from "./sais.ts";
import { SuffixIndex } from "./suffix-index.ts";

function random(seed: number): () => number {
  let state = seed;
  return () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function randomTokens(length: number, alphabet: number, seed: number): number[] {
  const next = random(seed);
  return Array.from({ length }, () => Math.floor(next() * alphabet));
}

/** Reference: sort all suffixes by direct comparison (a proper prefix sorts first). */
function naiveSuffixArray(tokens: number[]): number[] {
  const compare = (a: number, b: number) => {
    while (a < tokens.length && b < tokens.length) {
      if (tokens[a] !== tokens[b]) return tokens[a] - tokens[b];
      a++;
      b++;
    }
    return a === tokens.length ? -1 : 1;
  };
  return tokens.map((_, i) => i).sort(compare);
}

function naiveCount(tokens: number[], pattern: number[]): number {
  let count = 0;
  for (let i = 0; i + pattern.length <= tokens.length; i++) {
    if (pattern.every((t, k) => tokens[i + k] === t)) count++;
  }
  return count;
}

describe("buildSuffixArray", () => {
  const inputs: Array<[string, number[], number]> = [
    ["empty", [], 1],
    ["one token", [0], 1],
    ["all equal", new Array(50).fill(3), 4],
    ["period two", Array.from({ length: 41 }, (_, i) => i % 2), 2],
    ["period three", Array.from({ length: 60 }, (_, i) => [2, 0, 1][i % 3]), 3],
    ["fibonacci word", fibonacciWord(12), 2],
    ["descending", Array.from({ length: 30 }, (_, i) => 29 - i), 30],
  ];
  for (const [name, tokens, alphabet] of inputs) {
    it(`matches the naive sort on ${name}`, () => {
      expect(Array.from(buildSuffixArray(tokens, alphabet))).toEqual(naiveSuffixArray(tokens));
    });
  }

  it("matches the naive sort on random arrays", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const alphabet = [2, 3, 5, 50, 70000][seed % 5];
      const tokens = randomTokens(1 + ((seed * 37) % 300), alphabet, seed);
      expect(Array.from(buildSuffixArray(tokens, alphabet))).toEqual(naiveSuffixArray(tokens));
    }
  });

  it("rejects ids outside the alphabet", () => {
    expect(() => buildSuffixArray([0, 5], 5)).toThrow(/tokens\[1\] = 5 is not a token id in \[0, 5\)/);
  });
});

function fibonacciWord(steps: number): number[] {
  let a = [0];
  let b = [0, 1];
  for (let i = 0; i < steps; i++) [a, b] = [b, [...b, ...a]];
  return b;
}

describe("SuffixIndex queries", () => {
  const tokens = randomTokens(2000, 4, 7);
  const index = SuffixIndex.build(tokens, 4);

  it("counts patterns like a naive scan", () => {
    const next = random(99);
    for (let trial = 0; trial < 200; trial++) {
      const pattern = randomTokens(1 + Math.floor(next() * 7), 4, trial + 1000);
      expect(index.count(pattern)).toBe(naiveCount(tokens, pattern));
    }
    expect(index.count([])).toBe(tokens.length);
  });

  it("finds the longest matching suffix like a naive scan", () => {
    for (let trial = 0; trial < 100; trial++) {
      const context = randomTokens(40, 5, trial + 5000); // id 4 never occurs in the index
      let expected = 0;
      for (let length = 1; length <= Math.min(20, context.length); length++) {
        if (naiveCount(tokens, context.slice(context.length - length)) > 0) expected = length;
        else break;
      }
      const match = index.longestSuffixMatch(context, 20);
      expect(match.length).toBe(expected);
      expect(match.hi - match.lo).toBe(expected === 0 ? tokens.length : naiveCount(tokens, context.slice(context.length - expected)));
    }
  });

  it("counts next tokens like a naive scan", () => {
    const pattern = [1, 2];
    const range = index.findRange(pattern);
    const naive = new Map<number, number>();
    for (let i = 0; i + 2 < tokens.length; i++) {
      if (tokens[i] === 1 && tokens[i + 1] === 2) naive.set(tokens[i + 2], (naive.get(tokens[i + 2]) ?? 0) + 1);
    }
    const found = new Map(index.nextTokens(range, 2).map((next) => [next.token, next.hi - next.lo]));
    expect(found).toEqual(naive);
  });

  it("treats the end of the text as no next token", () => {
    const small = SuffixIndex.build([1, 2, 1], 3);
    const range = small.findRange([1]);
    expect(range.hi - range.lo).toBe(2);
    expect(small.nextTokens(range, 1)).toEqual([{ token: 2, lo: range.lo + 1, hi: range.lo + 2 }]);
  });
});

describe("suffix index file format", () => {
  const index = SuffixIndex.build(randomTokens(501, 300, 3), 300);
  const bytes = serializeSuffixIndex(index);

  it("round-trips", () => {
    const parsed = parseSuffixIndex(bytes);
    expect(Array.from(parsed.tokens)).toEqual(Array.from(index.tokens));
    expect(Array.from(parsed.sa)).toEqual(Array.from(index.sa));
    expect(parsed.vocabSize).toBe(300);
  });

  it("round-trips wide vocabularies from an unaligned buffer", () => {
    const wide = SuffixIndex.build([70000, 5, 70000, 6], 70001);
    const shifted = new Uint8Array(serializeSuffixIndex(wide).length + 1);
    shifted.set(serializeSuffixIndex(wide), 1);
    const parsed = parseSuffixIndex(shifted.subarray(1));
    expect(Array.from(parsed.tokens)).toEqual([70000, 5, 70000, 6]);
    expect(parsed.count([70000])).toBe(2);
  });

  const corruptions: Array<[string, (b: Uint8Array) => Uint8Array, RegExp]> = [
    ["truncated header", (b) => b.slice(0, 20), /shorter than the 32-byte header/],
    ["truncated body", (b) => b.slice(0, b.length - 4), /truncated/],
    ["bad magic", (b) => patch(b, 0, 0x41), /bad magic/],
    ["bad version", (b) => patch(b, 4, 9), /unsupported version 9/],
    ["bad width", (b) => patch(b, 6, 4), /token width 4 bytes does not fit vocabSize 300/],
    ["flipped body byte", (b) => patch(b, 40, b[40] ^ 1), /checksum mismatch/],
  ];
  for (const [name, corrupt, message] of corruptions) {
    it(`rejects ${name}`, () => {
      expect(() => parseSuffixIndex(corrupt(bytes))).toThrow(DraftInputError);
      expect(() => parseSuffixIndex(corrupt(bytes))).toThrow(message);
    });
  }
});

function patch(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] = value;
  return copy;
}
