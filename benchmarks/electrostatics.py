"""Electrostatics benchmark, charges only: polmlip versus torch-pme at equal accuracy.

Run from the repository root::

    python benchmarks/electrostatics.py                                 # full run, updates docs
    python benchmarks/electrostatics.py --quick --no-write --repeats 1  # smoke test

What is computed
----------------
polmlip's default (smeared) mode treats every site as a Gaussian of width σ (pair kernel
erf(r/(√2σ))/r). In a periodic cell its energy is a reciprocal-space sum only::

    E = (2π k_e/V) Σ_{k≠0} exp(−σ²k²/2)/k² |S(k)|²  −  k_e/(√(2π) σ) Σ_i q_i²

which is exactly the reciprocal-space part (plus self term) of point-charge Ewald with the
splitting parameter η = 1/(√2 σ).

torch-pme and polmlip, term by term (torch-pme 0.5, ``torchpme/potentials/coulomb.py`` and
``torchpme/calculators/*.py``):

* ``CoulombPotential(smearing=s).lr_from_k_sq(k²) = 4π exp(−s²k²/2)/k²`` and
  ``lr_from_dist(r) = erf(r/(√2 s))/r``: torch-pme's ``smearing`` *is* polmlip's σ (the
  Gaussian convention exp(−σ²k²/2), no extra √2).
* The calculators return per-site potentials V_i = ½ [(real-space sum over the *given*
  neighbour list) + (k-space sum) − 2 q_i/(√(2π) s) (self) − 2π s² Q/V (background,
  Q = Σq)], times ``prefactor`` (= k_e here); the energy is Σ_i q_i V_i.
* With an EMPTY neighbour list (``neighbor_indices`` of shape (0, 2)) the real-space part
  vanishes and only the Gaussian-smeared long-range part is left. The self terms agree
  (−k_e q²/(√(2π) σ) per site), so

      Σ_i q_i V_i(torch-pme, smearing=σ, prefactor=k_e, no neighbours)
          = E_polmlip(σ) − π k_e σ² Q² / V,

  identical for neutral cells. For charged cells torch-pme adds the point-charge Ewald
  background correction −π k_e Q²/(2Vη²) = −π k_e σ² Q²/V, which polmlip's smeared mode
  leaves out (the k = 0 term is simply absent). ``bench_runners.correspondence_check``
  verifies both cases numerically (to ~1e-12 relative) on every run.

torch-pme settings: ``smearing = σ`` (fixed: it defines the quantity), ``prefactor = k_e``.
``PMECalculator`` uses Lagrange interpolation without deconvolution and ``P3MCalculator``
P3M assignment with a 1/U² influence function; both round the mesh up to a power of two
(``torchpme.lib.get_ns_mesh``). Per N we walk the power-of-two meshes upward (from the
first with spacing ≤ 0.4 Å) with the most accurate interpolation each offers (PME 7 nodes,
P3M 5 nodes; lower orders need finer meshes for the same error) and take the first mesh
whose relative force-RMS error is ≤ polmlip PME's ("strict" equal accuracy). A power-of-two
step changes the error by 10-100x, so the last mesh that failed is timed as well, and every
torch-pme row is also compared with polmlip PME re-run at an accuracy giving no larger an
error ("matched"). ``EwaldCalculator``'s ``lr_wavelength`` is lowered in steps of 10% until
the strict criterion holds.

Memory allocator: large tensors are allocated and freed on every call. With glibc's
defaults these are fresh ``mmap`` regions, and on virtual machines that hand freed pages
back to the host the page faults can cost 10-50x the arithmetic. The script therefore
re-executes itself with ``MALLOC_MMAP_MAX_=0`` and a huge ``MALLOC_TRIM_THRESHOLD_`` (freed
memory stays in the process, as in a long MD run with a caching allocator), identically for
both libraries; ``--system-malloc`` keeps the defaults. One default-allocator timing is
reported for comparison.

Modules (all in benchmarks/): ``bench_settings`` (constants), ``bench_systems`` (water boxes,
machine facts), ``bench_runners`` (runners, timing, errors), ``bench_cases`` (the cases per
N), ``bench_profile`` (per-stage timing), ``bench_tables``, ``bench_verdicts`` and
``bench_doc`` (the report). This file parses arguments, runs them in order and prints/writes.
"""

