/**
 * Loads the corpus suffix-array index shards from the worker's static assets. scripts/build-index.ts
 * writes `corpus/manifest.json` ({"shards": [{"file": "corpus-000.essx", ...}, ...]}) and the shard
 * files beside it.
 * Without a manifest the corpus drafter stays off and decoding is unchanged.
 */
import { parseSuffixIndex } from "../../shared/suffix-index/format.ts";
import type { SuffixIndex } from "../../shared/suffix-index/suffix-index.ts";

const MANIFEST_PATH = "/corpus/manifest.json";

export async function loadCorpusShards(assets: Fetcher, vocabSize: number): Promise<SuffixIndex[]> {
  const manifestResponse = await assets.fetch(new Request(`http://assets${MANIFEST_PATH}`));
  if (manifestResponse.status === 404) {
    console.warn(`No corpus index at ${MANIFEST_PATH}; the corpus drafter is off. Run scripts/setup.sh to build it.`);
    return [];
  }
  if (!manifestResponse.ok) throw new Error(`Reading ${MANIFEST_PATH} failed with status ${manifestResponse.status}`);
  const manifest = (await manifestResponse.json()) as { shards?: { file?: unknown }[] };
  const files = Array.isArray(manifest.shards) ? manifest.shards.map((shard) => shard?.file) : [];
  if (files.length === 0 || !files.every((file) => typeof file === "string" && /^[\w.-]+$/.test(file))) {
    throw new Error(`${MANIFEST_PATH} must be {"shards": [{"file": "<file name>"}, ...]}, got ${JSON.stringify(manifest).slice(0, 160)}`);
  }

  const shards: SuffixIndex[] = [];
  for (const file of files as string[]) {
    const response = await assets.fetch(new Request(`http://assets/corpus/${file}`));
    if (!response.ok) throw new Error(`Reading corpus shard ${file} failed with status ${response.status}`);
    const shard = parseSuffixIndex(new Uint8Array(await response.arrayBuffer()), file);
    if (shard.vocabSize !== vocabSize) {
      throw new Error(`Corpus shard ${file} was built for a vocabulary of ${shard.vocabSize} tokens, the model has ${vocabSize}; rebuild the index.`);
    }
    shards.push(shard);
  }
  console.log(`Loaded ${shards.length} corpus index shards (${shards.reduce((sum, shard) => sum + shard.tokens.length, 0)} tokens).`);
  return shards;
}
