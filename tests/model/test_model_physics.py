"""Model-level physics: equivariance, finite differences, batching, cutoff smoothness."""

import numpy as np
import pytest
import torch

from polmlip import keys
from polmlip.data import atoms_to_graph, collate

from model_helpers import water_cluster


def _graph(atoms, field=(0.0, 0.0, 0.0)):
    return atoms_to_graph(atoms, ["H", "O"], 3.5, external_field=field)


def _rotation(seed=3):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("periodic", [False, True])
def test_equivariance(full_model, reflect, periodic):
    atoms = water_cluster(3, box=7.0 if periodic else None)
    field = (0.05, -0.02, 0.03)
    R = _rotation() * (-1.0 if reflect else 1.0)
    out = full_model(_graph(atoms, field), compute_bec=True)
    rot = atoms.copy()
    rot.set_positions(atoms.get_positions() @ R.T)
    if periodic:
        rot.set_cell(atoms.get_cell().array @ R.T)
    out_r = full_model(_graph(rot, np.array(field) @ R.T), compute_bec=True)
    Rt = torch.tensor(R)
    assert torch.allclose(out_r[keys.ENERGY], out[keys.ENERGY], rtol=1e-6, atol=1e-7)
    assert torch.allclose(out_r[keys.FORCES], out[keys.FORCES] @ Rt.T, atol=2e-5)
    assert torch.allclose(out_r[keys.CHARGES], out[keys.CHARGES], atol=1e-6)
    det = float(np.linalg.det(R))
    # μ (1o, polar vector) rotates with R; Θ (2e) as R Θ Rᵀ
    assert torch.allclose(out_r[keys.DIPOLES], out[keys.DIPOLES] @ Rt.T, atol=1e-6)
    assert torch.allclose(out_r[keys.QUADRUPOLES], Rt @ out[keys.QUADRUPOLES] @ Rt.T, atol=1e-6)
    assert torch.allclose(out_r[keys.BEC], Rt @ out[keys.BEC] @ Rt.T, atol=2e-5)
    assert det == pytest.approx(-1.0 if reflect else 1.0)


@pytest.mark.parametrize("periodic", [False, True])
def test_forces_and_stress_match_finite_differences(full_model, periodic):
    atoms = water_cluster(3, box=7.0 if periodic else None)
    g = _graph(atoms, (0.1, 0.0, -0.05) if not periodic else (0.0, 0.0, 0.0))
    out = full_model(g, compute_stress=periodic)
    h = 1e-4
    for i, a in [(0, 0), (4, 1), (8, 2)]:
        e = []
        for s in (1, -1):
            gg = dict(g)
            gg[keys.POSITIONS] = g[keys.POSITIONS].clone()
            gg[keys.POSITIONS][i, a] += s * h
            e.append(float(full_model(gg, compute_forces=False)[keys.ENERGY].detach()))
        assert float(out[keys.FORCES][i, a]) == pytest.approx(
            -(e[0] - e[1]) / (2 * h), rel=1e-5, abs=1e-7
        )
    if periodic:
        for a, b in [(0, 0), (0, 2), (2, 1)]:
            e = []
            for s in (1, -1):
                d = torch.eye(3, dtype=torch.float64)
                d[a, b] += s * h
                gg = dict(g)
                gg[keys.POSITIONS] = g[keys.POSITIONS] @ d
                gg[keys.CELL] = g[keys.CELL] @ d
                e.append(float(full_model(gg, compute_forces=False)[keys.ENERGY].detach()))
            assert float(out[keys.VIRIAL][0, a, b]) == pytest.approx(
                -(e[0] - e[1]) / (2 * h), rel=1e-5, abs=1e-7
            )


def test_batch_equals_frame_by_frame(full_model):
    frames = [water_cluster(2, seed=1), water_cluster(3, seed=2, box=7.0), water_cluster(1)]
    graphs = [_graph(a, (0.02 * k, 0.0, 0.0)) for k, a in enumerate(frames)]
    batch = full_model(collate(graphs))
    start = 0
    for k, g in enumerate(graphs):
        single = full_model(g)
        n = g[keys.SPECIES].shape[0]
        assert torch.allclose(batch[keys.ENERGY][k], single[keys.ENERGY][0], atol=1e-10)
        assert torch.allclose(
            batch[keys.FORCES][start : start + n], single[keys.FORCES], atol=1e-10
        )
        start += n


