"""PME against the explicit-k Ewald reference at the default accuracy (≥ 1000 sites, q + μ + Θ)."""

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics

from helpers import random_sites, triclinic_cell


def _run(solver, pos, cell, q, mu, th):
    p = pos.clone().requires_grad_(True)
    e, phi, E, G = solver(p, cell, True, q, mu, th)
    F = -torch.autograd.grad(e.sum(), p)[0]
    return float(e.sum().detach()), F, phi.detach(), E.detach()


def test_pme_matches_ewald_at_default_accuracy():
    cell = triclinic_cell(10.0)
    pos, q, mu, th = random_sites(1000, cell, seed=1)
    e_ref, f_ref, phi_ref, E_ref = _run(
        MultipoleElectrostatics(method="ewald", accuracy=1e-9), pos, cell, q, mu, th
    )
    e, f, phi, E = _run(MultipoleElectrostatics(method="pme"), pos, cell, q, mu, th)
    assert abs(e - e_ref) / abs(e_ref) <= 1e-5
    assert float((f - f_ref).norm() / f_ref.norm()) <= 1e-5
    assert float((phi - phi_ref).norm() / phi_ref.norm()) <= 1e-5
    assert float((E - E_ref).norm() / E_ref.norm()) <= 1e-5


@pytest.mark.parametrize("order", [4, 5, 6, 7, 8])
def test_every_spline_order_converges(order):
    """Each supported B-spline order meets a requested accuracy on a charge+dipole system."""
    cell = triclinic_cell(8.0)
    pos, q, mu, _ = random_sites(100, cell, seed=2)
    _, f_ref, _, _ = _run(
        MultipoleElectrostatics(method="ewald", accuracy=1e-9), pos, cell, q, mu, None
    )
    solver = MultipoleElectrostatics(method="pme", accuracy=1e-4, spline_order=order)
    _, f, _, _ = _run(solver, pos, cell, q, mu, None)
    assert float((f - f_ref).norm() / f_ref.norm()) <= 1e-4


def test_ewald_accuracy_is_honoured():
    cell = triclinic_cell(8.0)
    pos, q, mu, th = random_sites(200, cell, seed=4)
    _, f_ref, _, _ = _run(
        MultipoleElectrostatics(method="ewald", accuracy=1e-10), pos, cell, q, mu, th
    )
    for acc in [1e-4, 1e-6]:
        _, f, _, _ = _run(
            MultipoleElectrostatics(method="ewald", accuracy=acc), pos, cell, q, mu, th
        )
        assert float((f - f_ref).norm() / f_ref.norm()) <= acc
