/**
 * The binary file format of one corpus index shard, shipped as a worker asset.
 *
 * All integers little-endian. Layout:
 *
 *     offset  size  field
 *     0       4     magic "ESSX" (bytes 45 53 53 58)
 *     4       2     format version (1)
 *     6       1     token width in bytes: 2 (vocabSize ≤ 65536) or 4
 *     7       1     reserved, 0
 *     8       4     vocabSize
 *     12      4     token count n
 *     16      4     CRC-32 of every byte after the header
 *     20      12    reserved, 0
 *     32      w·n   tokens
 *     ...     0-2   zero padding to a multiple of 4
 *     ...     4·n   suffix array (u32 ranks → positions)
 *
 * A shard must stay ≤ 25 MiB, the asset limit of Cloudflare Workers: about 4.3M tokens at width 2.
 */

import { crc32 } from "../crc32.ts";
import { DraftInputError } from "../drafters/errors.ts";
import { SuffixIndex } from "./suffix-index.ts";

const MAGIC = 0x58535345; // "ESSX" read as a little-endian uint32
export const INDEX_FORMAT_VERSION = 1;
export const INDEX_HEADER_BYTES = 32;
/** Largest shard file, in bytes: the Workers static asset limit. */
export const MAX_SHARD_BYTES = 25 * 1024 * 1024;

function paddedTokenBytes(width: number, count: number): number {
  return Math.ceil((width * count) / 4) * 4;
}

/** Returns the most tokens one shard of this vocabulary can hold within MAX_SHARD_BYTES. */
export function maxTokensPerShard(vocabSize: number): number {
  const width = vocabSize <= 0x10000 ? 2 : 4;
  return Math.floor((MAX_SHARD_BYTES - INDEX_HEADER_BYTES - 4) / (width + 4));
}

export function serializeSuffixIndex(index: SuffixIndex): Uint8Array {
  const n = index.length;
  const width = index.tokens.BYTES_PER_ELEMENT;
  const saOffset = INDEX_HEADER_BYTES + paddedTokenBytes(width, n);
  const out = new Uint8Array(saOffset + 4 * n);
  out.set(new Uint8Array(index.tokens.buffer, index.tokens.byteOffset, index.tokens.byteLength), INDEX_HEADER_BYTES);
  out.set(new Uint8Array(index.sa.buffer, index.sa.byteOffset, index.sa.byteLength), saOffset);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, INDEX_FORMAT_VERSION, true);
  view.setUint8(6, width);
  view.setUint32(8, index.vocabSize, true);
  view.setUint32(12, n, true);
  view.setUint32(16, crc32(out.subarray(INDEX_HEADER_BYTES)), true);
  return out;
}

/**
 * Parses and validates one shard: header fields, exact length, checksum, token ids below vocabSize
 * and a suffix array that is a permutation of [0, n). Throws `corrupt_index` naming the first
 * problem. Copies the arrays only when `bytes` is not 4-byte aligned. O(n).
 */
export function parseSuffixIndex(bytes: Uint8Array, name = "index"): SuffixIndex {
  const fail = (why: string): never => {
    throw new DraftInputError("corrupt_index", `${name}: ${why}`);
  };
  if (bytes.length < INDEX_HEADER_BYTES) fail(`${bytes.length} bytes is shorter than the ${INDEX_HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) fail("bad magic, not an edgespec suffix index");
  const version = view.getUint16(4, true);
  if (version !== INDEX_FORMAT_VERSION) fail(`unsupported version ${version}, expected ${INDEX_FORMAT_VERSION}`);
  const width = view.getUint8(6);
  const vocabSize = view.getUint32(8, true);
  const n = view.getUint32(12, true);
  const expectedWidth = vocabSize <= 0x10000 ? 2 : 4;
  if (vocabSize < 1 || width !== expectedWidth) fail(`token width ${width} bytes does not fit vocabSize ${vocabSize}`);
  const saOffset = INDEX_HEADER_BYTES + paddedTokenBytes(width, n);
  if (bytes.length !== saOffset + 4 * n) fail(`length ${bytes.length} bytes, expected ${saOffset + 4 * n} for ${n} tokens (truncated?)`);
  if (crc32(bytes.subarray(INDEX_HEADER_BYTES)) !== view.getUint32(16, true)) fail("checksum mismatch");

  const aligned = bytes.byteOffset % 4 === 0;
  const source = aligned ? bytes : bytes.slice();
  const tokens =
    width === 2
      ? new Uint16Array(source.buffer, source.byteOffset + INDEX_HEADER_BYTES, n)
      : new Uint32Array(source.buffer, source.byteOffset + INDEX_HEADER_BYTES, n);
  const sa = new Uint32Array(source.buffer, source.byteOffset + saOffset, n);
  for (let i = 0; i < n; i++) if (tokens[i] >= vocabSize) fail(`token ${i} = ${tokens[i]} is outside [0, ${vocabSize})`);
  const seen = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    const position = sa[r];
    if (position >= n || seen[position]) fail(`suffix array entry ${r} = ${position} is out of range or repeated`);
    seen[position] = 1;
  }
  return new SuffixIndex(vocabSize, tokens, sa);
}
