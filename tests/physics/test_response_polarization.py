"""Induced response, polarization and Born effective charges.

A toy "charge-flux" model in the model's own bond form (t_e = w(r)(a_i − a_j), dipoles
from neighbour vectors) gives Born charges non-trivial flux terms; they are checked
against finite differences of P, the sum rule, and image independence in periodic cells.
"""

import numpy as np
import pytest
import torch

from polmlip.electrostatics import (
    MultipoleElectrostatics,
    bond_charges,
    bond_dipoles,
    bond_sum,
    born_charges,
    induced_bond_charges,
    induced_charges,
    induced_dipoles,
    open_polarization,
    phase_polarization,
)
from polmlip.nn.bond_weight import BondWeight

from helpers import random_sites, triclinic_cell


def _setup(n=10, seed=11):
    pos, q0, _, _ = random_sites(n, torch.eye(3, dtype=torch.float64) * 3.0, seed=seed)
    return pos, None, q0, None


def test_induced_charges_conserve_charge_and_derive_from_energy():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(20, generator=g, dtype=torch.float64).requires_grad_(True)
    kappa = torch.rand(20, generator=g, dtype=torch.float64)
    q_ind, e = induced_charges(phi, kappa)
    assert abs(float(q_ind.detach().sum())) < 1e-14
    grad = torch.autograd.grad(e.sum(), phi)[0]
    assert torch.allclose(grad, q_ind, atol=1e-14)
    assert float(e.sum()) <= 0.0


