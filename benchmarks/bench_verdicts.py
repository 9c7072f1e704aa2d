"""The targets of the electrostatics benchmark (scaling slope, speed at equal accuracy), judged."""

import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_settings import SLOPE_TARGET  # noqa: E402
from bench_tables import mesh_points  # noqa: E402


def loglog_slope(points):
    """Least-squares slope of log t against log N over ``(N, t)`` points (nan if undefined)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else float("nan")


def strict_ratios(summary):
    """``(N, "PME"|"P3M", polmlip time / torch-pme time)``, None where torch-pme fell short."""
    out = []
    for n, s in summary.items():
        for kind, label in (("pme", "PME"), ("p3m", "P3M")):
            strict = s.get(kind + "_strict")
            out.append((n, label, None if strict is None else s["pme"]["t"] / strict["t"]))
    return out


def verdicts(summary, slope, slope_ns, prof):
    """Markdown bullets: each target met or missed, with the numbers behind it."""
    out = []
    if len(slope_ns) >= 2 and math.isfinite(slope):
        pts = [mesh_points(summary[n]["mesh"]) / n for n in slope_ns]
        mesh_slope = loglog_slope([(n, p * n) for n, p in zip(slope_ns, pts)])
        word = "met" if slope <= SLOPE_TARGET else "missed"
        text = (
            f"- **Scaling, slope ≤ {SLOPE_TARGET} from 1.5k to 24k sites: {word}.** The fitted "
            f"slope is {slope:.3f} over N = {', '.join(str(n) for n in slope_ns)}. Every stage "
            f"is linear in the number of sites or mesh points except the FFT (M log M); the "
            f"mesh follows polmlip's accuracy rule for each cell and is rounded up to 2·3·5-"
            f"smooth sizes, so mesh points per site vary "
            f"({', '.join(f'{p:.0f}' for p in pts)}) and the mesh size alone grows with "
            f"slope {mesh_slope:.3f}."
        )
        if slope > SLOPE_TARGET:
            text += (
                " The excess over 1 comes from that mesh rounding, the FFT's log factor "
                "and cache effects once the mesh outgrows the caches, plus noise from "
                "other jobs on this shared machine."
            )
        if max(slope_ns) < 24576:
            text += " (Partial run: the target is defined up to N = 24576.)"
        out.append(text)
    ratios = strict_ratios(summary)
    slower = [(n, lab, r) for n, lab, r in ratios if r is not None and r > 1.0]
    missing = [(n, lab) for n, lab, r in ratios if r is None]
    listed = ", ".join(f"{lab} {n}: {r:.2f}" for n, lab, r in ratios if r is not None)
    word = "met" if not slower else "missed"
    text = (
        f"- **Speed, polmlip PME no slower than torch-pme at equal accuracy: {word}.** "
        f"Time ratios polmlip/torch-pme at strict equal accuracy: {listed}."
    )
    if slower:
        text += (
            " polmlip is slower in " + ", ".join(f"{lab} at N={n}" for n, lab, _ in slower) + "."
        )
    if missing:
        text += (
            " torch-pme cannot reach polmlip's force error at all for "
            + ", ".join(f"{lab} at N={n}" for n, lab in missing)
            + ": its next power-of-two mesh does not fit in this machine's memory."
        )
    matched = [ours["t"] / tp["t"] for s in summary.values() for tp, ours in s.get("matched", [])]
    if matched:
        text += (
            f" Matched the other way (polmlip re-tuned to the error of every torch-pme "
            f"run, including the meshes that missed the target) polmlip takes "
            f"{min(matched):.2f}–{max(matched):.2f}× torch-pme's time."
        )
    text += (
        " The gap is accuracy per mesh point: polmlip's smooth PME (order-7 B-splines, "
        "Euler-spline factor |b(m)|² in the influence function) reaches a ~2e-6 force "
        "error with a ~0.35 Å mesh, while torch-pme's PME (Lagrange interpolation, no "
        "deconvolution) and P3M (1/U² influence function) need 0.1–0.2 Å spacings, and "
        "power-of-two rounding then often doubles the mesh once more."
    )
    out.append(text)
    if prof is not None:
        top = max(prof["stages"], key=lambda x: x[1] + x[2])
        out.append(
            f"- **Where polmlip PME's time goes** (N = {prof['n']}, table above): the largest "
            f"stage is {top[0].split(':')[0]} with {100 * (top[1] + top[2]) / prof['full']:.0f}"
            f"% of the call; backward passes are "
            f"{100 * sum(b for _, _, b in prof['stages']) / prof['full']:.0f}% of it."
        )
    return out
