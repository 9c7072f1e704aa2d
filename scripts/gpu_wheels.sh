#!/usr/bin/env bash
# Download, on a machine with network, the few wheels that benchmarks/gpu_check.sh installs
# on a GPU node that has none: ASE and vesin (polmlip needs both: ASE for ModelConfig and the
# export's probe frames, vesin for the neighbour lists), and OpenMM 8.6.1 with its CUDA-13
# platform plugin (optional: the check only tells whether OpenMM's CUDA/OpenCL platform loads).
#
#   bash scripts/gpu_wheels.sh            # into .gpu-wheels/ (git-ignored, ~20 MB)
#
# The node runs CPython 3.12 on x86_64 Linux; the wheels are chosen for it whatever the
# Python here. ASE and vesin get the versions of the project's .venv when it has them (the
# ones the tests ran with). Carry .gpu-wheels/ to the node with the project files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dest="${GPU_WHEELS_DIR:-.gpu-wheels}"
if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -x .venv/bin/python ]; then
  py=.venv/bin/python
else
  py=python3
fi
openmm_version="${OPENMM_VERSION:-8.6.1}"

# "pkg==version" when this environment has pkg installed, else "pkg"
pinned() {
  "$py" - "$1" <<'EOF'
import importlib.metadata as md
import sys

try:
    print(f"{sys.argv[1]}=={md.version(sys.argv[1])}")
except md.PackageNotFoundError:
    print(sys.argv[1])
EOF
}

target=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64)
mkdir -p "$dest"
rm -f "$dest"/*.whl
echo "[gpu_wheels] downloading into $dest/ for CPython 3.12, manylinux x86_64"
"$py" -m pip download -q --disable-pip-version-check "${target[@]}" -d "$dest" \
  "$(pinned ase)" "$(pinned vesin)"
# OpenMM's CUDA platform is a separate wheel since 8.2 (OpenMM-CUDA-13 for CUDA 13); both are
# optional for the check, so a failed download only warns.
"$py" -m pip download -q --disable-pip-version-check "${target[@]}" -d "$dest" \
  "openmm==$openmm_version" "OpenMM-CUDA-13==$openmm_version" \
  || echo "[gpu_wheels] warning: OpenMM $openmm_version wheels not downloaded (the check skips OpenMM)"
ls -l "$dest"
du -sh "$dest"
