#!/usr/bin/env bash
# GPU check of polmlip, one command from the repository root on a node with one NVIDIA GPU:
#
#   bash benchmarks/gpu_check.sh
#
# 1. installs the wheels carried in .gpu-wheels/ (scripts/gpu_wheels.sh downloads them) into
#    build-gpu/site (pip --target, no index, no dependencies; torch, e3nn, numpy, scipy of the
#    node are used as they are);
# 2. builds the native operators (libpolmlip_ops with the CUDA mesh kernels) against the
#    node's torch in build-gpu/cmake and points polmlip at them (POLMLIP_OPS_LIBRARY);
# 3. runs benchmarks/gpu_check.py in separate steps, each under its own timeout: CUDA against
#    CPU through the exported engine module (float64, tolerance 1e-8), OpenMM's GPU platforms,
#    float32 timings at ~12k and ~100k atoms; then prints the table and writes the section
#    "## GPU check" of docs/benchmarks.md.
#
# Without a CUDA GPU it prints one line and exits 0. It exits non-zero only when a comparison
# fails its tolerance. Everything it writes lies in build-gpu/ (logs, results/*.json, the
# section as gpu_check_section.md) and docs/benchmarks.md; when $OUT is set (a device runner's
# output folder) these are copied there too. To rewrite the section here from returned results:
#   python benchmarks/gpu_check.py --part report --results DIR --doc docs/benchmarks.md
#
# Environment: PYTHON (interpreter, default python3), GPU_CHECK_BUDGET_S (whole run, 450 s),
# GPU_CHECK_BUILD_S (most seconds for compiling the operators, 210).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
T0=$(date +%s)
export GPU_CHECK_T0="$T0"
BUDGET_S="${GPU_CHECK_BUDGET_S:-450}"

log() { printf '[gpu_check %s +%4ds] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - T0))" "$*"; }
# seconds for a step: at most $1, and leave $2 seconds of the budget for the steps after it
budget() {
  local left=$((BUDGET_S - ($(date +%s) - T0) - $2))
  if [ "$left" -lt "$1" ]; then echo $((left > 10 ? left : 10)); else echo "$1"; fi
}

# GPU_CHECK_SELFTEST=1 (development): every step runs without a GPU, the parts on the CPU with
# small systems (CPU against CPU), and the section goes to build-gpu/benchmarks.md
SELFTEST="${GPU_CHECK_SELFTEST:-0}"
PART_ARGS=()
DOC=docs/benchmarks.md
if [ "$SELFTEST" = 1 ]; then
  PART_ARGS=(--device cpu --small)
  DOC=build-gpu/benchmarks.md
  cuda=True
else
  cuda="$(timeout 120 "$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null | tail -n 1)"
fi
if [ "$cuda" != "True" ]; then
  if [ "$cuda" = "False" ]; then
    echo "no CUDA GPU here (torch.cuda.is_available() is False): GPU check skipped"
  else
    echo "no CUDA GPU here (torch cannot be imported by $PY): GPU check skipped"
  fi
  exit 0
fi

