"""CUDA kernels of the mesh operators: built when nvcc exists, checked when a GPU exists.

On a machine with a GPU (and a CUDA build of torch), the CUDA operators must agree with the
C++ CPU operators to 1e-12 in float64, forward and backward. Without a GPU the numerical test
skips; the build test still checks that nvcc compiled the kernels into libpolmlip_ops.
"""

import shutil

import pytest
import torch

from polmlip import ops
from polmlip.electrostatics import mesh_ops

native = pytest.mark.skipif(ops.backend() != "native", reason="libpolmlip_ops is not built")


@native
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_cuda_kernels_are_compiled_in():
    from polmlip.ops import library_candidates

    lib = next(p for p in library_candidates() if p.is_file())
    assert b"polmlip_spread_cuda" in lib.read_bytes(), "built without the CUDA kernels"


@native
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("ncomp,nderiv", [(1, 0), (4, 1), (10, 2)])
def test_cuda_matches_cpu(ncomp, nderiv):
    g = torch.Generator().manual_seed(ncomp)
    shape = [9, 8, 10]
    u = torch.rand(50, 3, generator=g, dtype=torch.float64) * 12 - 2
    c = torch.randn(50, ncomp, generator=g, dtype=torch.float64)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    mesh = torch.randn(shape, generator=g, dtype=torch.float64)
    results = []
    for device in ("cpu", "cuda"):
        uu = u.to(device).requires_grad_(True)
        cc = c.to(device).requires_grad_(True)
        mm = mesh.to(device).requires_grad_(True)
        m = mesh_ops.spread(uu, cc, shape, 6)
        du, dc = torch.autograd.grad((m * w.to(device)).sum(), [uu, cc])
        v = mesh_ops.gather(mm, uu, 6, nderiv)
        dm, du2 = torch.autograd.grad((v * v).sum(), [mm, uu])
        results.append([t.detach().cpu() for t in (m, du, dc, v, dm, du2)])
    for a, b in zip(*results):
        assert float((a - b).abs().max() / a.abs().max()) < 1e-12
