/** Creates the isolate's Speculator (the drafters of shared/speculation.ts) for the served model. */
import { Speculator } from "../../shared/speculation.ts";
import type { EdgeEnv } from "./runtime.ts";

export type EdgeSpeculator = Speculator;

export async function createSpeculator(_env: EdgeEnv, vocabSize: number): Promise<EdgeSpeculator> {
  return new Speculator({ vocabSize });
}
