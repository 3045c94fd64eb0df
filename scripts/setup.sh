#!/usr/bin/env bash
# Installs what the project needs, idempotently and quickly when nothing changed:
# the npm packages pinned in package-lock.json, the Python virtualenv for gpu-service/, and the
# corpus suffix-array index that the worker ships as a static asset.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

lock_hash=$(sha256sum package-lock.json | cut -c1-16)
stamp=node_modules/.edgespec-lock-hash
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_hash" ]]; then
  echo "Installing npm packages from package-lock.json." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_hash" > "$stamp"
fi

venv=$(bash scripts/python-env.sh)

# The corpus index: the Python standard library's training split, tokenized with the embedded
# model's tokenizer (about 3M tokens, one 17 MiB shard, about 10 s to build).
corpus_dir=workers/assets/corpus
if [[ ! -f "$corpus_dir/manifest.json" ]]; then
  echo "Building the corpus index into $corpus_dir." >&2
  scratch=$(mktemp -d "$root/workers/.corpus-build-XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  "$venv/bin/python" scripts/model/corpus.py --sources stdlib --split train --out "$scratch/stdlib.txt" >&2
  node --import tsx scripts/build-index.ts --out "$scratch/corpus" --tokenizer models/edgespec-tiny "$scratch/stdlib.txt" >&2
  # Moved into place only when complete, so an interrupted build is redone next time.
  rm -rf "$corpus_dir"
  mv "$scratch/corpus" "$corpus_dir"
fi
