"""The Ewald split of the Gaussian sites against today's unsplit mesh, at equal accuracy.

Water-like boxes (``bench_systems.water_box``: O −0.8 e, H +0.4 e, 0.1 sites/Å³, σ = 1 Å)
with charges only, and with charges plus random dipoles (|μ| ≈ 0.2 e·Å per component) and
quadrupoles. For each real-space cutoff r_c (none = everything in k-space, the unsplit
reference) the solver picks η and the mesh for 1e-5 (``electrostatics/accuracy.py``); the
table gives the mesh points per site, the real-space pairs per site, the measured relative
RMS force error against the Ewald sum at 1e-10 (N = 1,536), and the time of one energy +
force evaluation on one thread (median of 3, every variant timed in the same process, in
turn).

    python benchmarks/long_range_split.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_systems import machine_info, water_box  # noqa: E402
from report import replace_section  # noqa: E402

from polmlip.electrostatics import MultipoleElectrostatics  # noqa: E402
from polmlip.electrostatics.pairs import real_space_pairs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACCURACY = 1e-5
TITLE = "Long range: Ewald split of the Gaussian sites"


def multipoles(n: int, heads: str, seed: int = 1):
    """Random dipoles and quadrupoles for ``heads`` in {"q", "q+mu", "q+mu+theta"}."""
    g = torch.Generator().manual_seed(seed)
    mu = 0.2 * torch.randn(n, 3, generator=g, dtype=torch.float64) if "mu" in heads else None
    theta = (
        0.1 * torch.randn(n, 3, 3, generator=g, dtype=torch.float64) if "theta" in heads else None
    )
    return mu, theta


def energy_forces(solver, pos, cell, q, mu, theta):
    p = pos.clone().requires_grad_(True)
    e, _, _, _ = solver(p, cell, True, q, mu, theta, theta is not None)
    (grad,) = torch.autograd.grad(e.sum(), p)
    return float(e.sum().detach()), -grad


def settings(solver, pos, cell, q, mu, theta):
    """k-space width, mesh, real-space pairs and the seconds of the pair search alone."""
    mags = solver._magnitudes(q, mu, theta)
    mesh = solver.mesh_shape(cell, mags)
    pairs, search = 0, 0.0
    if solver.split:
        start = time.perf_counter()
        pairs = real_space_pairs(pos, cell, pos.shape[0], solver.real_cutoff)[0].shape[1]
        search = time.perf_counter() - start
    return solver.kspace_width(mags), mesh, pairs, search


def run(sizes, cutoffs, heads_list, repeats):
    """``sizes``: {heads: [N, ...]}."""
    torch.set_num_threads(1)
    rows = []
    for heads in heads_list:
        for n in sizes[heads]:
            pos, cell, q = water_box(n)
            mu, theta = multipoles(n, heads)
            ref = None
            if n == sizes[heads][0]:
                exact = MultipoleElectrostatics(method="ewald", accuracy=1e-10)
                ref = energy_forces(exact, pos, cell, q, mu, theta)[1]
            solvers = {
                rc: MultipoleElectrostatics(accuracy=ACCURACY, real_cutoff=rc) for rc in cutoffs
            }
            times = {rc: [] for rc in cutoffs}
            forces = {}
            for _ in range(repeats):
                for rc, solver in solvers.items():
                    start = time.perf_counter()
                    forces[rc] = energy_forces(solver, pos, cell, q, mu, theta)[1]
                    times[rc].append(time.perf_counter() - start)
            for rc, solver in solvers.items():
                width, mesh, pairs, search = settings(solver, pos, cell, q, mu, theta)
                points = mesh[0] * mesh[1] * mesh[2]
                err = None
                if ref is not None:
                    err = float((forces[rc] - ref).norm() / ref.norm())
                rows.append(
                    {
                        "heads": heads,
                        "n": n,
                        "rc": rc,
                        "width": width,
                        "mesh": mesh,
                        "points_per_site": points / n,
                        "pairs_per_site": pairs / n,
                        "error": err,
                        "seconds": statistics.median(times[rc]),
                        "search": search,
                    }
                )
                print(rows[-1], flush=True)
    return rows


def table(rows) -> str:
    out = [
        "| sites | N | r_c (Å) | k-space width (Å) | mesh | mesh points / site | "
        "pairs / site | force error | time (s) | of it, pair search (s) | vs unsplit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(r["heads"], r["n"]): r["seconds"] for r in rows if r["rc"] is None}
    for r in rows:
        err = f"{r['error']:.1e}" if r["error"] is not None else "–"
        rc = "unsplit" if r["rc"] is None else f"{r['rc']:g}"
        ratio = base[(r["heads"], r["n"])] / r["seconds"]
        out.append(
            f"| {r['heads']} | {r['n']:,} | {rc} | {r['width']:.2f} | "
            f"{'×'.join(str(m) for m in r['mesh'])} | {r['points_per_site']:.0f} | "
            f"{r['pairs_per_site']:.0f} | {err} | {r['seconds']:.3f} | {r['search']:.3f} | "
            f"{ratio:.2f}× |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    heads = ["q", "q+mu"] if args.quick else ["q", "q+mu", "q+mu+theta"]
    # quadrupoles at 12k would hold ~10 GB of pair intermediates for autograd: 1.5k only
    sizes = {h: [1536] if args.quick or "theta" in h else [1536, 12288] for h in heads}
    cutoffs = [None, 6.0, 8.0, 10.0] if args.quick else [None, 6.0, 8.0, 9.0, 10.0]
    rows = run(sizes, cutoffs, heads, 1 if args.quick else 3)
    cpu = machine_info().get("cpu", "")
    body = "\n".join(
        [
            f"`python benchmarks/long_range_split.py` (one thread; {cpu}).",
            "",
            f"Requested accuracy {ACCURACY:g}; the force error is the measured relative RMS "
            "error against the Ewald sum at 1e-10 (N = 1,536 only). Time: one energy + force "
            "evaluation (autograd), median of the repeats, all variants in turn in one process.",
            "",
            table(rows),
        ]
    )
    print(body)
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", TITLE, body)


if __name__ == "__main__":
    main()
