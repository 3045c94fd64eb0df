/**
 * Durable Object that persists one model's drafter state (the token-recycling matrix and the
 * shared trie) so that a cold isolate starts warm. It stores bytes and nothing else: the
 * drafters serialise and parse their own state. One instance per model, named by model id.
 */
import { DurableObject } from "cloudflare:workers";
import { joinChunks, splitIntoChunks } from "./blob-chunks.ts";
import type { EdgeEnv } from "./runtime.ts";

export type StatePart = "recycling" | "trie";
export type StoredState = Partial<Record<StatePart, Uint8Array>>;

export class DrafterStateStore extends DurableObject<EdgeEnv> {
  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS blobs (part TEXT PRIMARY KEY, bytes INTEGER NOT NULL, saved_at INTEGER NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS chunks (part TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (part, idx))");
  }

  /** Returns every stored part; parts never saved are absent. */
  async load(): Promise<StoredState> {
    const sql = this.ctx.storage.sql;
    const state: StoredState = {};
    for (const row of sql.exec<{ part: string; bytes: number }>("SELECT part, bytes FROM blobs").toArray()) {
      const chunks = sql
        .exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE part = ? ORDER BY idx", row.part)
        .toArray()
        .map((chunk) => new Uint8Array(chunk.data));
      state[row.part as StatePart] = joinChunks(chunks, row.bytes);
    }
    return state;
  }

  /** Replaces the given parts atomically: a reader sees the old or the new blob, never a mix. */
  async save(state: StoredState): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const [part, blob] of Object.entries(state) as [StatePart, Uint8Array | undefined][]) {
        if (blob === undefined) continue;
        sql.exec("DELETE FROM chunks WHERE part = ?", part);
        splitIntoChunks(blob).forEach((chunk, idx) => sql.exec("INSERT INTO chunks (part, idx, data) VALUES (?, ?, ?)", part, idx, chunk));
        sql.exec("INSERT OR REPLACE INTO blobs (part, bytes, saved_at) VALUES (?, ?, ?)", part, blob.length, Date.now());
      }
    });
  }
}
