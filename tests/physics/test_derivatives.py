"""Central finite differences and symmetries of the electrostatic energy.

Forces, stress (strain derivative) and the fields φ = ∂E/∂q, E = −∂E/∂μ,
G = −2 ∂E/∂Θ are checked against finite differences of the energy; the energy
is checked for rotation, translation and permutation invariance.
"""

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.electrostatics.multipoles import traceless

from helpers import random_sites, triclinic_cell

CASES = [
    ("pme", False, True),
    ("ewald", False, True),
    ("ewald", True, True),
    ("pme", False, False),
    ("pme", True, False),
    ("pme-split", False, True),
    ("ewald-split", False, True),
]


def _solver(method, point):
    """``method`` "pme" or "ewald", with "-split": smeared sites Ewald-split at 4 Å (point
    multipoles always have their real-space cutoff of 4 Å)."""
    split = method.endswith("-split")
    return MultipoleElectrostatics(
        method=method.replace("-split", ""),
        point=point,
        accuracy=1e-6,
        real_cutoff=4.0 if (point or split) else None,
    )


def _system(n=16, seed=7):
    cell = triclinic_cell(6.0)
    pos, q, mu, th = random_sites(n, cell, seed=seed)
    return pos, cell, q, mu, th


@pytest.mark.parametrize("method,point,pbc", CASES)
def test_forces_match_finite_differences(method, point, pbc):
    pos, cell, q, mu, th = _system()
    solver = _solver(method, point)
    p = pos.clone().requires_grad_(True)
    forces = -torch.autograd.grad(solver(p, cell, pbc, q, mu, th)[0].sum(), p)[0]
    h = 1e-4
    for i, a in [(0, 0), (3, 1), (9, 2), (15, 0)]:
        plus, minus = pos.clone(), pos.clone()
        plus[i, a] += h
        minus[i, a] -= h
        fd = -(
            solver(plus, cell, pbc, q, mu, th)[0].sum()
            - solver(minus, cell, pbc, q, mu, th)[0].sum()
        ) / (2 * h)
        assert float(forces[i, a]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize(
    "method,point", [("pme", False), ("ewald", False), ("ewald", True), ("pme-split", False)]
)
def test_stress_matches_strain_finite_differences(method, point):
    """Virial W = −∂E/∂ε at ε = 0 with r → r(1+ε), cell → cell(1+ε); stress = −W/V."""
    pos, cell, q, mu, th = _system()
    solver = _solver(method, point)

    def energy(eps):
        deform = torch.eye(3, dtype=torch.float64) + eps
        return solver(pos @ deform, cell @ deform, True, q, mu, th)[0].sum()

    eps = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    dE = torch.autograd.grad(energy(eps), eps)[0]
    h = 1e-5
    for a, b in [(0, 0), (1, 2), (2, 1), (2, 2)]:
        e1 = torch.zeros(3, 3, dtype=torch.float64)
        e1[a, b] = h
        fd = (energy(e1) - energy(-e1)) / (2 * h)
        assert float(dE[a, b]) == pytest.approx(float(fd), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("method,point,pbc", CASES)
def test_fields_are_energy_derivatives(method, point, pbc):
    pos, cell, q, mu, th = _system()
    solver = _solver(method, point)
    q_, mu_, th_ = (x.clone().requires_grad_(True) for x in (q, mu, th))
    e, phi, E, G = solver(pos, cell, pbc, q_, mu_, th_)
    gq, gmu, gth = torch.autograd.grad(e.sum(), [q_, mu_, th_])
    assert torch.allclose(gq, phi, rtol=1e-10, atol=1e-10)
    assert torch.allclose(gmu, -E, rtol=1e-10, atol=1e-10)
    assert torch.allclose(traceless(gth), -0.5 * traceless(G), rtol=1e-9, atol=1e-10)


def _energy_forces(solver, pos, cell, pbc, q, mu, th):
    p = pos.clone().requires_grad_(True)
    e = solver(p, cell, pbc, q, mu, th)[0].sum()
    return float(e.detach()), -torch.autograd.grad(e, p)[0]


@pytest.mark.parametrize("method,point,pbc", CASES)
def test_rotation_translation_permutation_invariance(method, point, pbc):
    pos, cell, q, mu, th = _system()
    solver = _solver(method, point)
    e0, f0 = _energy_forces(solver, pos, cell, pbc, q, mu, th)
    gen = torch.tensor([[0, -0.4, 0.3], [0.4, 0, -0.2], [-0.3, 0.2, 0]], dtype=torch.float64)
    R = torch.linalg.matrix_exp(gen)
    # rotating everything (cell, positions, dipoles, quadrupoles) is exact for every method
    e1, f1 = _energy_forces(solver, pos @ R.T, cell @ R.T, pbc, q, mu @ R.T, R @ th @ R.T)
    assert e1 == pytest.approx(e0, rel=1e-11)
    assert float((f1 - f0 @ R.T).norm() / f0.norm()) < 1e-10
    # translating moves sites relative to the PME mesh: invariant to the requested accuracy
    shift = torch.tensor([0.37, -1.21, 2.5], dtype=torch.float64)
    e2, f2 = _energy_forces(solver, pos + shift, cell, pbc, q, mu, th)
    tol = 1e-5 if (method.startswith("pme") and pbc) else 1e-10
    assert e2 == pytest.approx(e0, rel=tol)
    assert float((f2 - f0).norm() / f0.norm()) < tol
    perm = torch.randperm(pos.shape[0], generator=torch.Generator().manual_seed(1))
    e3 = solver(pos[perm], cell, pbc, q[perm], mu[perm], th[perm])[0]
    e_ref = solver(pos, cell, pbc, q, mu, th)[0]
    assert torch.allclose(e3, e_ref[perm], rtol=1e-9, atol=1e-11)


def test_float32_agrees_with_float64():
    pos, cell, q, mu, th = _system()
    solver = _solver("pme", False)
    e64 = float(solver(pos, cell, True, q, mu, th)[0].sum())
    f32 = [x.float() for x in (pos, cell, q, mu, th)]
    e32 = float(solver(f32[0], f32[1], True, *f32[2:])[0].sum())
    assert e32 == pytest.approx(e64, rel=1e-5)