import argparse
import datetime
import os
import pathlib
import shlex
import sys
import time

import torch
from tqdm import tqdm

from polmlip.electrostatics import MultipoleElectrostatics

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_cases import STEPS_PER_SIZE, Bench  # noqa: E402
from bench_doc import doc_section  # noqa: E402
from bench_profile import profile_pme, system_malloc_time  # noqa: E402
from bench_runners import correspondence_check, interleaved, polmlip_runner  # noqa: E402
from bench_settings import (  # noqa: E402
    ACCURACY,
    DOC,
    MALLOC_ENV,
    QUICK_MAX_N,
    SIGMA,
    SIZES,
    SLOPE_MIN_N,
    SLOPE_TARGET,
    SPLINE_ORDER,
    TITLE,
)
from bench_systems import loadavg, machine_info, water_box  # noqa: E402
from bench_tables import matched_table, profile_lines, results_table, summary_table  # noqa: E402
from bench_verdicts import loglog_slope, verdicts  # noqa: E402
from report import replace_section  # noqa: E402


def parse_args(argv):
    """Command-line options; ``repeats`` is at least 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only N ≤ {QUICK_MAX_N}, shorter Ewald limit (smoke test)",
    )
    parser.add_argument("--max-n", type=int, default=max(SIZES), help="largest N to run")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after a warm-up")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {DOC}")
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="keep glibc's default allocator settings (see module doc)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: leave torch's default)",
    )
    args = parser.parse_args(argv)
    args.repeats = max(1, args.repeats)
    max_n = min(args.max_n, QUICK_MAX_N) if args.quick else args.max_n
    args.sizes = [n for n in SIZES if n <= max_n]
    if not args.sizes:
        parser.error(f"no size ≤ {max_n} in {SIZES}")
    return args


def print_checks(checks):
    """The torch-pme ↔ polmlip correspondence check, one line per charge set."""
    print("torch-pme (empty neighbour list, smearing=σ, prefactor=k_e) vs polmlip Ewald:")
    for c in checks:
        print(
            f"  {c['label']:20s} polmlip {c['ours']:.10f} eV  torch-pme {c['tp']:.10f} eV  "
            f"diff {c['diff']:+.3e}  −πk_eσ²Q²/V {c['background']:+.3e}  "
            f"rel. residual {c['residual']:.1e}"
        )


def scaling_slopes(summary):
    """N values of the fit and log-log slopes of PME time: (medians, minima), float32 medians."""
    slope_ns = [n for n in summary if n >= SLOPE_MIN_N]
    slope = (
        loglog_slope([(n, summary[n]["pme"]["t"]) for n in slope_ns]),
        loglog_slope([(n, summary[n]["pme"]["t_min"]) for n in slope_ns]),
    )
    slope32 = loglog_slope([(n, summary[n]["pme32"]["t"]) for n in slope_ns])
    if len(slope_ns) < 2:
        slope, slope32 = (float("nan"), float("nan")), float("nan")
    return slope_ns, slope, slope32


def scaling_pass(ns, rounds):
    """polmlip PME at every N of the fit, timed round-robin (``rounds`` calls each).

    The per-N cases above run minutes apart, so a busy spell of a shared machine can bend
    the fit; interleaving exposes every N to the same conditions. None if fewer than 2 N.
    """
    if len(ns) < 2:
        return None
    runs = {}
    for n in ns:
        pos, cell, q = water_box(n)
        solver = MultipoleElectrostatics(sigma=SIGMA, accuracy=ACCURACY, spline_order=SPLINE_ORDER)
        runs[n] = polmlip_runner(solver, pos, cell, q)
    res, other = interleaved(runs, rounds)
    return dict(
        ns=list(ns),
        rounds=rounds,
        other=other,
        t={n: res[n]["t"] for n in ns},
        t_min={n: res[n]["t_min"] for n in ns},
        slope=loglog_slope([(n, res[n]["t"]) for n in ns]),
        slope_min=loglog_slope([(n, res[n]["t_min"]) for n in ns]),
    )


def print_report(tables, slope, slope32, verdict, notes, elapsed):
    """The tables, slopes, profile, verdicts and notes on stdout."""
    print()
    for block in tables[:3]:
        print("\n".join(block))
        print()
    print(
        f"log-log slope of polmlip PME time vs N (N ≥ {SLOPE_MIN_N}, interleaved pass where "
        f"run): {slope[0]:.3f} (minima {slope[1]:.3f}, float32 table {slope32:.3f}); "
        f"target ≤ {SLOPE_TARGET}"
    )
    print()
    print("\n".join(tables[3]))
    print()
    print("\n".join(verdict))
    for note in notes:
        print("note:", note)
    print(f"total {elapsed:.0f} s")


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sizes = args.sizes
    shown = list(argv if argv is not None else sys.argv[1:])
    command = shlex.join(["python", "benchmarks/electrostatics.py", *shown])
    tuned = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    malloc_note = (
        "glibc malloc kept freed memory in the process (`MALLOC_MMAP_MAX_=0`, large "
        "`MALLOC_TRIM_THRESHOLD_`; see the script's docstring)."
        if tuned
        else "glibc malloc with default settings."
    )
    info = machine_info()
    info["threads_note"] = "torch's default" if args.threads is None else "set by --threads"
    load0 = loadavg()
    if load0 > (os.cpu_count() or 1) - 0.5:
        print(
            f"warning: load average {load0:.1f} on {os.cpu_count()} cores; other processes "
            f"compete with torch's {torch.get_num_threads()} threads and the timings will "
            f"be inflated (OpenMP regions wait for descheduled threads)",
            file=sys.stderr,
        )
    started = time.perf_counter()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

    checks = correspondence_check()
    print_checks(checks)

    bar = tqdm(total=len(sizes) * STEPS_PER_SIZE + 1, desc="electrostatics", file=sys.stderr)
    bench = Bench(args, bar)
    for n in sizes:
        bench.run_size(n)
    bar.set_postfix_str(f"N={sizes[-1]} profile")
    prof = profile_pme(*water_box(sizes[-1]), args.repeats)
    small = [n for n in sizes if n >= SLOPE_MIN_N]
    prof_small = None
    if small and small[0] != sizes[-1]:
        prof_small = profile_pme(*water_box(small[0]), max(args.repeats, 5))
    sysmalloc = system_malloc_time(sizes[-1], args.repeats) if tuned else None
    bench.scaling = scaling_pass(small, max(3, 2 * args.repeats - 1))
    bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - started
    load1 = loadavg()

    slope_ns, slope, slope32 = scaling_slopes(bench.summary)
    scal = bench.scaling
    if scal is not None:  # the interleaved pass is the headline fit (see scaling_pass)
        slope_ns, slope = scal["ns"], (scal["slope"], scal["slope_min"])
    tables = (
        results_table(bench.rows),
        summary_table(bench.summary),
        matched_table(bench.summary),
        profile_lines(prof, sysmalloc, prof_small),
    )
    times = None if scal is None else scal["t"]
    verdict = verdicts(bench.summary, slope[0], slope_ns, prof, prof_small, slope[1], times)
    print_report(tables, slope, slope32, verdict, bench.notes, elapsed)

    if not args.no_write:
        body = doc_section(
            command,
            date,
            elapsed,
            info,
            (load0, load1),
            checks,
            bench,
            tables,
            slope,
            slope32,
            verdict,
            malloc_note,
        )
        replace_section(DOC, TITLE, body)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    if "--system-malloc" not in sys.argv and any(
        os.environ.get(k) != v for k, v in MALLOC_ENV.items()
    ):
        # glibc reads these at start-up only: re-execute with them (see module doc).
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    sys.exit(main())
