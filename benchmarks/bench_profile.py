"""Where polmlip PME's time goes: per-stage timing, and one run with glibc's default malloc."""

import os
import pathlib
import statistics
import subprocess
import sys
import time

import torch

from polmlip.electrostatics import MultipoleElectrostatics, mesh_ops
from polmlip.electrostatics.pme import influence_function

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_runners import measure, polmlip_runner  # noqa: E402
from bench_settings import ACCURACY, MALLOC_ENV, SIGMA, SPLINE_ORDER  # noqa: E402
from bench_tables import mesh_points  # noqa: E402


def profile_pme(pos, cell, q, repeats):
    """Wall time of each polmlip PME stage (forward and backward) for energy + forces.

    The stages of ``polmlip.electrostatics.pme.pme_fields`` run as separate autograd graphs
    (same shapes, the same derivatives gathered as with ``need_gradient=False``, random
    upstream gradients), so forward and backward can be timed per stage.
    """
    solver = MultipoleElectrostatics(sigma=SIGMA, accuracy=ACCURACY, spline_order=SPLINE_ORDER)
    shape = solver.mesh_shape(cell, [float((q * q).sum()), 0.0, 0.0])
    order = SPLINE_ORDER
    kvec = torch.tensor(shape, dtype=pos.dtype)
    u0 = (pos @ torch.linalg.inv(cell)) * kvec
    total = mesh_points(shape)
    g = torch.Generator().manual_seed(0)
    g_mesh = torch.randn(shape, generator=g, dtype=pos.dtype)
    g_vals = torch.zeros(pos.shape[0], 4, dtype=pos.dtype)
    g_vals[:, 0] = torch.randn(pos.shape[0], generator=g, dtype=pos.dtype)
    psi = influence_function(cell, shape, SIGMA, order)

    def spread():
        u = u0.clone().requires_grad_(True)
        t0 = time.perf_counter()
        mesh = mesh_ops.spread(u, q[:, None], shape, order)
        t1 = time.perf_counter()
        mesh.backward(g_mesh)
        return t1 - t0, time.perf_counter() - t1

    def green():
        t0 = time.perf_counter()
        influence_function(cell, shape, SIGMA, order)
        return time.perf_counter() - t0, 0.0

    def fft():
        mesh = g_mesh.clone().requires_grad_(True)
        t0 = time.perf_counter()
        pot = torch.fft.irfftn(torch.fft.rfftn(mesh) * psi, s=shape) * (2.0 * total)
        t1 = time.perf_counter()
        pot.backward(g_mesh)
        return t1 - t0, time.perf_counter() - t1

    def gather():
        pot = g_mesh.clone().requires_grad_(True)
        u = u0.clone().requires_grad_(True)
        t0 = time.perf_counter()
        vals = mesh_ops.gather(pot, u, order, 1)
        t1 = time.perf_counter()
        vals.backward(g_vals)
        return t1 - t0, time.perf_counter() - t1

    stages = [
        ("spread: charges onto the mesh (polmlip::spread)", spread),
        ("influence function ψ(k), rebuilt on every call", green),
        ("FFT convolution: rfftn · ψ · irfftn", fft),
        ("gather: φ and ∇φ at the sites (polmlip::gather)", gather),
    ]
    result = []
    for name, fn in stages:
        fn()
        samples = [fn() for _ in range(max(repeats, 1))]
        result.append(
            (
                name,
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
            )
        )
    full = measure(polmlip_runner(solver, pos, cell, q), repeats)["t"]

    def run_default():
        p = pos.detach().clone().requires_grad_(True)
        energy = solver(p, cell, True, q)[0].sum()
        torch.autograd.grad(energy, p)

    with_g = measure(run_default, repeats)["t"]

    def spread_gather(perm):
        """Spread + gather, forward and backward, with the sites in the order ``perm``."""
        u = u0[perm].clone().requires_grad_(True)
        t0 = time.perf_counter()
        mesh_ops.spread(u, q[perm][:, None], shape, order).backward(g_mesh)
        pot = g_mesh.clone().requires_grad_(True)
        mesh_ops.gather(pot, u, order, 1).backward(g_vals)
        return time.perf_counter() - t0

    # Locality: the same work with the sites sorted by the mesh cell they fall in.
    cell_index = torch.floor(u0).to(torch.long) % torch.tensor(shape)
    flat = (cell_index[:, 0] * shape[1] + cell_index[:, 1]) * shape[2] + cell_index[:, 2]
    perms = {"as given": torch.arange(pos.shape[0]), "sorted": torch.argsort(flat)}
    locality = {}
    for label, perm in perms.items():
        spread_gather(perm)
        locality[label] = statistics.median(spread_gather(perm) for _ in range(max(repeats, 5)))
    return dict(
        n=pos.shape[0], shape=shape, stages=result, full=full, with_g=with_g, locality=locality
    )


def system_malloc_time(n, repeats):
    """Median time of polmlip PME at N = n in a child process with glibc's default malloc."""
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import torch; "
        "from polmlip.electrostatics import MultipoleElectrostatics; "
        "from bench_runners import measure, polmlip_runner; "
        "from bench_settings import ACCURACY, SIGMA, SPLINE_ORDER; "
        "from bench_systems import water_box; "
        "torch.set_num_threads(int(sys.argv[4])); "
        "pos, cell, q = water_box(int(sys.argv[2])); "
        "s = MultipoleElectrostatics(sigma=SIGMA, accuracy=ACCURACY, spline_order=SPLINE_ORDER); "
        "print(measure(polmlip_runner(s, pos, cell, q), int(sys.argv[3]))['t'])"
    )
    here = str(pathlib.Path(__file__).resolve().parent)
    try:
        res = subprocess.run(
            [sys.executable, "-c", code, here, str(n), str(repeats), str(torch.get_num_threads())],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return float(res.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