def test_charge_conservation_to_total_charge(full_model):
    g = _graph(water_cluster(3))
    g[keys.TOTAL_CHARGE] = torch.tensor([1.0], dtype=torch.float64)
    out = full_model(g)
    assert float(out[keys.CHARGES].sum()) == pytest.approx(1.0, abs=1e-12)
    assert abs(float(out[keys.INDUCED_CHARGES].sum())) < 1e-12


def test_energy_is_smooth_at_the_cutoff(full_model):
    """Moving one molecule across the cutoff changes energy and forces continuously."""
    base = water_cluster(1)
    energies, forces = [], []
    for d in np.linspace(3.3, 3.7, 41):
        other = base.copy()
        other.translate([d + 1.0, 0.0, 0.0])
        atoms = base + other
        out = full_model(_graph(atoms))
        energies.append(float(out[keys.ENERGY].detach()))
        forces.append(out[keys.FORCES].detach().numpy())
    # a jump shows as a spike of the second difference; a smooth curve keeps it a small
    # fraction of the first difference at 0.01 Å spacing
    de = np.abs(np.diff(energies))
    d2e = np.abs(np.diff(energies, 2))
    f = np.array(forces)
    df = np.abs(np.diff(f, axis=0)).max(axis=(1, 2))
    d2f = np.abs(np.diff(f, 2, axis=0)).max(axis=(1, 2))
    assert d2e.max() < 0.25 * de.max() + 1e-8
    assert d2f.max() < 0.25 * df.max() + 1e-8


@pytest.mark.parametrize("periodic", [False, True])
def test_bec_is_the_derivative_of_the_model_polarization(full_model, periodic):
    """Z* by finite differences of the model's own outputs, including the charge and dipole
    flux through the network (∂q/∂r, ∂μ/∂r): Z*_i = ∂P/∂r_i of the model's P, open and
    periodic (bond polarization), and the sum rule Σ_i Z*_i = 0 of a neutral frame."""
    atoms = water_cluster(3, box=7.0 if periodic else None)
    g = _graph(atoms, (0.05, -0.03, 0.02))
    out = full_model(g, compute_bec=True)
    z = out[keys.BEC].detach()
    h = 1e-5
    for i, a in [(0, 0), (2, 1), (4, 2), (7, 0)]:
        parts = []
        for s in (1, -1):
            gg = dict(g)
            gg[keys.POSITIONS] = g[keys.POSITIONS].clone()
            gg[keys.POSITIONS][i, a] += s * h
            o = full_model(gg, compute_forces=False)
            parts.append(o[keys.POLARIZATION][0].detach())
        fd = (parts[0] - parts[1]) / (2 * h)
        assert torch.allclose(z[i, :, a], fd, rtol=1e-6, atol=1e-8), (i, a, z[i, :, a], fd)
    # PME: translation invariance to the mesh accuracy
    assert float(z.sum(0).abs().max()) < 1e-4


def test_periodic_field_force_is_bec_contracted_with_the_field():
    """Periodic cell, permanent multipoles only: F(E) − F(0) = Z*ᵀE, with the charge and
    dipole flux of the network in Z* (checked against finite differences above)."""
    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(1)
    cfg = ModelConfig(
        elements=["H", "O"], channels=6, cutoff=3.5, induced_charges=False, induced_dipoles=False
    )
    model = PolMLIP(cfg).double()
    atoms = water_cluster(3, box=7.0)
    e = (0.05, -0.03, 0.02)
    out = model(_graph(atoms, e), compute_bec=True)
    f0 = model(_graph(atoms))[keys.FORCES]
    zte = torch.einsum("nbg,b->ng", out[keys.BEC], torch.tensor(e, dtype=torch.float64))
    diff = (out[keys.FORCES] - f0).detach()
    assert torch.allclose(diff, zte.detach(), rtol=1e-10, atol=1e-12)
    assert float(diff.abs().max()) > 1e-3  # the field force is not trivially zero
