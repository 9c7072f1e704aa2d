"""Open-boundary pair sums against periodic sums in a large vacuum-padded cubic cell.

With tinfoil boundary conditions a padded periodic cell differs from vacuum by
the surface term 2π k_e |M|²/(3V) (M the total dipole, including site dipoles)
and its force −(4π k_e/3V) q_i M, up to O(L⁻⁵) image terms.
"""

import math

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.units import COULOMB

from helpers import random_sites


def _energy_forces(solver, pos, cell, pbc, q, mu, th):
    p = pos.clone().requires_grad_(True)
    e = solver(p, cell, pbc, q, mu, th)[0].sum()
    return float(e.detach()), -torch.autograd.grad(e, p)[0]


@pytest.mark.parametrize("method", ["ewald", "pme"])
@pytest.mark.parametrize("point,split", [(False, False), (False, True), (True, False)])
def test_open_matches_padded_periodic(method, point, split):
    L = 40.0
    pos, q, mu, th = random_sites(12, torch.eye(3, dtype=torch.float64) * 4.0, seed=3)
    pos = pos + L / 2 - 2.0
    cell = torch.eye(3, dtype=torch.float64) * L
    solver = MultipoleElectrostatics(
        method=method,
        accuracy=1e-7,
        spline_order=8,
        point=point,
        real_cutoff=12.0 if (point or split) else None,
    )
    e_pbc, f_pbc = _energy_forces(solver, pos, cell, True, q, mu, th)
    e_open, f_open = _energy_forces(solver, pos, cell, False, q, mu, th)
    M = (q[:, None] * pos).sum(0) + mu.sum(0)
    V = L**3
    e_pbc += 2 * math.pi * COULOMB * float(M @ M) / (3 * V)
    f_pbc = f_pbc - 4 * math.pi * COULOMB / (3 * V) * q[:, None] * M
    assert e_pbc == pytest.approx(e_open, rel=2e-5)
    assert float((f_pbc - f_open).norm() / f_open.norm()) < 2e-5
