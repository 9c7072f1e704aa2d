"""Every public electrostatics module and function: scripted, saved, loaded, equal to eager."""

import io

import pytest
import torch

from polmlip.electrostatics import (
    MultipoleElectrostatics,
    born_charges,
    induced_charges,
    induced_dipoles,
    open_polarization,
    phase_polarization,
)

from helpers import random_sites, triclinic_cell


def _roundtrip(module):
    scripted = torch.jit.script(module)
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    return scripted, torch.jit.load(buf)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "method,point,pbc,cutoff",
    [
        ("pme", False, True, None),
        ("pme", False, True, 3.0),
        ("ewald", False, True, None),
        ("ewald", True, True, 3.0),
        ("pme", False, False, None),
    ],
)
def test_solver_scripted_saved_loaded_equals_eager(dtype, method, point, pbc, cutoff):
    cell = triclinic_cell(6.0, dtype=dtype)
    pos, q, mu, th = random_sites(12, cell, seed=3, dtype=dtype)
    eager = MultipoleElectrostatics(method=method, point=point, real_cutoff=cutoff)
    scripted, loaded = _roundtrip(eager)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    outs = []
    for module in (eager, scripted, loaded):
        p = pos.clone().requires_grad_(True)
        e, phi, E, G = module(p, cell, pbc, q, mu, th)
        f = torch.autograd.grad(e.sum(), p)[0]
        outs.append((e.detach(), phi.detach(), E.detach(), G.detach(), f))
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert a.dtype == dtype
            assert torch.allclose(a, b, rtol=tol, atol=tol)


def test_functions_script_and_match_eager():
    cell = triclinic_cell(9.0)
    pos, q, mu, _ = random_sites(10, cell, seed=5)
    kappa = torch.rand(10, dtype=torch.float64)
    alpha = torch.rand(10, dtype=torch.float64)
    field = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64)
    phi = torch.randn(10, dtype=torch.float64)
    E = torch.randn(10, 3, dtype=torch.float64)
    pairs = [
        (induced_charges, (phi, kappa)),
        (induced_dipoles, (E, field, alpha)),
        (open_polarization, (pos, q, mu)),
        (phase_polarization, (pos, cell, q, mu)),
    ]
    for fn, args in pairs:
        a = fn(*args)
        b = torch.jit.script(fn)(*args)
        a = a if isinstance(a, tuple) else (a,)
        b = b if isinstance(b, tuple) else (b,)
        for x, y in zip(a, b):
            assert torch.allclose(x, y, rtol=1e-14, atol=1e-14)
    outs = []
    for fn in (born_charges, torch.jit.script(born_charges)):
        p = pos.clone().requires_grad_(True)
        qq = q * (1 + 0.1 * torch.tanh(p.sum(1)))
        outs.append(fn(open_polarization(p, qq, mu * p[:, :1]), p, False))
    assert torch.allclose(outs[0], outs[1], atol=1e-14)