W=build-gpu
R="$W/results"
# a fresh start, except the CMake build folder: a second run on the same node rebuilds nothing
rm -rf "$W/site" "$W/lib" "$R" "$W"/*.log "$W"/*.md
mkdir -p "$W/site" "$W/lib" "$R"
STATUS="$R/status.txt"
note() { printf '%s=%s\n' "$1" "$2" >>"$STATUS"; }
note started "$(date -u '+%Y-%m-%d %H:%M UTC')"
note gpu "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
log "CUDA GPU found: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"

# ---- 1. carried wheels ----
wheels=(.gpu-wheels/*.whl)
if [ -e "${wheels[0]}" ]; then
  log "installing ${#wheels[@]} carried wheel(s) into $W/site"
  core=() omm=()
  for w in "${wheels[@]}"; do
    case "$(basename "$w")" in
      openmm* | OpenMM*) omm+=("$w") ;;
      *) core+=("$w") ;;
    esac
  done
  # two pip calls: OpenMM's wheels (cp312 only) share OpenMM.libs/, so they go in together,
  # and a refused OpenMM wheel does not cost ASE and vesin
  for group in core omm; do
    declare -n list="$group"
    [ "${#list[@]}" -eq 0 ] && continue
    if timeout "$(budget 60 390)" "$PY" -m pip install -q --no-index --no-deps \
      --disable-pip-version-check --target "$W/site" "${list[@]}" >>"$W/pip.log" 2>&1; then
      note "wheels_$group" "pip: $(basename -a "${list[@]}" | tr '\n' ' ')"
    elif [ "$group" = core ]; then
      # no pip on the node: these two wheels need nothing but unpacking
      log "pip failed (see $W/pip.log); unpacking ${list[*]} with zipfile"
      "$PY" -c 'import sys, zipfile
for w in sys.argv[2:]:
    zipfile.ZipFile(w).extractall(sys.argv[1])' "$W/site" "${list[@]}" \
        && note "wheels_$group" "unzipped: $(basename -a "${list[@]}" | tr '\n' ' ')" \
        || note "wheels_$group" "FAILED"
    else
      log "OpenMM wheels not installed (see $W/pip.log)"
      note "wheels_$group" "FAILED (pip, see pip.log): $(tail -n 1 "$W/pip.log")"
    fi
    unset -n list
  done
  # OpenMM's CUDA plugin finds cuFFT and NVRTC at $ORIGIN/../../../nvidia/cu13/lib, where a
  # normal install puts them: link the node's nvidia/ (torch's CUDA libraries) beside it
  nv="$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia"))' 2>/dev/null)"
  if [ -d "$W/site/OpenMM.libs" ] && [ -n "$nv" ] && [ -d "$nv" ] && [ ! -e "$W/site/nvidia" ]; then
    ln -s "$nv" "$W/site/nvidia"
  fi
else
  log "no wheels in .gpu-wheels/ (scripts/gpu_wheels.sh downloads them): using what the node has"
  note wheels_core "none carried"
fi
export PYTHONPATH="$root/python:$root/$W/site${PYTHONPATH:+:$PYTHONPATH}"
# what the check imports of polmlip, and the third-party packages behind it
imports="$(POLMLIP_DISABLE_OPS=1 timeout 120 "$PY" -c 'import polmlip.export.io, polmlip.model
import polmlip.data.graph, polmlip.qmdata.structures, polmlip.export.adapter, ase, vesin
print("ok: ase", ase.__version__, "vesin", vesin.__version__)' 2>&1 | tail -n 1)"
log "imports: $imports"
note imports "$imports"

# ---- 2. native operators ----
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
note nvcc "$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | head -n 1)"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
prefix="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
log "configuring libpolmlip_ops (CUDA architecture 90) in $W/cmake"
b0=$(date +%s)
timeout "$(budget 90 330)" cmake -S . -B "$W/cmake" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$("$PY" -c 'import sys; print(sys.executable)')" \
  -DPOLMLIP_BUILD_OPS=ON -DPOLMLIP_BUILD_CUDA=ON -DPOLMLIP_BUILD_LAMMPS=OFF \
  -DPOLMLIP_BUILD_OPENMM=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >"$W/cmake.log" 2>&1
rc=$?
note cmake_rc "$rc"
if [ "$rc" -eq 0 ]; then
  grep -q "CUDA mesh kernels enabled" "$W/cmake.log" && note cuda_kernels yes || note cuda_kernels no
  log "building libpolmlip_ops ($(nproc) jobs)"
  timeout "$(budget "${GPU_CHECK_BUILD_S:-210}" 210)" cmake --build "$W/cmake" \
    --target polmlip_ops -j "$(nproc)" >"$W/build.log" 2>&1
  rc=$?
  note build_rc "$rc"
else
  log "cmake configure failed (rc $rc), last lines of $W/cmake.log:"
  tail -n 15 "$W/cmake.log"
fi
note build_s "$(($(date +%s) - b0))"
if [ "$rc" -eq 0 ] && [ -f python/polmlip/lib/libpolmlip_ops.so ]; then
  cp python/polmlip/lib/libpolmlip_ops.so "$W/lib/"
  export POLMLIP_OPS_LIBRARY="$root/$W/lib/libpolmlip_ops.so"
  note ops "native"
  log "native operators built in $(($(date +%s) - b0)) s"
else
  if [ -f "$W/build.log" ]; then
    log "build failed (rc $rc$([ "$rc" -eq 124 ] && echo ', timed out')), last lines of $W/build.log:"
    tail -n 15 "$W/build.log"
  fi
  log "continuing with the PyTorch reference operators (POLMLIP_DISABLE_OPS=1)"
  export POLMLIP_DISABLE_OPS=1
  note ops "reference (native build failed)"
fi

# ---- 3. checks, each in its own process and timeout ----
run_part() { # name, max seconds, seconds to leave for later steps, extra env...
  local part="$1" max="$2" reserve="$3" t
  shift 3
  t="$(budget "$max" "$reserve")"
  log "part '$part' (timeout $t s)"
  env "$@" GPU_CHECK_DEADLINE=$(($(date +%s) + t - 5)) timeout -k 10 "$t" \
    "$PY" benchmarks/gpu_check.py --part "$part" --results "$R" "${PART_ARGS[@]}"
  local rc=$?
  note "${part}_rc" "$rc"
  [ "$rc" -eq 0 ] || log "part '$part' ended with rc $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')"
}
run_part compare 150 110
ld="${LD_LIBRARY_PATH:-}"
[ -d "$W/site/nvidia/cu13/lib" ] && ld="$root/$W/site/nvidia/cu13/lib${ld:+:$ld}"
run_part openmm 40 80 LD_LIBRARY_PATH="$ld"
run_part timing 140 10

# ---- 4. report ----
log "report"
"$PY" benchmarks/gpu_check.py --part report --results "$R" --doc "$DOC" \
  --section-file "$W/gpu_check_section.md"
rc=$?
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  mkdir -p "$OUT/gpu_check"
  cp -r "$R" "$W"/*.log "$W/gpu_check_section.md" "$DOC" "$OUT/gpu_check/" 2>/dev/null
  log "results copied to \$OUT/gpu_check"
fi
log "done in $(($(date +%s) - T0)) s, exit $rc"
exit "$rc"
