/**
 * Splitting of large blobs into rows for Durable Object SQLite storage, which caps a row at about
 * 2 MB. Chunks are 1 MiB, so a row stays well under the cap with its key columns.
 */
export const CHUNK_BYTES = 1024 * 1024;

export function splitIntoChunks(blob: Uint8Array, chunkBytes = CHUNK_BYTES): Uint8Array[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new Error(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < blob.length; offset += chunkBytes) chunks.push(blob.subarray(offset, offset + chunkBytes));
  return chunks;
}

/** Concatenates chunks in order; `expectedBytes` guards against a lost or extra row. */
export function joinChunks(chunks: readonly Uint8Array[], expectedBytes: number): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  if (total !== expectedBytes) throw new Error(`stored chunks contain ${total} bytes, but the blob row records ${expectedBytes}`);
  const blob = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    blob.set(chunk, offset);
    offset += chunk.length;
  }
  return blob;
}
