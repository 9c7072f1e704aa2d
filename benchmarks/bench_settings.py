"""Constants of the electrostatics benchmark: systems, accuracies, time and memory limits."""

from pathlib import Path

from polmlip import units

KE = units.COULOMB
SIGMA = 1.0  # Å, polmlip's default Gaussian width
DENSITY = 0.1  # sites / Å^3 (liquid water: 3 sites per 30 Å^3)
SIZES = [192, 1536, 3072, 6144, 12288, 24576]
QUICK_MAX_N = 3072
SLOPE_MIN_N = 1536
ACCURACY = 1e-5  # polmlip PME default
SPLINE_ORDER = 7  # polmlip PME default
EWALD_REF_MAX_N = 1536  # reference: polmlip Ewald 1e-9 up to here, PME 1e-9 order 8 above
EWALD_MAX_S = 20.0  # skip an Ewald case whose predicted time exceeds this
QUICK_EWALD_MAX_S = 5.0  # the same in --quick mode
FAST_CASE_S = 2.0  # cases with a faster warm-up get all repeats
CASE_BUDGET_S = 20.0  # slower cases get at most this many seconds of repeats (≥ 1 run)
MIN_WINDOW_S = 0.3  # fast cases get more calls (≤ MAX_FAST_CALLS) to fill this window
MAX_FAST_CALLS = 40
CONTENTION_CORES = 0.25  # other processes using more CPU than this while timing: re-time
CONTENTION_WAIT_S = 10.0  # pause before re-timing a contended case
CONTENTION_RETRIES = 3  # per case
CONTENTION_BUDGET_S = 300.0  # total pausing allowed in one run
TP_PME_NODES = 7
TP_P3M_NODES = 5
TP_START_SPACING = 0.4  # Å, coarsest torch-pme mesh tried
EWALD_BYTES_PER_PAIR = 64.0  # polmlip Ewald: autograd keeps (N, K) tables of every k-chunk
TP_MESH_BYTES_PER_POINT = 260.0  # measured peak memory of torch-pme PME/P3M energy+forces
TP_EWALD_BYTES_PER_PAIR = 90.0  # torch-pme Ewald keeps (k, i) cos/sin tables and grads
TP_EWALD_MAX_BYTES = 8 * 2**30  # stay a good neighbour on a shared machine
SLOPE_TARGET = 1.15
TITLE = "Electrostatics (charges only)"  # the "## " section of DOC this benchmark owns
DOC = Path("docs/benchmarks.md")  # relative to the working directory (the repository root)
MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**60)}
