"""Induced response, polarization, Born effective charges and applied-field forces.

A toy "charge-flux" model makes q and μ depend on positions so that the BECs
have non-trivial flux terms: q_i = q0_i + Σ_j t_ij exp(−r_ij²/ℓ²) with t
antisymmetric (Σ q fixed), μ_i = b Σ_j (r_j − r_i) exp(−r_ij²/ℓ²).
"""

import math

import pytest
import torch

from polmlip.electrostatics import (
    MultipoleElectrostatics,
    born_charges,
    field_forces,
    induced_charges,
    induced_dipoles,
    open_polarization,
    periodic_polarization,
)

from helpers import random_sites

ELL = 1.2


def _flux_model(pos, cell, pbc, q0, t, b=0.05):
    d = pos[None, :, :] - pos[:, None, :]  # r_j − r_i
    if pbc:
        frac = d @ torch.linalg.inv(cell)
        d = (frac - torch.round(frac.detach())) @ cell
    w = torch.exp(-(d * d).sum(-1) / ELL**2) * (1 - torch.eye(pos.shape[0], dtype=pos.dtype))
    q = q0 + (t * w).sum(1)
    mu = b * (w[:, :, None] * d).sum(1)
    return q, mu


def _setup(n=10, seed=11, pbc=False):
    box = torch.eye(3, dtype=torch.float64) * (3.0 if not pbc else 12.0)
    pos, q0, _, _ = random_sites(n, box, seed=seed)
    g = torch.Generator().manual_seed(seed)
    t = 0.2 * torch.randn(n, n, generator=g, dtype=torch.float64)
    t = t - t.T
    cell = torch.tensor([[12.0, 0, 0], [1.0, 11.0, 0], [0.5, -0.8, 12.5]], dtype=torch.float64)
    return pos, cell, q0, t


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


def test_open_born_charges_match_finite_differences_and_sum_rule():
    pos, cell, q0, t = _setup()
    p = pos.clone().requires_grad_(True)
    q, mu = _flux_model(p, cell, False, q0, t)
    z = born_charges(p, cell, False, q, mu)

    def pol(x):
        qq, mm = _flux_model(x, cell, False, q0, t)
        return open_polarization(x, qq, mm)

    h = 1e-5
    for i in [0, 4, 9]:
        for g in range(3):
            plus, minus = pos.clone(), pos.clone()
            plus[i, g] += h
            minus[i, g] -= h
            fd = (pol(plus) - pol(minus)) / (2 * h)
            assert torch.allclose(z[i, :, g], fd, rtol=1e-7, atol=1e-9)
    # neutral system: acoustic sum rule holds exactly without correction
    q0n = q0 - q0.mean()
    qn, mun = _flux_model(p, cell, False, q0n, t)
    zn = born_charges(p, cell, False, qn, mun)
    assert float(zn.sum(0).abs().max()) < 1e-12
    # flux terms make Z* differ from q I
    assert float((z - q[:, None, None].detach() * torch.eye(3)).abs().max()) > 1e-2


def test_open_field_force_is_gradient_of_enthalpy():
    pos, cell, q0, t = _setup()
    field = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    p = pos.clone().requires_grad_(True)
    q, mu = _flux_model(p, cell, False, q0, t)
    f = field_forces(p, cell, False, q, mu, field)
    z = born_charges(p, cell, False, q, mu)
    assert torch.allclose(f, torch.einsum("nbg,b->ng", z, field), atol=1e-12)

    def enthalpy(x):
        qq, mm = _flux_model(x, cell, False, q0, t)
        return -(field * open_polarization(x, qq, mm)).sum()

    h = 1e-5
    for i, g in [(1, 0), (5, 2), (8, 1)]:
        plus, minus = pos.clone(), pos.clone()
        plus[i, g] += h
        minus[i, g] -= h
        fd = -(enthalpy(plus) - enthalpy(minus)) / (2 * h)
        assert float(f[i, g]) == pytest.approx(float(fd), rel=1e-7, abs=1e-10)
    # neutral: total field force vanishes
    q0n = q0 - q0.mean()
    qn, mun = _flux_model(p, cell, False, q0n, t)
    assert float(field_forces(p, cell, False, qn, mun, field).sum(0).abs().max()) < 1e-12


def test_periodic_born_charges_definition_and_limits():
    pos, cell, q0, t = _setup(pbc=True)
    q0 = q0 - q0.mean()
    p = pos.clone().requires_grad_(True)
    q, mu = _flux_model(p, cell, True, q0, t)
    z = born_charges(p, cell, True, q, mu)
    # (1) fixed charges: Z* = q I exactly, wherever the atoms sit
    zf = born_charges(p, cell, True, q0.clone(), None)
    assert torch.allclose(zf, q0[:, None, None] * torch.eye(3, dtype=torch.float64), atol=1e-13)
    # (2) the definition Σ_α a_α Re[conj(e^{2πi s_iα}) ∂p̃_α/∂r_i] by finite differences of p̃
    inv = torch.linalg.inv(cell)

    def ptilde(x):
        qq, _ = _flux_model(x, cell, True, q0, t)
        ang = 2 * math.pi * (x @ inv)
        return torch.complex(torch.cos(ang), torch.sin(ang)).mul(qq[:, None]).sum(0) / (
            2j * math.pi
        )

    h = 1e-5
    for i in [0, 3, 7]:
        phase = torch.exp(2j * math.pi * (pos[i] @ inv))
        for g in range(3):
            plus, minus = pos.clone(), pos.clone()
            plus[i, g] += h
            minus[i, g] -= h
            dpt = (ptilde(plus) - ptilde(minus)) / (2 * h)
            expected = (torch.conj(phase) * dpt).real @ cell
            _, mm_p = _flux_model(plus, cell, True, q0, t)
            _, mm_m = _flux_model(minus, cell, True, q0, t)
            expected = expected + (mm_p.sum(0) - mm_m.sum(0)) / (2 * h)
            assert torch.allclose(z[i, :, g], expected, rtol=1e-6, atol=1e-9)
    # (3) acoustic sum rule on request
    z_asr = born_charges(p, cell, True, q, mu, acoustic_sum_rule=True)
    assert float(z_asr.sum(0).abs().max()) < 1e-12
    # (4) the field force is Z*ᵀE without forming Z*
    field = torch.tensor([0.05, 0.2, -0.1], dtype=torch.float64)
    f = field_forces(p, cell, True, q, mu, field)
    assert torch.allclose(f, torch.einsum("nbg,b->ng", z, field), atol=1e-12)
    f_asr = field_forces(p, cell, True, q, mu, field, acoustic_sum_rule=True)
    assert float(f_asr.sum(0).abs().max()) < 1e-12


def test_periodic_polarization_reduces_to_dipole_for_a_compact_cluster():
    """A small neutral cluster near the origin of a big cell: phase P ≈ Σ q r + Σ μ."""
    pos, _, q0, _ = _setup()
    q0 = q0 - q0.mean()
    mu = 0.1 * torch.ones(pos.shape[0], 3, dtype=torch.float64)
    p_open = open_polarization(pos - 1.5, q0, mu)
    errors = []
    for L in (200.0, 400.0):
        cell = torch.eye(3, dtype=torch.float64) * L
        p_per = periodic_polarization(pos - 1.5, cell, q0, mu)
        errors.append(float((p_per - p_open).norm() / p_open.norm()))
    # sin(2πs)/2π = s − (2π)² s³/6 + ...: the deviation is small and falls as 1/L²
    assert errors[0] < 1e-3
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)
