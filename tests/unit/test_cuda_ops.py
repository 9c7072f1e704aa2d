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


def _cuda_kernel_names(run):
    """Names of the CUDA kernels ``run()`` launched, or None if the profiler sees none."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    names = [e.key for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    return names or None


@native
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_registered_operators_run_the_cuda_kernels(dtype):
    """torch.ops.polmlip.spread/gather on CUDA tensors: CUDA results, equal to the CPU ones."""
    g = torch.Generator().manual_seed(3)
    shape = [7, 9, 8]
    u = torch.rand(40, 3, generator=g, dtype=torch.float64).to(dtype) * 10 - 1
    c = torch.randn(40, 4, generator=g, dtype=torch.float64).to(dtype)
    mesh = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    uc, cc, mc = u.cuda(), c.cuda(), mesh.cuda()
    spread = torch.ops.polmlip.spread(uc, cc, shape, 6)
    gather = torch.ops.polmlip.gather(mc, uc, 6, 1)
    assert spread.device.type == "cuda" and gather.device.type == "cuda"
    assert spread.dtype == dtype and gather.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    ref_spread = torch.ops.polmlip.spread(u, c, shape, 6)
    ref_gather = torch.ops.polmlip.gather(mesh, u, 6, 1)
    assert float((spread.cpu() - ref_spread).abs().max() / ref_spread.abs().max()) < tol
    assert float((gather.cpu() - ref_gather).abs().max() / ref_gather.abs().max()) < tol

    names = _cuda_kernel_names(
        lambda: (torch.ops.polmlip.spread(uc, cc, shape, 6), torch.ops.polmlip.gather(mc, uc, 6, 1))
    )
    if names is not None:  # the profiler records CUDA kernels here: ours must be among them
        ours = [n for n in names if "polmlip" in n]
        assert any("spread" in n for n in ours) and any("gather" in n for n in ours), names


@native
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_backward_stays_on_the_device():
    shape = [6, 6, 6]
    u = (torch.rand(10, 3, dtype=torch.float64, device="cuda") * 6).requires_grad_(True)
    c = torch.randn(10, 4, dtype=torch.float64, device="cuda").requires_grad_(True)
    m = torch.ops.polmlip.spread(u, c, shape, 5)
    du, dc = torch.autograd.grad(m.pow(2).sum(), [u, c])
    assert du.device.type == "cuda" and dc.device.type == "cuda"


@native
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_inputs_on_different_devices_are_refused():
    shape = [6, 6, 6]
    u = torch.rand(5, 3, dtype=torch.float64) * 6
    c = torch.randn(5, 1, dtype=torch.float64)
    mesh = torch.randn(shape, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="polmlip::spread: all inputs must be on one device"):
        torch.ops.polmlip.spread(u.cuda(), c, shape, 5)
    with pytest.raises(RuntimeError, match="polmlip::spread: all inputs must be on one device"):
        torch.ops.polmlip.spread(u, c.cuda(), shape, 5)
    with pytest.raises(RuntimeError, match="polmlip::gather: all inputs must be on one device"):
        torch.ops.polmlip.gather(mesh, u.cuda(), 5, 0)
