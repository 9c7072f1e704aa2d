#!/usr/bin/env bash
# Create or reuse .venv/ in the repository root and install polmlip with everything the
# tests and the demo need. torch is pinned first so that no CUDA build is pulled in.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "[polmlip] creating virtual environment in .venv/"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
stamp="$venv/.polmlip-installed"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha1sum | cut -c1-40)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[polmlip] installing dependencies (torch 2.13.0 CPU first)"
  "$py" -m pip install -q --disable-pip-version-check --upgrade pip
  "$py" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  "$py" -m pip install -q --disable-pip-version-check -e ".[test,engines,bench]"
  echo "$want" > "$stamp"
fi
