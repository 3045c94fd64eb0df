/**
 * Token recycling: an adjacency matrix that stores, for every vocabulary token, the model's top-k
 * candidate successors the last time the verifier produced a distribution right after that token.
 * A draft is a breadth-first expansion of a static tree template from the last committed token:
 * template child number r of a node takes candidate rank r from the row of the node's token.
 *
 * Memory: k × vocabSize ids, as Uint16 when every id and the empty marker fit in 16 bits, else Uint32.
 */

import { crc32 } from "../crc32.ts";
import { edgeFeature, emptyCandidates, type DraftCandidates } from "./candidates.ts";
import { checkIntegerOption, checkTokenIds, DraftInputError } from "./errors.ts";

/**
 * A static tree shape. Node 0 is the last committed token; `parents[i] < i` for i ≥ 1, and
 * `ranks[i]` is the candidate rank node i takes from its parent's row (its index among siblings).
 */
export interface TreeTemplate {
  parents: number[];
  ranks: number[];
}

/**
 * Parses a template in the `{"tree_adj": {parent: [children]}}` form, where node 0 is the root and a
 * child's index in its parent's list is its rank. Renumbers nodes breadth-first so parents come first.
 */
export function parseTreeTemplate(json: unknown): TreeTemplate {
  const adjacency = (json as { tree_adj?: unknown } | null)?.tree_adj;
  if (typeof adjacency !== "object" || adjacency === null) {
    throw new DraftInputError("invalid_option", "tree template must be an object with a tree_adj field");
  }
  const childrenOf = new Map<number, number[]>();
  for (const [key, value] of Object.entries(adjacency)) {
    if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v > 0)) {
      throw new DraftInputError("invalid_option", `tree template tree_adj["${key}"] must be a list of node ids > 0`);
    }
    childrenOf.set(Number(key), value);
  }
  const template: TreeTemplate = { parents: [-1], ranks: [0] };
  const queue = [0];
  const seen = new Set([0]);
  for (let head = 0; head < queue.length; head++) {
    const children = childrenOf.get(queue[head]) ?? [];
    children.forEach((child, rank) => {
      if (seen.has(child)) throw new DraftInputError("invalid_option", `tree template reaches node ${child} twice`);
      seen.add(child);
      template.parents.push(head);
      template.ranks.push(rank);
      queue.push(child);
    });
  }
  return template;
}

/**
 * Builds a template of `size` draft nodes best-first under the model "rank r is accepted with
 * probability rankProbs[r], independently at every depth": the nodes with the highest path
 * probability form the tree with the highest expected accepted length for that model.
 */
export function buildRankTemplate(rankProbs: readonly number[], size: number, maxDepth = 16): TreeTemplate {
  const template: TreeTemplate = { parents: [-1], ranks: [0] };
  const depth = [0];
  const frontier: Array<{ prob: number; parent: number; rank: number }> = [{ prob: rankProbs[0], parent: 0, rank: 0 }];
  while (template.parents.length <= size && frontier.length > 0) {
    let best = 0;
    for (let i = 1; i < frontier.length; i++) if (frontier[i].prob > frontier[best].prob) best = i;
    const { prob, parent, rank } = frontier.splice(best, 1)[0];
    const node = template.parents.length;
    template.parents.push(parent);
    template.ranks.push(rank);
    depth.push(depth[parent] + 1);
    if (rank + 1 < rankProbs.length) {
      frontier.push({ prob: (prob / rankProbs[rank]) * rankProbs[rank + 1], parent, rank: rank + 1 });
    }
    if (depth[node] < maxDepth) frontier.push({ prob: prob * rankProbs[0], parent: node, rank: 0 });
  }
  return template;
}

/**
 * Acceptance rate by rank of a model's top-8 candidates, a rough prior for greedy decoding. It
 * seeds the raw edge scores; the composer's calibration replaces it with measured rates.
 */
export const RANK_PRIOR = [0.55, 0.14, 0.06, 0.035, 0.025, 0.018, 0.014, 0.011];

/** The default template: 63 draft nodes built best-first from RANK_PRIOR. */
export const DEFAULT_RECYCLING_TEMPLATE = buildRankTemplate(RANK_PRIOR, 63);

const MAGIC = 0x43525345; // "ESRC" read as a little-endian uint32
const FORMAT_VERSION = 1;
const HEADER_BYTES = 24;

export class RecyclingMatrix {
  readonly vocabSize: number;
  readonly topK: number;
  /** Row t contains ids [t * topK, (t + 1) * topK), most likely first; `empty` marks a free slot. */
  readonly ids: Uint16Array | Uint32Array;
  readonly empty: number;

  constructor(vocabSize: number, topK = 8) {
    this.vocabSize = checkIntegerOption(vocabSize, 1, 0xfffffffe, "vocabSize");
    this.topK = checkIntegerOption(topK, 1, 64, "topK");
    const wide = vocabSize > 0xffff; // ids up to 0xfffe fit in 16 bits and leave 0xffff as the empty marker
    this.empty = wide ? 0xffffffff : 0xffff;
    this.ids = wide ? new Uint32Array(vocabSize * topK) : new Uint16Array(vocabSize * topK);
    this.ids.fill(this.empty);
  }

  get bytes(): number {
    return this.ids.byteLength;
  }

