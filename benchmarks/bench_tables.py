"""Markdown tables of the electrostatics benchmark and the number formats they use."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_settings import CONTENTION_CORES, DENSITY, SPLINE_ORDER  # noqa: E402


def sci(x):
    """An error in ``1.2e-06`` form, ``—`` for a missing value."""
    return "—" if x is None else f"{x:.1e}"


def secs(x):
    """A time in seconds: three decimals below 10 s, one above, ``—`` for a missing value."""
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_mesh(shape):
    """``64³`` for a cubic mesh, ``64×64×72`` otherwise."""
    return f"{shape[0]}³" if len(set(shape)) == 1 else "×".join(str(s) for s in shape)


def mesh_points(shape):
    """Number of points of a 3-D mesh."""
    return shape[0] * shape[1] * shape[2]


def results_table(rows):
    """One line per timed case: method, settings, times and errors against the reference."""
    lines = [
        "| N | method | settings | median [s] | min [s] | runs | other CPU | rel. E error "
        "| rel. F error |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        flag = " (fails target)" if r.get("passes") is False else ""
        other = f"{r['other']:.2f}" + ("*" if r["other"] > CONTENTION_CORES else "")
        lines.append(
            f"| {r['n']} | {r['method']}{flag} | {r['settings']} | {secs(r['t'])} | "
            f"{secs(r['t_min'])} | {r['reps']} | {other} | {sci(r['e_err'])} | "
            f"{sci(r['f_err'])} |"
        )
    return lines


def summary_table(summary):
    """One line per N: polmlip PME against torch-pme PME and P3M at strict equal accuracy."""
    lines = [
        "| N | L [Å] | mesh pts/site | polmlip PME [s] | F error | torch-pme PME [s] | "
        "ratio | torch-pme P3M [s] | ratio | other CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, s in summary.items():
        pme = s["pme"]
        cells = []
        for kind in ("pme", "p3m"):
            strict = s.get(kind + "_strict")
            if strict is None:
                cells += ["— (" + s.get(kind + "_missing", "not run") + ")", "—"]
            else:
                cells += [
                    f"{secs(strict['t'])} ({strict['settings'].split(' (')[0]})",
                    f"{pme['t'] / strict['t']:.2f}",
                ]
        length = (n / DENSITY) ** (1.0 / 3.0)
        lines.append(
            f"| {n} | {length:.1f} | {mesh_points(s['mesh']) / n:.0f} | {secs(pme['t'])} | "
            f"{sci(pme['f_err'])} | " + " | ".join(cells) + f" | {pme['other']:.2f} |"
        )
    return lines


def matched_table(summary):
    """One line per torch-pme mesh run and the polmlip PME run matched to its force error."""
    lines = [
        "| N | torch-pme run | its F error | its time [s] | polmlip PME at ≤ that error | "
        "F error | time [s] | ratio |",
        "|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for n, s in summary.items():
        for tp, ours in s.get("matched", []):
            lines.append(
                f"| {n} | {tp['method'].split()[-1]}, {tp['settings']} | {sci(tp['f_err'])} | "
                f"{secs(tp['t'])} | {ours['settings']} | {sci(ours['f_err'])} | "
                f"{secs(ours['t'])} | {ours['t'] / tp['t']:.2f} |"
            )
    return lines


def profile_lines(prof, sysmalloc, prof_small=None):
    """The per-stage table of :func:`bench_profile.profile_pme` with its lead-in sentence.

    With ``prof_small`` (the same profile at a smaller N) the table also shows each stage's
    time there and its growth factor.
    """
    two = prof_small is not None and prof_small["n"] != prof["n"]
    lines = [
        f"polmlip PME at N = {prof['n']}, mesh {fmt_mesh(prof['shape'])}, order "
        f"{SPLINE_ORDER}, float64: energy + forces {prof['full']:.3f} s; the default call "
        f"that also gathers the field gradient G takes {prof['with_g']:.3f} s.",
        "",
    ]
    if two:
        lines += [
            f"| stage | forward [s] | backward [s] | share of the call | at N = "
            f"{prof_small['n']} (mesh {fmt_mesh(prof_small['shape'])}) [s] | growth |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    else:
        lines += [
            "| stage | forward [s] | backward [s] | share of the call |",
            "|---|---:|---:|---:|",
        ]
    for i, (name, f, b) in enumerate(prof["stages"]):
        line = f"| {name} | {f:.3f} | {b:.3f} | {100 * (f + b) / prof['full']:.0f}% |"
        if two:
            _, f0, b0 = prof_small["stages"][i]
            growth = (f + b) / (f0 + b0) if f0 + b0 > 0 else float("nan")
            line += f" {f0 + b0:.4f} | ×{growth:.1f} |"
        lines.append(line)
    rest = prof["full"] - sum(f + b for _, f, b in prof["stages"])
    line = (
        f"| rest: checks, self term, autograd bookkeeping | | | {100 * rest / prof['full']:.0f}% |"
    )
    if two:
        rest0 = prof_small["full"] - sum(f + b for _, f, b in prof_small["stages"])
        line += f" {rest0:.4f} | |"
    lines.append(line)
    if two:
        lines.append(
            f"| whole call | | | 100% | {prof_small['full']:.4f} | "
            f"×{prof['full'] / prof_small['full']:.1f} |"
        )
    loc = prof.get("locality")
    if loc:
        lines += [
            "",
            f"Spread + gather (forward and backward) at N = {prof['n']}: "
            f"{loc['as given']:.3f} s with the sites in the benchmark's random order, "
            f"{loc['sorted']:.3f} s with the same sites sorted by the mesh cell they fall in.",
        ]
    if sysmalloc is not None:
        lines += [
            "",
            f"With glibc's default allocator (fresh mmap for every large tensor) the "
            f"same call took {sysmalloc:.3f} s (median, child process).",
        ]
    return lines
