"""The text of the section "## Electrostatics (charges only)" of docs/benchmarks.md.

:func:`doc_section` returns the section body (without its ``##`` heading), ready for
``report.replace_section``.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_runners import paused_seconds  # noqa: E402
from bench_settings import (  # noqa: E402
    CASE_BUDGET_S,
    CONTENTION_CORES,
    CONTENTION_RETRIES,
    CONTENTION_WAIT_S,
    FAST_CASE_S,
    KE,
    MAX_FAST_CALLS,
    MIN_WINDOW_S,
    SIGMA,
    SLOPE_MIN_N,
    TP_P3M_NODES,
    TP_PME_NODES,
    TP_START_SPACING,
)
from bench_tables import secs  # noqa: E402
from bench_verdicts import loglog_slope  # noqa: E402

OPS_NOTE = {
    "native": "C++ kernels of libpolmlip_ops",
    "reference": "pure-PyTorch reference, native library not loaded",
}


def scaling_lines(bench, slope, slope32):
    """The slope paragraph: the interleaved pass (headline) and the fit over the table."""
    scal = bench.scaling
    table = [
        (n, s["pme"]["t"], s["pme"]["t_min"]) for n, s in bench.summary.items() if n >= SLOPE_MIN_N
    ]
    fit = loglog_slope([(n, t) for n, t, _ in table]) if len(table) >= 2 else float("nan")
    if scal is None:
        return [
            f"Log–log slope of polmlip PME time vs N for N ≥ {SLOPE_MIN_N} (least squares over "
            f"the medians): **{slope[0]:.3f}** (over the minima: {slope[1]:.3f}; float32 "
            f"medians: {slope32:.3f})."
        ]
    times = ", ".join(f"{n}: {secs(scal['t'][n])}" for n in scal["ns"])
    return [
        f"Scaling pass: polmlip PME (float64, default settings) at N = "
        f"{', '.join(str(n) for n in scal['ns'])} timed round-robin, {scal['rounds']} calls "
        f"each, so that every N sees the same machine conditions (other CPU "
        f"{scal['other']:.2f} cores); medians [s]: {times}. Log–log slope (least squares): "
        f"**{slope[0]:.3f}** over the medians, {slope[1]:.3f} over the minima. The same fit "
        f"over the per-N cases of the table above, which ran minutes apart: {fit:.3f} "
        f"(float32: {slope32:.3f})."
    ]


def doc_section(
    command, date, elapsed, info, load, checks, bench, tables, slope, slope32, verdict, malloc_note
):
    """Section body: run facts, method, correspondence check, tables, notes and verdicts.

    ``tables`` holds the results, summary, matched and profile lines; ``load`` the load
    averages at the start and end; ``slope`` the log-log slopes over medians and minima.
    """
    res, summ, match, prof_lines = tables
    paused = paused_seconds()
    refs = "; ".join(f"N={n}: {s['ref']} ({s['t_ref']:.1f} s)" for n, s in bench.summary.items())
    lines = [
        f"Command: `{command}` (from the repository root; {elapsed / 60:.1f} min). Date: {date}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['mem']} RAM, "
        f"torch {info['torch']} ({info['threads']} threads, {info['threads_note']}), "
        f"torch-pme {info['torchpme']}, Python {info['python']}; polmlip's mesh operators "
        f"(spread/gather): {info['ops']} ({OPS_NOTE.get(info['ops'], '?')}). {malloc_note} "
        f"Load average {load[0]:.1f} at the start and {load[1]:.1f} at the end (1-minute "
        f"averages, including this job). Any other job on this machine inflates timings "
        f"badly (10-20x seen: torch's OpenMP regions wait for descheduled threads), so every "
        f"timed batch also measures the CPU used by other processes (machine busy time from "
        f"/proc/stat minus this process's; column *other CPU*, in cores); a batch with more "
        f"than {CONTENTION_CORES} cores of other work is re-timed after a "
        f"{CONTENTION_WAIT_S:.0f} s pause, up to {CONTENTION_RETRIES} times "
        f"({paused:.0f} s paused in this run); values still marked * were measured under "
        f"contention.",
        "",
        "**Systems and measurement.** Random rigid waters (O −0.8 e, H +0.4 e, neutral) at "
        "0.1 sites/Å³ in cubic cells (192 sites: 12.4 Å), charges only, float64 unless noted; "
        f"polmlip's smeared mode with σ = {SIGMA} Å, called with `need_gradient=False` "
        "(charges need no field gradient). Time: wall time of energy + forces (autograd "
        "backward), median over the given number of runs after one warm-up call (fewer runs "
        f"for cases slower than {FAST_CASE_S:.0f} s, keeping each under ~{CASE_BUDGET_S:.0f} "
        f"s; more for fast cases, up to {MAX_FAST_CALLS}, so that a batch lasts "
        f"≥ {MIN_WINDOW_S} s). "
        "Errors: relative energy error and relative force-RMS error ‖F − F_ref‖/‖F_ref‖ "
        "against the reference, which is polmlip Ewald at accuracy 1e-9 for N ≤ 1536 and "
        "polmlip PME at accuracy 1e-9 with spline order 8 above.",
        "",
        f"References: {refs}.",
    ]
    if bench.ref_check is not None:
        n, (ee, fe) = bench.ref_check
        lines += [
            "",
            f"At N = {n} the PME reference (1e-9, order 8) differs from the Ewald "
            f"reference by {ee:.1e} in energy and {fe:.1e} in forces, far below the "
            f"errors compared here.",
        ]
    lines += [
        "",
        "**torch-pme ↔ polmlip.** torch-pme's `CoulombPotential(smearing=s)` has the k-space "
        "kernel 4π exp(−s²k²/2)/k² (real space erf(r/(√2 s))/r), so `smearing` = σ exactly. "
        "With an empty neighbour list (`neighbor_indices` of shape (0, 2), `full_neighbor_list` "
        "irrelevant) its calculators return only the smeared long-range part minus the self "
        "term, which is the same as polmlip's (k_e q²/(√(2π) σ) per site), so with "
        "`prefactor` = k_e: Σ q_i V_i = E_polmlip − π k_e σ² Q²/V, the last term being "
        "torch-pme's point-Ewald background correction for a net charge Q (zero for neutral "
        "cells; polmlip's smeared mode has none). Check at N = 192, polmlip Ewald at accuracy "
        "1e-10 against torch-pme Ewald with `lr_wavelength` 0.3 Å:",
        "",
        "| charges | polmlip [eV] | torch-pme [eV] | difference [eV] | −πk_eσ²Q²/V [eV] | "
        "rel. residual |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in checks:
        lines.append(
            f"| {c['label']} | {c['ours']:.10f} | {c['tp']:.10f} | {c['diff']:+.2e} "
            f"| {c['background']:+.2e} | {c['residual']:.1e} |"
        )
    lines += [
        "",
        f"**torch-pme settings.** `smearing` = σ, `prefactor` = k_e = {KE} eV·Å/e². "
        f"`PMECalculator` with {TP_PME_NODES} interpolation nodes and `P3MCalculator` with "
        f"{TP_P3M_NODES} (their most accurate options; lower orders need still finer meshes). "
        "Their meshes are powers of two, so for each N the meshes are walked upward from the "
        f"first with spacing ≤ {TP_START_SPACING} Å until the force error is ≤ polmlip PME's "
        "at that N (*strict* equal accuracy); rows marked *fails target* are the meshes below "
        "it. `EwaldCalculator`: `lr_wavelength` lowered in 10% steps from 1 Å until the same "
        "criterion holds. *Matched*: polmlip PME re-run at the loosest accuracy (halving from "
        "its error model) whose force error is ≤ that of a given torch-pme run.",
        "",
        "### Results",
        "",
        *res,
        "",
        "### Equal-accuracy ratios and scaling",
        "",
        *summ,
        "",
        "Ratio = polmlip PME time / torch-pme time at strict equal accuracy (< 1: polmlip "
        "faster). Other CPU: cores used by other processes while polmlip PME was timed. "
        "Matched comparisons, one per torch-pme mesh run:",
        "",
        *match,
        "",
        *scaling_lines(bench, slope, slope32),
        "",
    ]
    if bench.notes:
        lines += ["Notes: " + " ".join(bench.notes), ""]
    lines += ["### Where the time goes", "", *prof_lines, "", "### Targets", "", *verdict, ""]
    return "\n".join(lines)
