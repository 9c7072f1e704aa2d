"""Energy + force runners for polmlip and torch-pme, their timing, errors and cross-check."""

import math
import os
import pathlib
import statistics
import sys
import time

import torch
import torchpme

from polmlip.electrostatics import MultipoleElectrostatics

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_settings import (  # noqa: E402
    CASE_BUDGET_S,
    CONTENTION_BUDGET_S,
    CONTENTION_CORES,
    CONTENTION_RETRIES,
    CONTENTION_WAIT_S,
    FAST_CASE_S,
    KE,
    MAX_FAST_CALLS,
    MIN_WINDOW_S,
    SIGMA,
)
from bench_systems import water_box  # noqa: E402


def polmlip_runner(solver, pos, cell, q):
    """Closure: energy (eV) and forces (eV/Å) by autograd. G is not gathered (charges only)."""

    def run():
        p = pos.detach().clone().requires_grad_(True)
        energy = solver(p, cell, True, q, need_gradient=False)[0].sum()
        (grad,) = torch.autograd.grad(energy, p)
        return energy.detach(), -grad

    return run


def torchpme_runner(calc, pos, cell, q):
    """Closure: torch-pme energy Σ q_i V_i and forces, with an empty neighbour list."""
    charges = q[:, None]
    nl_idx = torch.zeros((0, 2), dtype=torch.long)
    nl_dist = torch.zeros(0, dtype=pos.dtype)

    def run():
        p = pos.detach().clone().requires_grad_(True)
        pot = calc(charges, cell, p, nl_idx, nl_dist)
        energy = (charges * pot).sum()
        (grad,) = torch.autograd.grad(energy, p)
        return energy.detach(), -grad

    return run


def coulomb(dtype):
    """torch-pme's Coulomb potential with ``smearing`` = σ and ``prefactor`` = k_e."""
    return torchpme.CoulombPotential(smearing=SIGMA, prefactor=KE).to(dtype)


def tp_mesh_calculator(kind, nodes, length, ns, dtype):
    """torch-pme PME/P3M calculator whose power-of-two mesh is exactly ns³ for this cell."""
    # get_ns_mesh gives 2^ceil(log2(2 L/h + 1)); h = 2L/(ns − 1.5) lands safely on ns.
    spacing = 2.0 * length / (ns - 1.5)
    cls = torchpme.PMECalculator if kind == "pme" else torchpme.P3MCalculator
    calc = cls(coulomb(dtype), mesh_spacing=spacing, interpolation_nodes=nodes).to(dtype)
    cell = torch.eye(3, dtype=dtype) * length
    got = [int(v) for v in torchpme.lib.get_ns_mesh(cell, spacing)]
    if got != [ns, ns, ns]:
        raise RuntimeError(f"torch-pme mesh {got} != requested {ns}")
    return calc


def tp_ewald_calculator(lr, dtype):
    """torch-pme Ewald calculator with the given ``lr_wavelength`` (Å)."""
    return torchpme.EwaldCalculator(coulomb(dtype), lr_wavelength=lr).to(dtype)


def tp_ewald_kvectors(length, lr):
    """k-vectors torch-pme's Ewald uses: a full ns³ box, ns = ceil(k_c L/2π), k_c = 2π/lr."""
    return math.ceil(length / lr) ** 3


def timed(run):
    """``(run(), wall seconds)``."""
    t0 = time.perf_counter()
    out = run()
    return out, time.perf_counter() - t0


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAUSED = {"s": 0.0}  # seconds paused for contention so far in this process


