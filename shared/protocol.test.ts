import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseVerifyResponse, ProtocolError, signRequest } from "./protocol.ts";

const tree = { tokens: [17, 42, 18], parents: [-1, 0, -1] };
const request = { baseLen: 3, appendLen: 0, tree, vocabSize: 100, eosTokenIds: [99] };
const timings = { queue_ms: 0.1, forward_ms: 8.2, total_ms: 8.9 };
const response = (fields: Record<string, unknown>) => ({
  accepted_tokens: [17, 42, 50], accepted_nodes: [0, 1], top_k: [[17], [42], [50]], logprobs: null, eos: false, committed_len: 6, timings, ...fields,
});

describe("signRequest", () => {
  it("matches HMAC-SHA256 over timestamp, method, path and body", async () => {
    const body = '{"tokens":[1,2,3]}';
    const expected = createHmac("sha256", "secret").update(`1700000000\nPOST\n/v1/sessions\n${body}`).digest("hex");
    expect(await signRequest("secret", 1700000000, "post", "/v1/sessions", body)).toBe(`v1=${expected}`);
  });
});

describe("parseVerifyResponse", () => {
  it("accepts a path of the tree plus a bonus token", () => {
    expect(parseVerifyResponse(response({}), request).accepted_tokens).toEqual([17, 42, 50]);
  });

  it("accepts a drafted EOS without a bonus token", () => {
    const eosTree = { tokens: [17, 99], parents: [-1, 0] };
    const parsed = parseVerifyResponse(response({ accepted_tokens: [17, 99], accepted_nodes: [0, 1], top_k: [[17], [99]], eos: true, committed_len: 5 }), { ...request, tree: eosTree });
    expect(parsed.eos).toBe(true);
  });

  it("rejects tokens after EOS", () => {
    const eosTree = { tokens: [17, 99, 5], parents: [-1, 0, 1] };
    const fields = { accepted_tokens: [17, 99, 5, 50], accepted_nodes: [0, 1, 2], top_k: [[1], [1], [1], [1]], committed_len: 7 };
    expect(() => parseVerifyResponse(response(fields), { ...request, tree: eosTree })).toThrow("continues after EOS token 99 at index 1");
  });

  const broken: [string, Record<string, unknown>, string][] = [
    ["empty accepted tokens", { accepted_tokens: [], accepted_nodes: [], top_k: [] }, "accepted_tokens is empty"],
    ["a node off the path", { accepted_nodes: [0, 2] }, "accepted_nodes[1] = 2 has parent -1, expected 0"],
    ["a token that differs from its node", { accepted_tokens: [17, 43, 50] }, "accepted_tokens[1] = 43 but node 1 has token 42"],
    ["a token outside the vocabulary", { accepted_tokens: [17, 42, 100] }, "accepted_tokens[2] = 100 is outside the vocabulary"],
    ["a wrong eos flag", { eos: true }, "eos = true"],
    ["a wrong committed length", { committed_len: 7 }, "committed_len = 7, expected 6"],
    ["missing top-k rows", { top_k: [[17]] }, "top_k: expected 3 rows"],
  ];
  for (const [name, fields, message] of broken) {
    it(`rejects ${name}`, () => {
      expect(() => parseVerifyResponse(response(fields), request)).toThrow(ProtocolError);
      expect(() => parseVerifyResponse(response(fields), request)).toThrow(message);
    });
  }
});
