"""Point-charge Ewald against textbook Madelung constants (and a jellium constant).

References (nobody here computed them): Madelung constants referred to the
nearest-neighbour distance, NaCl 1.747564594633, CsCl 1.762674773070, zinc blende
1.638055053388 (e.g. Glasser & Zucker, Theor. Chem. 5, 67 (1980)); the Wigner
constant of a simple-cubic lattice of point charges in a neutralizing
background, ξ = −2.837297479 (E = ξ k_e q² / (2L) per charge).
"""

import math

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.units import COULOMB

FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def _energy(pos, q, cell, method, point=True, sigma=1.0, split=False):
    """Point mode: Ewald with a real-space cutoff of 0.45 L. Smeared mode: all in k-space,
    or (``split``) Ewald-split with real-space pairs to 0.45 L."""
    cutoff = 0.45 * float(torch.linalg.det(cell)) ** (1 / 3)
    solver = MultipoleElectrostatics(
        method=method,
        point=point,
        accuracy=1e-9,
        sigma=sigma,
        real_cutoff=cutoff if (point or split) else None,
    )
    return solver(pos, cell, True, q)[0].sum().item()


def _rock_salt(a):
    base = torch.tensor(FCC, dtype=torch.float64)
    pos = torch.cat([base, base + torch.tensor([0.5, 0, 0], dtype=torch.float64)]) * a
    q = torch.tensor([1.0] * 4 + [-1.0] * 4, dtype=torch.float64)
    return pos, q, torch.eye(3, dtype=torch.float64) * a, 4, a / 2


def _cesium_chloride(a):
    pos = torch.tensor([[0, 0, 0], [0.5, 0.5, 0.5]], dtype=torch.float64) * a
    q = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return pos, q, torch.eye(3, dtype=torch.float64) * a, 1, a * math.sqrt(3) / 2


def _zinc_blende(a):
    base = torch.tensor(FCC, dtype=torch.float64)
    pos = torch.cat([base, base + 0.25]) * a
    q = torch.tensor([1.0] * 4 + [-1.0] * 4, dtype=torch.float64)
    return pos, q, torch.eye(3, dtype=torch.float64) * a, 4, a * math.sqrt(3) / 4


def _rock_salt_primitive(a):
    """Two-atom triclinic (FCC primitive) cell, rotated arbitrarily: exercises triclinic code."""
    cell = torch.tensor([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], dtype=torch.float64) * a
    pos = torch.tensor([[0, 0, 0], [0.5, 0.5, 0.5]], dtype=torch.float64) @ cell
    rot = torch.linalg.matrix_exp(
        torch.tensor([[0, -0.3, 0.2], [0.3, 0, -0.5], [-0.2, 0.5, 0]], dtype=torch.float64)
    )
    q = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return pos @ rot.T, q, cell @ rot.T, 1, a / 2


@pytest.mark.parametrize("method", ["ewald", "pme"])
@pytest.mark.parametrize(
    "builder,madelung",
    [
        (_rock_salt, 1.747564594633),
        (_cesium_chloride, 1.762674773070),
        (_zinc_blende, 1.638055053388),
        (_rock_salt_primitive, 1.747564594633),
    ],
)
def test_madelung_constants(builder, madelung, method):
    pos, q, cell, pairs, r0 = builder(5.64)
    energy = _energy(pos, q, cell, method)
    measured = -energy / pairs * r0 / COULOMB
    assert measured == pytest.approx(madelung, rel=1e-6)


@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_point_charge_in_neutralizing_background(method):
    """Non-neutral cell, point mode: a lone charge in jellium gives the Wigner constant."""
    L = 7.0
    cell = torch.eye(3, dtype=torch.float64) * L
    pos = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    q = torch.tensor([1.0], dtype=torch.float64)
    energy = _energy(pos, q, cell, method)
    assert energy == pytest.approx(-2.837297479 * COULOMB / (2 * L), rel=1e-6)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_gaussian_charge_in_neutralizing_background(method, split):
    """Smeared mode: Gaussian site in jellium = point result + π k_e q² σ²/V (documented);
    with the Ewald split the real-space remainder's background term carries the σ part."""
    L, sigma = 16.0, 1.0
    cell = torch.eye(3, dtype=torch.float64) * L
    pos = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    q = torch.tensor([1.0], dtype=torch.float64)
    energy = _energy(pos, q, cell, method, point=False, sigma=sigma, split=split)
    expected = -2.837297479 * COULOMB / (2 * L) + math.pi * COULOMB * sigma**2 / L**3
    assert energy == pytest.approx(expected, rel=1e-7)