def cpu_seconds():
    """(busy CPU seconds of the whole machine from /proc/stat, CPU seconds of this process)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = (sum(v) - v[3] - v[4]) / _CLK_TCK  # all but idle and iowait (steal counts)
    except (OSError, ValueError):
        busy = float("nan")
    t = os.times()
    return busy, t.user + t.system


def measure(run, repeats, warm=None):
    """Wall times of ``repeats`` calls after a warm-up call (or an already made one).

    Cases whose warm-up takes over FAST_CASE_S get at most CASE_BUDGET_S of repeats (≥ 1);
    fast ones get more calls, up to MAX_FAST_CALLS, to fill MIN_WINDOW_S. While timing, the
    CPU used by *other* processes is measured (machine busy time minus this process's); if
    it exceeds CONTENTION_CORES the batch is re-timed after a pause (CONTENTION_RETRIES per
    case, CONTENTION_BUDGET_S of pauses per run). Returns dict(out=warm-up output,
    t=median, t_min=minimum, reps=number of timed calls, other=mean cores used by other
    processes during the kept batch, retimed=number of discarded batches).
    """
    out, t_warm = warm if warm is not None else timed(run)
    n = repeats
    if t_warm > FAST_CASE_S:
        n = max(1, min(repeats, int(CASE_BUDGET_S / t_warm)))
    else:
        n = max(repeats, min(MAX_FAST_CALLS, math.ceil(MIN_WINDOW_S / max(t_warm, 1e-4))))
    retimed = 0
    while True:
        busy0, own0 = cpu_seconds()
        start = time.perf_counter()
        times = [timed(run)[1] for _ in range(n)]
        wall = time.perf_counter() - start
        busy1, own1 = cpu_seconds()
        other = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
        contended = other > CONTENTION_CORES
        room = _PAUSED["s"] + CONTENTION_WAIT_S <= CONTENTION_BUDGET_S
        if not contended or retimed >= CONTENTION_RETRIES or not room:
            break
        retimed += 1
        _PAUSED["s"] += CONTENTION_WAIT_S
        time.sleep(CONTENTION_WAIT_S)
    return dict(
        out=out,
        t=statistics.median(times),
        t_min=min(times),
        reps=n,
        other=other,
        retimed=retimed,
    )


def interleaved(runs, rounds):
    """Time several runners round-robin (after one warm-up each) so that any slow spell of
    the machine hits all of them alike. ``runs`` maps a key to a runner; returns
    ``{key: dict(t=median, t_min=minimum)}`` and the mean cores used by other processes."""
    for run in runs.values():
        run()
    times = {key: [] for key in runs}
    busy0, own0 = cpu_seconds()
    start = time.perf_counter()
    for _ in range(rounds):
        for key, run in runs.items():
            times[key].append(timed(run)[1])
    wall = time.perf_counter() - start
    busy1, own1 = cpu_seconds()
    other = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
    out = {key: dict(t=statistics.median(t), t_min=min(t)) for key, t in times.items()}
    return out, other


def paused_seconds():
    """Seconds this process paused waiting for other jobs to finish."""
    return _PAUSED["s"]


def rel_errors(out, ref):
    """Relative energy error and relative force-RMS error ‖F − F_ref‖ / ‖F_ref‖."""
    e, f = out
    e_ref, f_ref = ref
    e_err = abs(float(e) - float(e_ref)) / abs(float(e_ref))
    f_err = float(torch.linalg.norm(f.double() - f_ref) / torch.linalg.norm(f_ref))
    return e_err, f_err


def correspondence_check():
    """torch-pme (empty neighbour list) vs polmlip Ewald, neutral and charged, N = 192."""
    pos, cell, q = water_box(192, seed=1)
    g = torch.Generator().manual_seed(2)
    q_rand = 0.5 * torch.randn(192, generator=g, dtype=torch.float64)
    q_rand = q_rand - q_rand.mean()
    ours = MultipoleElectrostatics(sigma=SIGMA, method="ewald", accuracy=1e-10)
    theirs = tp_ewald_calculator(0.3, torch.float64)
    nl_idx = torch.zeros((0, 2), dtype=torch.long)
    nl_dist = torch.zeros(0, dtype=torch.float64)
    volume = float(torch.linalg.det(cell))
    out = []
    cases = (
        ("water, neutral", q),
        ("random, neutral", q_rand),
        ("random, Q = +4.8 e", q_rand + 0.025),
    )
    for label, charges in cases:
        e_ours = float(ours(pos, cell, True, charges, need_gradient=False)[0].sum())
        pot = theirs(charges[:, None], cell, pos, nl_idx, nl_dist)
        e_tp = float((charges[:, None] * pot).sum())
        total = float(charges.sum())
        background = -math.pi * KE * SIGMA**2 * total**2 / volume
        out.append(
            dict(
                label=label,
                ours=e_ours,
                tp=e_tp,
                diff=e_tp - e_ours,
                background=background,
                residual=abs(e_tp - e_ours - background) / abs(e_ours),
            )
        )
    return out
