/** Creates the isolate's Speculator (the drafters of shared/speculation.ts) for the served model. */
import { Speculator } from "../../shared/speculation.ts";
import { loadCorpusShards } from "./corpus-assets.ts";
import type { EdgeEnv } from "./runtime.ts";

export type EdgeSpeculator = Speculator;

export async function createSpeculator(env: EdgeEnv, vocabSize: number): Promise<EdgeSpeculator> {
  let corpus: Awaited<ReturnType<typeof loadCorpusShards>> = [];
  try {
    corpus = await loadCorpusShards(env.ASSETS, vocabSize);
  } catch (error) {
    // A broken index only costs the corpus drafter's proposals, so the worker keeps serving.
    console.error(`Loading the corpus index failed; the corpus drafter is off: ${(error as Error).message}`);
  }
  return new Speculator({ vocabSize, corpus });
}
