#!/usr/bin/env bash
# Runs every test suite: the GPU service's pytest suite, then the TypeScript suites (vitest).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
venv=$(bash scripts/python-env.sh)

(cd gpu-service && "$venv/bin/python" -m pytest -q tests)
npx vitest run
