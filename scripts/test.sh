#!/usr/bin/env bash
# Runs every check: set-up, the TypeScript type check (Node-side code and the workers), the GPU
# service's pytest suite, the model and tokenizer scripts' pytest suite, then the TypeScript suites (vitest: unit tests, then end-to-end tests
# against the real GPU service and the worker in workerd).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
venv=$(bash scripts/python-env.sh)

npm run --silent typecheck
(cd gpu-service && "$venv/bin/python" -m pytest -q tests)
"$venv/bin/python" -m pytest -q scripts/model/tests
npx vitest run
