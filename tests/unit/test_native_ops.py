"""The C++ mesh operators against the PyTorch reference: forward, backward, double backward."""

import pytest
import torch

from polmlip import ops
from polmlip.electrostatics import mesh_ops

pytestmark = pytest.mark.skipif(
    ops.backend() != "native",
    reason="libpolmlip_ops is not built (run scripts/bootstrap.sh or cmake; see README)",
)


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("order", [4, 5, 6, 7])
@pytest.mark.parametrize("ncomp,nderiv", [(1, 0), (4, 1), (10, 2)])
def test_native_matches_reference_to_1e12(order, ncomp, nderiv):
    g = torch.Generator().manual_seed(order * 10 + ncomp)
    shape = [9, 8, 10]
    u = (torch.rand(7, 3, generator=g, dtype=torch.float64) * 12 - 2).requires_grad_(True)
    c = torch.randn(7, ncomp, generator=g, dtype=torch.float64).requires_grad_(True)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    mesh = torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_(True)
    results = []
    for spread, gather in (
        (mesh_ops.spread_reference, mesh_ops.gather_reference),
        (mesh_ops.spread, mesh_ops.gather),
    ):
        m = spread(u, c, shape, order)
        du, dc = torch.autograd.grad((m * w).sum(), [u, c], create_graph=True)
        ddu, ddc = torch.autograd.grad(du.pow(2).sum() + dc.pow(2).sum(), [u, c])
        v = gather(mesh, u, order, nderiv)
        dm, du2 = torch.autograd.grad((v * v).sum(), [mesh, u], create_graph=True)
        ddm, ddu2 = torch.autograd.grad(du2.pow(2).sum(), [mesh, u])
        results.append([m, du, dc, ddu, ddc, v, dm, du2, ddm, ddu2])
    for ref, nat in zip(*results):
        assert _rel(nat, ref) < 1e-12


def test_gradcheck_and_gradgradcheck():
    g = torch.Generator().manual_seed(0)
    u = (torch.rand(3, 3, generator=g, dtype=torch.float64) * 5).requires_grad_(True)
    c = torch.randn(3, 10, generator=g, dtype=torch.float64).requires_grad_(True)
    mesh = torch.randn(6, 5, 7, generator=g, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: mesh_ops.spread(a, b, [6, 5, 7], 6), (u, c))
    assert torch.autograd.gradgradcheck(lambda a, b: mesh_ops.spread(a, b, [6, 5, 7], 6), (u, c))
    assert torch.autograd.gradcheck(lambda m, a: mesh_ops.gather(m, a, 6, 2), (mesh, u))
    assert torch.autograd.gradgradcheck(lambda m, a: mesh_ops.gather(m, a, 6, 2), (mesh, u))


def test_float32_native():
    g = torch.Generator().manual_seed(1)
    u = torch.rand(20, 3, generator=g) * 10
    c = torch.randn(20, 4, generator=g)
    ref = mesh_ops.spread_reference(u.double(), c.double(), [10, 10, 10], 7)
    nat = mesh_ops.spread(u, c, [10, 10, 10], 7)
    assert nat.dtype == torch.float32 and _rel(nat.double(), ref) < 1e-5
