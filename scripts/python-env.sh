#!/usr/bin/env bash
# Prints the path of the project's Python virtualenv, creating it first when it is missing.
#
# The virtualenv lives outside the checkout, keyed by a hash of gpu-service/requirements.txt, so a
# fresh clone (CI clones into a new folder every run) reuses the multi-gigabyte PyTorch install
# instead of rebuilding it. A virtualenv counts as ready only once its ".complete" stamp exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/gpu-service/requirements.txt"
hash=$(sha256sum "$requirements" | cut -c1-12)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/edgespec/venv-$hash"

if [[ ! -f "$venv/.complete" ]]; then
  echo "Creating the Python virtualenv at $venv (PyTorch is large: this takes a few minutes once)." >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$venv"
