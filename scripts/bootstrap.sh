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
  "$py" -m pip install -q --disable-pip-version-check -e ".[test,engines,bench,science]"
  echo "$want" > "$stamp"
fi
# Native TorchScript operators (C++): built once into python/polmlip/lib, rebuilt when sources
# change (make is incremental). Without a compiler polmlip falls back to the PyTorch reference.
if [ "${POLMLIP_SKIP_BUILD:-0}" != "1" ]; then
  if command -v cmake >/dev/null && command -v c++ >/dev/null; then
    prefix="$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
    if [ ! -f build/CMakeCache.txt ] || [ CMakeLists.txt -nt build/CMakeCache.txt ]; then
      echo "[polmlip] configuring the native operators (cmake)"
      cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
        -DPython3_EXECUTABLE="$py" -DPOLMLIP_BUILD_OPS=ON -DPOLMLIP_BUILD_LAMMPS=ON \
        -DPOLMLIP_BUILD_OPENMM=ON -DPOLMLIP_BUILD_CUDA=ON >.cmake.log 2>&1 \
        || { echo "[polmlip] cmake configure failed (see .cmake.log); using the PyTorch fallback"; }
    fi
    if [ -f build/CMakeCache.txt ]; then
      cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >.build.log 2>&1 \
        && echo "[polmlip] native operators ready (python/polmlip/lib)" \
        || echo "[polmlip] native build failed (see .build.log); using the PyTorch fallback"
    fi
  else
    echo "[polmlip] cmake or a C++ compiler is missing: using the PyTorch fallback operators"
  fi
fi