@pytest.mark.parametrize("tensor", [False, True])
def test_induced_dipoles_derive_from_energy(tensor):
    g = torch.Generator().manual_seed(1)
    field = torch.randn(8, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    ext = torch.tensor([0.1, -0.2, 0.05], dtype=torch.float64, requires_grad=True)
    if tensor:
        a = torch.randn(8, 3, 3, generator=g, dtype=torch.float64)
        alpha = a @ a.transpose(1, 2)
    else:
        alpha = torch.rand(8, generator=g, dtype=torch.float64)
    mu_ind, e = induced_dipoles(field, ext, alpha)
    d_field, d_ext = torch.autograd.grad(e.sum(), [field, ext])
    assert torch.allclose(d_field, -mu_ind, atol=1e-14)
    assert torch.allclose(d_ext, -mu_ind.sum(0), atol=1e-14)
    assert float(e.sum()) <= 0.0


def test_response_to_real_potential_conserves_total_charge_exactly():
    pos, q, mu, th = random_sites(50, torch.eye(3, dtype=torch.float64) * 8, seed=2)
    _, phi, E, _ = MultipoleElectrostatics()(
        pos, torch.eye(3, dtype=torch.float64) * 8, True, q, mu, th
    )
    kappa = torch.rand(50, dtype=torch.float64)
    q_ind, _ = induced_charges(phi, kappa)
    assert abs(float((q + q_ind).sum() - q.sum())) < 1e-13


def _bond_graph(pos, cell, pbc, cutoff=3.0):
    """Directed edges within ``cutoff`` (both directions) and a function giving their graph
    vectors r_j − r_i + S·cell."""
    from polmlip.data.graph import neighbor_list

    i, j, s = neighbor_list(pos.detach().numpy(), cell.numpy(), pbc, cutoff)
    edge_index = torch.tensor(np.stack([i, j]), dtype=torch.long)
    shift = torch.tensor(s, dtype=torch.float64)

    def vectors(x):
        return x[edge_index[1]] - x[edge_index[0]] + shift @ cell

    return edge_index, vectors


def _bond_model(x, a, edge_index, vectors, b=0.05):
    """Toy charge-flux model in the model's own form: bond charges t_e = w(r)(a_i − a_j)
    and dipoles from neighbour vectors; returns q (N,) and P (3,)."""
    v = vectors(x)
    w = BondWeight(3.0, 4, 4.0).double()(torch.linalg.norm(v, dim=-1))
    t = bond_charges(a, w, edge_index)
    n = x.shape[0]
    q = bond_sum(t, edge_index, n)
    mu = bond_sum(b * w[:, None] * v, edge_index, n)
    return q, bond_dipoles(t, v, edge_index, n).sum(0) + mu.sum(0)


def _setup_bonds(pbc):
    cell = triclinic_cell(7.0)
    pos, _, _, _ = random_sites(14, cell if pbc else torch.eye(3, dtype=torch.float64) * 4.0, 3)
    a = torch.linspace(-0.6, 0.7, pos.shape[0], dtype=torch.float64)
    edge_index, vectors = _bond_graph(pos, cell, pbc)
    return pos, cell, a, edge_index, vectors


@pytest.mark.parametrize("pbc", [False, True])
def test_bond_born_charges_match_finite_differences_and_sum_rule(pbc):
    pos, cell, a, edge_index, vectors = _setup_bonds(pbc)
    x = pos.clone().requires_grad_(True)
    q, p = _bond_model(x, a, edge_index, vectors)
    z = born_charges(p, x)
    assert abs(float(q.sum())) < 1e-13  # local conservation is exact
    # Σ_i Z*_i = Q I (Q = 0): a rigid translation does not change P, in any cell
    assert float(z.sum(0).abs().max()) < 1e-12
    h = 1e-5
    for i in [0, 5, 11]:
        for g in range(3):
            plus, minus = pos.clone(), pos.clone()
            plus[i, g] += h
            minus[i, g] -= h
            fd = (
                _bond_model(plus, a, edge_index, vectors)[1]
                - _bond_model(minus, a, edge_index, vectors)[1]
            ) / (2 * h)
            assert torch.allclose(z[i, :, g], fd, rtol=1e-7, atol=1e-9)
    # the flux makes Z* differ from q I
    assert float((z - q[:, None, None].detach() * torch.eye(3)).abs().max()) > 1e-2


def test_bond_polarization_equals_sum_q_r_in_open_boundaries():
    pos, cell, a, edge_index, vectors = _setup_bonds(False)
    q, p = _bond_model(pos, a, edge_index, vectors, b=0.0)
    assert torch.allclose(p, open_polarization(pos, q, None), atol=1e-13)


def test_periodic_bond_polarization_does_not_depend_on_the_image():
    """Moving one atom by a lattice vector (and its edges' shifts with it) leaves P unchanged."""
    pos, cell, a, edge_index, vectors = _setup_bonds(True)
    q, p = _bond_model(pos, a, edge_index, vectors)
    moved = pos.clone()
    moved[3] += cell[1] - cell[2]
    e2, v2 = _bond_graph(moved, cell, True)
    q2, p2 = _bond_model(moved, a, e2, v2)
    assert torch.allclose(p, p2, atol=1e-12)
    assert torch.allclose(q, q2, atol=1e-13)
    # while Σ q r of the same charges jumps by q_3 times the lattice vector
    jump = open_polarization(moved, q2, None) - open_polarization(pos, q, None)
    assert torch.allclose(jump, q[3] * (cell[1] - cell[2]), atol=1e-12)


def test_fixed_charges_have_born_charges_q_identity():
    pos, cell, _, _, _ = _setup_bonds(True)
    q0 = torch.linspace(-1, 1, pos.shape[0], dtype=torch.float64)
    x = pos.clone().requires_grad_(True)
    z = born_charges(open_polarization(x, q0, None), x)
    assert torch.allclose(z, q0[:, None, None] * torch.eye(3, dtype=torch.float64), atol=1e-14)


def test_induced_bond_charges_conserve_charge_and_derive_from_energy():
    pos, cell, _, edge_index, vectors = _setup_bonds(True)
    g = torch.Generator().manual_seed(4)
    n = pos.shape[0]
    phi = torch.randn(n, generator=g, dtype=torch.float64).requires_grad_(True)
    field = torch.tensor([0.1, -0.3, 0.2], dtype=torch.float64, requires_grad=True)
    kappa = torch.rand(n, generator=g, dtype=torch.float64)
    v = vectors(pos)
    w = torch.rand(v.shape[0], generator=g, dtype=torch.float64)
    w = 0.5 * (w + w[_reverse_edges(edge_index)])  # a bond weight is symmetric
    t, e = induced_bond_charges(phi, kappa, w, v, edge_index, field.expand(v.shape[0], 3))
    q_ind = bond_sum(t, edge_index, n)
    assert abs(float(q_ind.sum())) < 1e-13
    assert torch.allclose(t, -t[_reverse_edges(edge_index)], atol=1e-14)  # antisymmetric
    d_phi, d_field = torch.autograd.grad(e.sum(), [phi, field])
    assert torch.allclose(d_phi, q_ind, atol=1e-13)  # ∂ΔE/∂φ_i = q_ind,i
    p_ind = bond_dipoles(t, v, edge_index, n).sum(0)
    assert torch.allclose(-d_field, p_ind, atol=1e-13)  # P_ind = −∂ΔE/∂E
    assert float(e.sum()) <= 0.0


def _reverse_edges(edge_index):
    """Index of the reverse of every directed edge (i, j) → (j, i) (unique pairs only)."""
    lookup = {}
    for k, (i, j) in enumerate(edge_index.T.tolist()):
        lookup.setdefault((i, j), k)
    return torch.tensor([lookup[(j, i)] for i, j in edge_index.T.tolist()])


def test_phase_polarization_reduces_to_dipole_for_a_compact_cluster():
    """A small neutral cluster near the origin of a big cell: phase P ≈ Σ q r + Σ μ."""
    pos, _, q0, _ = _setup()
    q0 = q0 - q0.mean()
    mu = 0.1 * torch.ones(pos.shape[0], 3, dtype=torch.float64)
    p_open = open_polarization(pos - 1.5, q0, mu)
    errors = []
    for L in (200.0, 400.0):
        cell = torch.eye(3, dtype=torch.float64) * L
        p_per = phase_polarization(pos - 1.5, cell, q0, mu)
        errors.append(float((p_per - p_open).norm() / p_open.norm()))
    # sin(2πs)/2π = s − (2π)² s³/6 + ...: the deviation is small and falls as 1/L²
    assert errors[0] < 1e-3
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)
