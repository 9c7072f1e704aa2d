"""Markdown tables of the electrostatics benchmark and the number formats they use."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_settings import DENSITY, SPLINE_ORDER  # noqa: E402


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
        "| N | method | settings | median [s] | min [s] | runs | rel. E error | rel. F error |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        flag = " (fails target)" if r.get("passes") is False else ""
        lines.append(
            f"| {r['n']} | {r['method']}{flag} | {r['settings']} | {secs(r['t'])} | "
            f"{secs(r['t_min'])} | {r['reps']} | {sci(r['e_err'])} | {sci(r['f_err'])} |"
        )
    return lines


def summary_table(summary):
    """One line per N: polmlip PME against torch-pme PME and P3M at strict equal accuracy."""
    lines = [
        "| N | L [Å] | mesh pts/site | polmlip PME [s] | F error | torch-pme PME [s] | "
        "ratio | torch-pme P3M [s] | ratio | load |",
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
            f"{sci(pme['f_err'])} | " + " | ".join(cells) + f" | {s['load']:.1f} |"
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


def profile_lines(prof, sysmalloc):
    """The per-stage table of :func:`bench_profile.profile_pme` with its lead-in sentence."""
    lines = [
        f"polmlip PME at N = {prof['n']}, mesh {fmt_mesh(prof['shape'])}, order "
        f"{SPLINE_ORDER}, float64: energy + forces {prof['full']:.3f} s; the default call "
        f"that also gathers the field gradient G takes {prof['with_g']:.3f} s.",
        "",
        "| stage | forward [s] | backward [s] | share of the call |",
        "|---|---:|---:|---:|",
    ]
    for name, f, b in prof["stages"]:
        lines.append(f"| {name} | {f:.3f} | {b:.3f} | {100 * (f + b) / prof['full']:.0f}% |")
    rest = prof["full"] - sum(f + b for _, f, b in prof["stages"])
    lines.append(
        f"| rest: checks, self term, autograd bookkeeping | | | {100 * rest / prof['full']:.0f}% |"
    )
    if sysmalloc is not None:
        lines += [
            "",
            f"With glibc's default allocator (fresh mmap for every large tensor) the "
            f"same call took {sysmalloc:.3f} s (median, child process).",
        ]
    return lines