  /**
   * Puts `candidates` first in the row of `previous` (in place), then the row's older ids, keeping
   * `topK` distinct ids. A full top-k replaces the row; a shorter list (for example top-1 only)
   * keeps older candidates behind the new ones. The verifier's top_k[j] belongs to the token
   * before accepted_tokens[j].
   */
  update(previous: number, candidates: readonly number[]): void {
    checkTokenIds([previous], this.vocabSize, "previous token");
    checkTokenIds(candidates, this.vocabSize, "top-k candidates");
    const start = previous * this.topK;
    const older = Array.from(this.ids.subarray(start, start + this.topK)).filter((id) => id !== this.empty);
    let filled = 0;
    for (const id of [...candidates, ...older]) {
      if (filled === this.topK) break;
      let duplicate = false;
      for (let s = 0; s < filled; s++) if (this.ids[start + s] === id) duplicate = true;
      if (!duplicate) this.ids[start + filled++] = id;
    }
    this.ids.fill(this.empty, start + filled, start + this.topK);
  }

  /** Returns the stored candidate of `token` at `rank`, or -1 when that slot is empty. */
  candidate(token: number, rank: number): number {
    if (rank >= this.topK) return -1;
    const id = this.ids[token * this.topK + rank];
    return id === this.empty ? -1 : id;
  }

  /**
   * Expands `template` breadth-first from `lastToken`: node i takes candidate `ranks[i]` of its parent's
   * token. A node whose slot is empty is dropped with its whole subtree. Cost O(template size).
   */
  propose(lastToken: number, template: TreeTemplate = DEFAULT_RECYCLING_TEMPLATE, maxNodes = Infinity): DraftCandidates {
    checkTokenIds([lastToken], this.vocabSize, "last committed token");
    const result = emptyCandidates("recycling");
    // For each template node: its token and its index in `result` (-1 = the root, -2 = dropped).
    const tokenOf = new Array<number>(template.parents.length);
    const outIndex = new Array<number>(template.parents.length);
    const depthOf = new Array<number>(template.parents.length);
    tokenOf[0] = lastToken;
    outIndex[0] = -1;
    depthOf[0] = 0;
    for (let node = 1; node < template.parents.length && result.tokens.length < maxNodes; node++) {
      const parent = template.parents[node];
      outIndex[node] = -2;
      if (outIndex[parent] === -2) continue;
      const token = this.candidate(tokenOf[parent], template.ranks[node]);
      if (token < 0) continue;
      const rank = template.ranks[node];
      const score = RANK_PRIOR[Math.min(rank, RANK_PRIOR.length - 1)];
      tokenOf[node] = token;
      depthOf[node] = depthOf[parent] + 1;
      outIndex[node] = result.tokens.length;
      result.tokens.push(token);
      result.parents.push(outIndex[parent]);
      result.scores.push(score);
      result.features.push(edgeFeature(rank, depthOf[node], score));
    }
    return result;
  }

  /**
   * Serialises the matrix: a 24-byte little-endian header (magic "ESRC", u16 version, u8 id width in
   * bytes, u8 reserved, u32 vocabSize, u32 topK, u32 CRC-32 of the ids, u32 reserved) then the ids.
   */
  serialize(): Uint8Array {
    const body = new Uint8Array(this.ids.buffer, this.ids.byteOffset, this.ids.byteLength);
    const out = new Uint8Array(HEADER_BYTES + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint16(4, FORMAT_VERSION, true);
    view.setUint8(6, this.ids.BYTES_PER_ELEMENT);
    view.setUint32(8, this.vocabSize, true);
    view.setUint32(12, this.topK, true);
    view.setUint32(16, crc32(body), true);
    out.set(body, HEADER_BYTES);
    return out;
  }

  /** Parses `serialize()` output; throws `corrupt_state` on any mismatch, including another vocabSize. */
  static deserialize(bytes: Uint8Array, expectedVocabSize?: number): RecyclingMatrix {
    const fail = (why: string): never => {
      throw new DraftInputError("corrupt_state", `recycling state: ${why}`);
    };
    if (bytes.length < HEADER_BYTES) fail(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) fail("bad magic, not a recycling matrix");
    const version = view.getUint16(4, true);
    if (version !== FORMAT_VERSION) fail(`unsupported version ${version}, expected ${FORMAT_VERSION}`);
    const width = view.getUint8(6);
    const vocabSize = view.getUint32(8, true);
    const topK = view.getUint32(12, true);
    if (expectedVocabSize !== undefined && vocabSize !== expectedVocabSize) {
      fail(`vocabSize ${vocabSize} does not match the model's ${expectedVocabSize}`);
    }
    if (vocabSize < 1 || topK < 1 || topK > 64) fail(`invalid shape vocabSize = ${vocabSize}, topK = ${topK}`);
    const matrix = new RecyclingMatrix(vocabSize, topK);
    if (width !== matrix.ids.BYTES_PER_ELEMENT) fail(`id width ${width} bytes does not fit vocabSize ${vocabSize}`);
    if (bytes.length !== HEADER_BYTES + matrix.ids.byteLength) {
      fail(`length ${bytes.length} bytes, expected ${HEADER_BYTES + matrix.ids.byteLength}`);
    }
    const body = bytes.subarray(HEADER_BYTES);
    if (crc32(body) !== view.getUint32(16, true)) fail("checksum mismatch");
    new Uint8Array(matrix.ids.buffer).set(body);
    for (let i = 0; i < matrix.ids.length; i++) {
      const id = matrix.ids[i];
      if (id !== matrix.empty && id >= vocabSize) fail(`slot ${i} holds id ${id} outside [0, ${vocabSize})`);
    }
    return matrix;
  }
}
