import { describe, expect, it } from "vitest";
import { NgramTrie } from "./lookahead-trie.ts";

function randomTokens(length: number, alphabet: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * alphabet);
  });
}

/** Reference: occurrences of every n-gram of length ≤ maxDepth, over separately inserted sequences. */
function naiveNgramCounts(sequences: number[][], maxDepth: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sequence of sequences) {
    for (let i = 0; i < sequence.length; i++) {
      for (let n = 1; n <= maxDepth && i + n <= sequence.length; n++) {
        const key = sequence.slice(i, i + n).join(",");
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  }
  return counts;
}

describe("NgramTrie", () => {
  it("counts n-grams like naive counting", () => {
    const sequences = [randomTokens(300, 5, 1), randomTokens(200, 5, 2), [1, 1, 1, 1, 1, 1]];
    const trie = new NgramTrie({ vocabSize: 5, maxDepth: 4 });
    for (const sequence of sequences) trie.insertSequence(sequence);
    const expected = naiveNgramCounts(sequences, 4);
    for (const [key, count] of expected) expect(trie.count(key.split(",").map(Number))).toBe(count);
    expect(trie.size).toBe(expected.size);
    expect(trie.count([1, 1, 1, 1, 1])).toBe(0); // longer than maxDepth
  });

  it("streams appends like one inserted sequence", () => {
    const tokens = randomTokens(120, 6, 3);
    const streamed = new NgramTrie({ vocabSize: 6, maxDepth: 5 });
    streamed.append(tokens.slice(0, 50));
    streamed.append(tokens.slice(50));
    const whole = new NgramTrie({ vocabSize: 6, maxDepth: 5 });
    whole.insertSequence(tokens);
    expect(streamed.serialize()).toEqual(whole.serialize());
  });

  it("proposes the continuation after the longest match, most frequent first", () => {
    const trie = new NgramTrie({ vocabSize: 20, maxDepth: 6 });
    trie.insertSequence([1, 2, 3, 4, 5]);
    trie.insertSequence([1, 2, 3, 4, 5]);
    trie.insertSequence([9, 2, 3, 7, 8]);
    const proposal = trie.propose([0, 1, 2, 3], { maxNodes: 10 });
    // Suffix [1, 2, 3] matches; only 4 → 5 follows it.
    expect(proposal.tokens).toEqual([4, 5]);
    expect(proposal.parents).toEqual([-1, 0]);
    const shorter = trie.propose([0, 2, 3], { maxNodes: 3 });
    // Suffix [2, 3] (count 3) continues with 4 (twice) and 7 (once).
    expect(shorter.tokens).toEqual([4, 5, 7]);
    expect(shorter.parents).toEqual([-1, 0, -1]);
    expect(shorter.scores).toEqual([2 / 4, 2 / 3, 1 / 4]);
  });

  it("stays under its node cap by evicting rare n-grams", () => {
    const trie = new NgramTrie({ vocabSize: 50, maxDepth: 4, maxBytes: 4 * 50 + 20 * 500 });
    const frequent = [7, 8, 9, 10];
    for (let round = 0; round < 40; round++) {
      trie.insertSequence(frequent);
      trie.insertSequence(randomTokens(40, 50, round + 10));
    }
    expect(trie.size).toBeLessThanOrEqual(trie.maxNodes);
    expect(trie.bytes).toBeLessThanOrEqual(4 * 50 + 20 * 500);
    expect(trie.count(frequent)).toBeGreaterThanOrEqual(30);
  });

  it("round-trips and rejects corrupt bytes", () => {
    const trie = new NgramTrie({ vocabSize: 10, maxDepth: 3 });
    trie.insertSequence([1, 2, 3, 1, 2, 4]);
    const bytes = trie.serialize();
    const restored = NgramTrie.deserialize(bytes, { vocabSize: 10 });
    expect(restored.serialize()).toEqual(bytes);
    expect(restored.count([1, 2])).toBe(2);
    const flipped = bytes.slice();
    flipped[30] ^= 1;
    expect(() => NgramTrie.deserialize(flipped, { vocabSize: 10 })).toThrow(/checksum mismatch/);
    expect(() => NgramTrie.deserialize(bytes.slice(0, 30), { vocabSize: 10 })).toThrow(/length 30 bytes/);
    expect(() => NgramTrie.deserialize(bytes, { vocabSize: 11 })).toThrow(/vocabSize 10 does not match/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(() => NgramTrie.deserialize(badMagic, { vocabSize: 10 })).toThrow(/bad magic/);
  });

  it("rejects absurd options", () => {
    expect(() => new NgramTrie({ vocabSize: 10, maxDepth: 1 })).toThrow(/trie maxDepth = 1/);
    expect(() => new NgramTrie({ vocabSize: 1000, maxBytes: 100 })).toThrow(/allow at least 64 nodes/);
    const trie = new NgramTrie({ vocabSize: 10, maxDepth: 4 });
    expect(() => trie.propose([1], { maxNodes: 5, maxMatch: 4 })).toThrow(/trie maxMatch = 4/);
    expect(() => trie.insertSequence([10])).toThrow(/trie sequence\[0\] = 10/);
  });
});
