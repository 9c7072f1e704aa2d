"""polmlip::halo: ghost rows from their owners, its adjoint in backward, in the native
operator and the PyTorch reference alike; a frame with ghosts and no exchange is refused."""

import os
import subprocess
import sys

import pytest
import torch

from polmlip import ops

OWNERS = torch.tensor([0, 1, 2, 0, 2, 1, 0])  # 3 local rows, 4 ghosts


def _x(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(7, 4, generator=g, dtype=torch.float64)


def test_forward_copies_owner_rows_and_backward_is_the_adjoint():
    x = _x().requires_grad_(True)
    w = _x(1)
    with ops.halo_owners(OWNERS):
        y = torch.ops.polmlip.halo(x, 3)
        (g,) = torch.autograd.grad((y * w).sum(), x, create_graph=True)
    torch.testing.assert_close(y[3:], x[OWNERS[3:]].detach())
    torch.testing.assert_close(y[:3], x[:3].detach())
    expected = w[:3].clone().index_add_(0, OWNERS[3:], w[3:])
    torch.testing.assert_close(g[:3], expected)
    assert torch.all(g[3:] == 0)
    # <halo(x), w> = <x, halo*(w)>: the adjoint, row by row
    with ops.halo_owners(OWNERS):
        adj = torch.autograd.grad((torch.ops.polmlip.halo(x, 3) * w).sum(), x)[0]
    assert float((y * w).sum()) == pytest.approx(float((x * adj).sum()), rel=1e-12)


def test_second_derivative_through_the_exchange():
    """The adjoint's backward is the forward again, so double backward (training on forces
    with ghost atoms) is defined: d/dx of <halo*(halo(x)^2 ...)> matches finite differences."""
    x = _x().requires_grad_(True)
    with ops.halo_owners(OWNERS):
        y = torch.ops.polmlip.halo(x, 3)
        (g,) = torch.autograd.grad((y**3).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
    eps = 1e-6
    with ops.halo_owners(OWNERS):
        for i, k in [(0, 0), (1, 2), (2, 3)]:
            xp, xm = x.detach().clone(), x.detach().clone()
            xp[i, k] += eps
            xm[i, k] -= eps
            gp = torch.autograd.grad(
                (torch.ops.polmlip.halo(xp.requires_grad_(True), 3) ** 3).sum(), xp
            )[0]
            gm = torch.autograd.grad(
                (torch.ops.polmlip.halo(xm.requires_grad_(True), 3) ** 3).sum(), xm
            )[0]
            fd = float((gp.sum() - gm.sum()) / (2 * eps))
            assert float(h[i, k]) == pytest.approx(fd, rel=1e-6)


def test_identity_without_ghosts_and_refusal_with_ghosts_but_no_map():
    x = _x()
    torch.testing.assert_close(torch.ops.polmlip.halo(x, 7), x)
    with pytest.raises(RuntimeError, match="no halo exchange is installed"):
        torch.ops.polmlip.halo(x, 3)


def test_reference_equals_native_in_a_fresh_process():
    """The same checks with POLMLIP_DISABLE_OPS=1 (the PyTorch reference): importing polmlip
    registers the fallback once, and halo behaves the same."""
    code = (
        "import torch, polmlip\n"
        "from polmlip import ops\n"
        "assert ops.backend() == 'reference', ops.backend()\n"
        "x = torch.arange(12.).reshape(4, 3).requires_grad_(True)\n"
        "with ops.halo_owners(torch.tensor([0, 1, 0, 1])):\n"
        "    y = torch.ops.polmlip.halo(x, 2)\n"
        "    (y * (torch.arange(12.).reshape(4, 3) + 1)).sum().backward()\n"
        "print(y.tolist(), x.grad.tolist())\n"
    )
    env = dict(os.environ, POLMLIP_DISABLE_OPS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    x = torch.arange(12.0).reshape(4, 3).requires_grad_(True)
    with ops.halo_owners(torch.tensor([0, 1, 0, 1])):
        y = torch.ops.polmlip.halo(x, 2)
        (y * (torch.arange(12.0).reshape(4, 3) + 1)).sum().backward()
    assert out.stdout.strip() == str(y.tolist()) + " " + str(x.grad.tolist())
