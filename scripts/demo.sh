#!/usr/bin/env bash
# Set up .venv/ if needed, then run the main demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec "$root/.venv/bin/python" examples/demo.py "$@"
