#!/usr/bin/env bash
# Installs what the project needs, idempotently and quickly when nothing changed:
# the npm packages pinned in package-lock.json and the Python virtualenv for gpu-service/.
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

bash scripts/python-env.sh > /dev/null
