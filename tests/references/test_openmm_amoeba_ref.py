"""Sanity checks of the OpenMM AMOEBA reference harness against analytic facts.

Everything here is derived from the point-multipole potential

    φ(R) = k_e [ q/r + mu·R/r³ + (3/2) RᵀΘR/r⁵ ]

(charge density ``q δ − mu·∇δ + ½ Θ:∇∇δ``, Θ the primitive traceless quadrupole), from
Coulomb's law, from the Madelung constant of rock salt, and from a plain Ewald sum written
out below (real-space image sum plus explicit k-vector sum, checked to be independent of
the splitting parameter). None of it uses polmlip.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

pytest.importorskip("openmm", reason="openmm is not installed: no OpenMM AMOEBA reference")

from .openmm_amoeba_ref import (  # noqa: E402
    COULOMB,
    OPENMM_COULOMB_EV_ANGSTROM,
    amoeba_energy_forces,
)

pytestmark = pytest.mark.engine

K = COULOMB
I3 = np.eye(3)
#: Madelung constant of the rock-salt structure (referred to the nearest-neighbour distance).
MADELUNG_NACL = 1.747564594633182


def _traceless(a: np.ndarray) -> np.ndarray:
    s = 0.5 * (a + np.swapaxes(a, -1, -2))
    return s - np.trace(s, axis1=-2, axis2=-1)[..., None, None] * I3 / 3.0


def _random_sites(rng, n, box=5.0, min_dist=1.5, scale=0.3):
    while True:
        pos = rng.uniform(0.0, box, (n, 3))
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        if np.min(d[np.triu_indices(n, 1)]) > min_dist:
            break
    q = rng.normal(size=n)
    mu = scale * rng.normal(size=(n, 3))
    theta = _traceless(scale * rng.normal(size=(n, 3, 3)))
    return pos, q, mu, theta


# ---------------------------------------------------------------------------------------
# Analytic point-multipole interactions (open boundaries)
# ---------------------------------------------------------------------------------------
_erfc = np.vectorize(math.erfc, otypes=[float])


def _coulomb_tensors(R: np.ndarray, alpha: float = 0.0):
    """Derivatives T_n = ∂ⁿ g(|R|) / ∂R...∂R, n = 0..4, of g(r) = erfc(alpha r)/r.

    ``alpha = 0`` gives the bare 1/r. Batched over R of shape (P, 3).
    """
    r2 = np.sum(R * R, axis=1)
    r = np.sqrt(r2)
    if alpha == 0.0:
        b = [1.0 / r]
        for n in range(1, 5):
            b.append((2 * n - 1) * b[-1] / r2)
    else:
        b = [_erfc(alpha * r) / r]
        ex = np.exp(-alpha * alpha * r2) / (alpha * math.sqrt(math.pi))
        for n in range(1, 5):
            b.append(((2 * n - 1) * b[-1] + (2 * alpha * alpha) ** n * ex) / r2)
    rr = np.einsum("pa,pb->pab", R, R)
    t1 = -R * b[1][:, None]
    t2 = rr * b[2][:, None, None] - I3 * b[1][:, None, None]
    dr = np.einsum("ab,pc->pabc", I3, R)
    t3 = (
        -np.einsum("pab,pc->pabc", rr, R) * b[3][:, None, None, None]
        + (dr + dr.transpose(0, 1, 3, 2) + dr.transpose(0, 3, 2, 1)) * b[2][:, None, None, None]
    )
    drr = np.einsum("ab,pcd->pabcd", I3, rr)
    perms = [(1, 2, 3, 4), (1, 3, 2, 4), (1, 3, 4, 2), (3, 4, 1, 2), (3, 1, 4, 2), (3, 1, 2, 4)]
    s = sum(drr.transpose(0, *p) for p in perms)
    dd = np.einsum("ab,cd->abcd", I3, I3)
    dd = dd + dd.transpose(0, 2, 1, 3) + dd.transpose(0, 3, 2, 1)
    t4 = (
        np.einsum("pab,pcd->pabcd", rr, rr) * b[4][:, None, None, None, None]
        - s * b[3][:, None, None, None, None]
        + dd * b[2][:, None, None, None, None]
    )
    return b[0], t1, t2, t3, t4


def _potential_derivatives(q, mu, theta, tensors):
    """φ/k_e, ∇φ/k_e and ∇∇φ/k_e at R of multipoles (q, mu, Θ) at the origin."""
    t0, t1, t2, t3, t4 = tensors
    phi = q * t0 - np.einsum("pa,pa->p", mu, t1) + 0.5 * np.einsum("pab,pab->p", theta, t2)
    grad = (
        q[:, None] * t1
        - np.einsum("pab,pb->pa", t2, mu)
        + 0.5 * np.einsum("pbc,pabc->pa", theta, t3)
    )
    hess = (
        q[:, None, None] * t2
        - np.einsum("pc,pabc->pab", mu, t3)
        + 0.5 * np.einsum("pcd,pabcd->pab", theta, t4)
    )
    return phi, grad, hess


def _pair_energy_terms(pos, q, mu, theta, i, j, shifts, alpha):
    """Energy/k_e of sites j in the potential of sites i (ordered pairs, summed)."""
    R = pos[j] - pos[i] + shifts
    phi, grad, hess = _potential_derivatives(q[i], mu[i], theta[i], _coulomb_tensors(R, alpha))
    e = (
        q[j] * phi
        + np.einsum("pa,pa->p", mu[j], grad)
        + 0.5 * np.einsum("pab,pab->p", theta[j], hess)
    )
    return e, grad


def _open_energy(pos, q, mu, theta):
    n = len(q)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    e, _ = _pair_energy_terms(pos, q, mu, theta, i, j, 0.0, 0.0)
    return K * 0.5 * np.sum(e)


def _fd_forces(energy, pos, h=1e-5):
    f = np.zeros_like(pos)
    for a in range(pos.shape[0]):
        for c in range(3):
            p = pos.copy()
            p[a, c] += h
            ep = energy(p)
            p[a, c] -= 2 * h
            em = energy(p)
            f[a, c] = -(ep - em) / (2 * h)
    return f


def _two(pos_b, **kw):
    """Run the harness on site 0 at the origin and site 1 at pos_b."""
    return amoeba_energy_forces(np.array([[0.0, 0.0, 0.0], pos_b]), **kw)


R_AB = np.array([1.3, -0.7, 2.1])


def test_charge_charge_is_coulomb():
    q = np.array([0.7, -1.3])
    res = _two(R_AB, charges=q)
    r = np.linalg.norm(R_AB)
    assert res["energy"] == pytest.approx(K * q[0] * q[1] / r, rel=1e-13)
    f_b = K * q[0] * q[1] * R_AB / r**3  # Coulomb's law on site 1
    np.testing.assert_allclose(res["forces"][1], f_b, rtol=1e-12)
    np.testing.assert_allclose(res["forces"][0], -f_b, rtol=1e-12)
    assert res["induced_dipoles"] is None


def test_coulomb_constant_is_rescaled_to_polmlip():
    raw = _two(np.array([1.0, 0.0, 0.0]), charges=[1.0, 1.0], coulomb_constant=None)
    ours = _two(np.array([1.0, 0.0, 0.0]), charges=[1.0, 1.0])
    assert raw["energy"] == pytest.approx(OPENMM_COULOMB_EV_ANGSTROM, rel=1e-13)
    assert ours["energy"] == pytest.approx(COULOMB, rel=1e-13)
    # OpenMM (CODATA 2018) vs polmlip: 3.3e-8 relative
    assert raw["energy"] / ours["energy"] - 1.0 == pytest.approx(3.3225e-8, rel=1e-3)


def test_charge_dipole():
    mu = np.array([0.3, 0.5, -0.4])
    r = np.linalg.norm(R_AB)
    # dipole at the origin, charge at R: q φ_dip(R)
    res = _two(R_AB, charges=[0.0, 0.8], dipoles=[mu, np.zeros(3)])
    assert res["energy"] == pytest.approx(K * 0.8 * mu @ R_AB / r**3, rel=1e-12)
    # charge at the origin, dipole at R: -mu·E with E = k q R / r³
    res = _two(R_AB, charges=[0.8, 0.0], dipoles=[np.zeros(3), mu])
    assert res["energy"] == pytest.approx(-K * 0.8 * mu @ R_AB / r**3, rel=1e-12)


def test_dipole_dipole():
    m1 = np.array([0.3, 0.5, -0.4])
    m2 = np.array([-0.2, 0.1, 0.6])
    r = np.linalg.norm(R_AB)
    ref = K * (m1 @ m2 / r**3 - 3.0 * (m1 @ R_AB) * (m2 @ R_AB) / r**5)
    res = _two(R_AB, charges=[0.0, 0.0], dipoles=[m1, m2])
    assert res["energy"] == pytest.approx(ref, rel=1e-12)


THETA_A = _traceless(np.array([[0.4, 0.1, -0.3], [0.0, -0.2, 0.25], [0.0, 0.0, 0.1]]))
THETA_B = _traceless(np.array([[-0.1, 0.3, 0.2], [0.0, 0.35, -0.15], [0.0, 0.0, -0.3]]))


def _phi_quadrupole(theta, x):
    r = np.linalg.norm(x)
    return K * 1.5 * x @ theta @ x / r**5


def test_charge_quadrupole():
    res = _two(R_AB, charges=[0.0, 0.9], quadrupoles=[THETA_A, np.zeros((3, 3))])
    assert res["energy"] == pytest.approx(0.9 * _phi_quadrupole(THETA_A, R_AB), rel=1e-12)


def test_quadrupole_convention_matches_point_charge_cluster():
    """Θ = traceless part of Σ q x xᵀ: a linear +q, -2q, +q cluster seen from afar."""
    d, qc = 0.01, 5.0
    cluster = np.array([[0.0, 0.0, d], [0.0, 0.0, 0.0], [0.0, 0.0, -d]])
    qs = np.array([qc, -2 * qc, qc])
    theta = _traceless(np.einsum("i,ia,ib->ab", qs, cluster, cluster))
    probe = np.array([0.8, -1.1, 2.4])
    exact = K * np.sum(qs / np.linalg.norm(probe - cluster, axis=1))
    res = _two(probe, charges=[0.0, 1.0], quadrupoles=[theta, np.zeros((3, 3))])
    # next multipole (hexadecapole) is O((d/r)^2) relative
    assert res["energy"] == pytest.approx(exact, rel=1e-4)


def _quad_quad_closed_form(ta, tb, R):
    r = np.linalg.norm(R)
    return (K / 4.0) * (
        105.0 * (R @ ta @ R) * (R @ tb @ R) / r**9
        - 60.0 * (ta @ R) @ (tb @ R) / r**7
        + 6.0 * np.sum(ta * tb) / r**5
    )


def test_quadrupole_quadrupole():
    closed = _quad_quad_closed_form(THETA_A, THETA_B, R_AB)
    # independent check of the closed form: U = ½ Θ_B : ∇∇φ_A by central differences
    h = 1e-3
    hess = np.zeros((3, 3))
    for a, b in itertools.product(range(3), repeat=2):
        ea, eb = h * I3[a], h * I3[b]
        hess[a, b] = (
            _phi_quadrupole(THETA_A, R_AB + ea + eb)
            - _phi_quadrupole(THETA_A, R_AB + ea - eb)
            - _phi_quadrupole(THETA_A, R_AB - ea + eb)
            + _phi_quadrupole(THETA_A, R_AB - ea - eb)
        ) / (4 * h * h)
    assert 0.5 * np.sum(THETA_B * hess) == pytest.approx(closed, rel=1e-5)
    res = _two(R_AB, charges=[0.0, 0.0], quadrupoles=[THETA_A, THETA_B])
    assert res["energy"] == pytest.approx(closed, rel=1e-12)


def test_general_multipoles_and_forces():
    rng = np.random.default_rng(7)
    pos, q, mu, theta = _random_sites(rng, 5)
    res = amoeba_energy_forces(pos, q, mu, theta)
    assert res["energy"] == pytest.approx(_open_energy(pos, q, mu, theta), rel=1e-12)
    # forces are -dE/dr at fixed lab-frame multipoles (OpenMM drops NoAxisType torques)
    f_ref = _fd_forces(lambda p: _open_energy(p, q, mu, theta), pos)
    np.testing.assert_allclose(res["forces"], f_ref, atol=1e-7 * np.abs(f_ref).max())
    # Newton's third law: translation invariance at fixed lab-frame multipoles
    np.testing.assert_allclose(res["forces"].sum(axis=0), 0.0, atol=1e-12)


def test_direct_polarization_next_to_a_charge():
    """mu_ind = alpha k q R/r³, E_pol = -½ alpha |E|²; at 1 Å, where Thole damping would bite."""
    q, alpha = 1.2, 0.08  # alpha in e·Å²/V (polarizability volume 1.15 Å³)
    R = np.array([0.6, -0.48, 0.64])  # |R| = 1 Å
    r = np.linalg.norm(R)
    field = K * q * R / r**3
    res = _two(R, charges=[q, 0.0], polarizabilities=[0.0, alpha], polarization="direct")
    np.testing.assert_allclose(res["induced_dipoles"][1], alpha * field, rtol=1e-12)
    np.testing.assert_allclose(res["induced_dipoles"][0], 0.0, atol=1e-15)
    assert res["energy"] == pytest.approx(-0.5 * alpha * field @ field, rel=1e-12)
    # E(R) = -½ alpha k² q² / r⁴  ->  F_1 = -2 alpha k² q² R / r⁶
    f1 = -2.0 * alpha * K**2 * q**2 * R / r**6
    np.testing.assert_allclose(res["forces"][1], f1, rtol=1e-11)
    np.testing.assert_allclose(res["forces"][0], -f1, rtol=1e-11)


def test_direct_polarization_is_not_self_consistent():
    """Two polarizable charges: each dipole sees only the other's *charge*."""
    q = np.array([0.7, -0.4])
    alpha = np.array([0.05, 0.09])
    R = np.array([0.9, 1.1, -0.6])
    r = np.linalg.norm(R)
    e1 = -K * q[1] * R / r**3  # field at site 0 from site 1
    e2 = K * q[0] * R / r**3
    res = _two(R, charges=q, polarizabilities=alpha, polarization="direct")
    np.testing.assert_allclose(res["induced_dipoles"], [alpha[0] * e1, alpha[1] * e2], rtol=1e-12)
    e_ref = K * q[0] * q[1] / r - 0.5 * (alpha[0] * e1 @ e1 + alpha[1] * e2 @ e2)
    assert res["energy"] == pytest.approx(e_ref, rel=1e-12)


def test_polarization_with_multipoles_forces_and_third_law():
    rng = np.random.default_rng(11)
    pos, q, mu, theta = _random_sites(rng, 5)
    alpha = rng.uniform(0.02, 0.1, 5)

    def energy(p):
        n = len(q)
        i, j = np.nonzero(~np.eye(n, dtype=bool))
        _, grad = _pair_energy_terms(p, q, mu, theta, i, j, 0.0, 0.0)
        field = np.zeros((n, 3))
        np.add.at(field, j, -K * grad)
        return _open_energy(p, q, mu, theta) - 0.5 * np.sum(alpha[:, None] * field**2), field

    e_ref, field = energy(pos)
    res = amoeba_energy_forces(pos, q, mu, theta, alpha, polarization="direct")
    np.testing.assert_allclose(res["induced_dipoles"], alpha[:, None] * field, rtol=1e-10)
    assert res["energy"] == pytest.approx(e_ref, rel=1e-12)
    f_ref = _fd_forces(lambda p: energy(p)[0], pos)
    np.testing.assert_allclose(res["forces"], f_ref, atol=1e-7 * np.abs(f_ref).max())
    np.testing.assert_allclose(res["forces"].sum(axis=0), 0.0, atol=1e-11)


def test_input_validation():
    with pytest.raises(ValueError, match="traceless"):
        _two(R_AB, charges=[0.0, 1.0], quadrupoles=[I3, np.zeros((3, 3))])
    with pytest.raises(ValueError, match="polarization"):
        _two(R_AB, charges=[0.0, 1.0], polarizabilities=[0.1, 0.1])
    with pytest.raises(ValueError, match="periodic"):
        _two(R_AB, charges=[0.0, 1.0], cutoff=5.0)


# ---------------------------------------------------------------------------------------
# Periodic boundaries (PME)
# ---------------------------------------------------------------------------------------
A_NACL = 5.64
FCC = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def test_madelung_rock_salt_cubic_cell():
    d = A_NACL / 2
    pos = np.r_[FCC * A_NACL, FCC * A_NACL + [d, 0.0, 0.0]]
    q = np.r_[np.ones(4), -np.ones(4)]
    res = amoeba_energy_forces(pos, q, cell=np.eye(3) * A_NACL, ewald_tolerance=1e-6)
    assert res["energy"] / 4 == pytest.approx(-MADELUNG_NACL * K / d, rel=1e-5)
    np.testing.assert_allclose(res["forces"], 0.0, atol=1e-9)


@pytest.mark.parametrize("general", [False, True])
def test_madelung_rock_salt_triclinic_cell(general):
    """Two-ion primitive fcc cell; ``general`` uses a rotated, non-reduced basis of it."""
    d = A_NACL / 2
    cell = 0.5 * A_NACL * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    pos = np.array([[0.3, 0.1, 0.2], [d + 0.3, 0.1, 0.2]])
    if general:
        c, s = math.cos(0.7), math.sin(0.7)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
            [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]]
        )
        cell = np.array([[1, 0, 0], [1, 1, 0], [-1, 2, 1]]) @ cell @ rot.T
        pos = pos @ rot.T
    res = amoeba_energy_forces(pos, [1.0, -1.0], cell=cell, ewald_tolerance=1e-6)
    assert res["energy"] == pytest.approx(-MADELUNG_NACL * K / d, rel=1e-6)
    np.testing.assert_allclose(res["forces"], 0.0, atol=1e-4 * K / d**2)


def _ewald(pos, q, mu, theta, cell, alpha, alphas_pol=None, accuracy=6.4):
    """Plain Ewald sum for point multipoles (tin-foil, neutralizing background).

    Returns (energy in eV including -½ Σ alpha |E|², field in V/Å at each site from
    everything except the site itself at zero lattice vector).
    """
    n = len(q)
    cell = np.asarray(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    rcut, kcut = accuracy / alpha, 2.0 * alpha * accuracy
    # real space: all images within rcut
    widths = vol / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    nimg = np.ceil(rcut / widths).astype(int) + 1
    shifts = np.array(list(itertools.product(*[range(-m, m + 1) for m in nimg]))) @ cell
    i, j, s = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(n), np.arange(len(shifts))))
    r = np.linalg.norm(pos[j] - pos[i] + shifts[s], axis=1)
    keep = (r < rcut) & (r > 0)
    i, j, s = i[keep], j[keep], s[keep]
    e_pair, grad = _pair_energy_terms(pos, q, mu, theta, i, j, shifts[s], alpha)
    energy = 0.5 * np.sum(e_pair)
    field = np.zeros((n, 3))
    np.add.at(field, j, -grad)
    # reciprocal space: rho(k) = Σ (q - i k·mu - ½ kᵀΘk) exp(-i k·r)
    recip = 2.0 * math.pi * np.linalg.inv(cell).T
    mmax = np.ceil(kcut * np.linalg.norm(cell, axis=1) / (2.0 * math.pi)).astype(int)
    m = np.array(list(itertools.product(*[range(-k, k + 1) for k in mmax])))
    kv = m @ recip
    k2 = np.sum(kv * kv, axis=1)
    sel = (k2 > 0) & (k2 < kcut**2)
    kv, k2 = kv[sel], k2[sel]
    phase = np.exp(-1j * kv @ pos.T)
    rho = np.sum(
        (q[None, :] - 1j * kv @ mu.T - 0.5 * np.einsum("ka,nab,kb->kn", kv, theta, kv)) * phase,
        axis=1,
    )
    w = 4.0 * math.pi / vol * np.exp(-k2 / (4.0 * alpha**2)) / k2
    energy += 0.5 * np.sum(w * np.abs(rho) ** 2)
    field += np.einsum("k,kn,ka->na", w, np.imag(rho[:, None] * np.conj(phase)), kv)
    # self terms and background
    sp = math.sqrt(math.pi)
    field += 4.0 * alpha**3 / (3.0 * sp) * mu
    energy -= (alpha / sp) * (
        np.sum(q**2) + 2.0 * alpha**2 / 3.0 * np.sum(mu**2) + 0.4 * alpha**4 * np.sum(theta**2)
    )
    energy -= math.pi * np.sum(q) ** 2 / (2.0 * vol * alpha**2)
    energy, field = K * energy, K * field
    if alphas_pol is not None:
        energy -= 0.5 * np.sum(alphas_pol[:, None] * field**2)
    return energy, field


def _periodic_system(rng, cell, n_per_axis=2, jitter=0.8, scale=0.3):
    frac = np.array(list(itertools.product(range(n_per_axis), repeat=3))) / n_per_axis
    pos = frac @ cell + rng.uniform(-jitter, jitter, (len(frac), 3))
    n = len(pos)
    q = rng.normal(size=n)
    q -= q.mean() - 0.25 / n  # small net charge exercises the neutralizing background
    mu = scale * rng.normal(size=(n, 3))
    theta = _traceless(scale * rng.normal(size=(n, 3, 3)))
    alpha = rng.uniform(0.002, 0.01, n)
    return pos, q, mu, theta, alpha


CELLS = {
    "cubic": np.eye(3) * 12.0,
    "triclinic": np.array([[12.0, 0.0, 0.0], [3.0, 11.0, 0.0], [-2.0, 4.0, 12.5]]),
    "rotated": np.array([[9.0, 6.0, 4.0], [-5.0, 10.0, 0.5], [-3.0, -1.0, 11.0]]),
}


def test_direct_ewald_helper_is_splitting_independent():
    rng = np.random.default_rng(3)
    cell = CELLS["triclinic"]
    pos, q, mu, theta, alpha = _periodic_system(rng, cell)
    e1, f1 = _ewald(pos, q, mu, theta, cell, 0.4, alpha)
    e2, f2 = _ewald(pos, q, mu, theta, cell, 0.6, alpha)
    assert e1 == pytest.approx(e2, rel=1e-12)
    np.testing.assert_allclose(f1, f2, atol=1e-11 * np.abs(f1).max())


@pytest.mark.parametrize("name", sorted(CELLS))
def test_pme_multipoles_direct_polarization_vs_ewald(name):
    """OpenMM PME vs the plain Ewald sum, for charges+dipoles+quadrupoles+direct polarization.

    The tolerances reflect OpenMM's order-5 B-spline PME, whose accuracy for the terms with
    dipoles and quadrupoles converges slowly with the grid (see the module docstring); a wrong
    quadrupole factor or sign would be off by far more (the quadrupoles change the energy by
    ~1e-2 relative and the forces by ~0.2 of their RMS).
    """
    rng = np.random.default_rng(sorted(CELLS).index(name))
    cell = CELLS[name]
    pos, q, mu, theta, alpha = _periodic_system(rng, cell)
    e_ref, field = _ewald(pos, q, mu, theta, cell, 0.5, alpha)
    f_ref = _fd_forces(lambda p: _ewald(p, q, mu, theta, cell, 0.5, alpha)[0], pos)
    res = amoeba_energy_forces(
        pos,
        q,
        mu,
        theta,
        alpha,
        cell=cell,
        polarization="direct",
        pme_grid=(160, 160, 160),  # alpha from the default ewald_tolerance=1e-8
    )
    f_scale = np.sqrt(np.mean(f_ref**2))
    mu_ind = alpha[:, None] * field
    assert res["energy"] == pytest.approx(e_ref, rel=2e-5)
    np.testing.assert_allclose(res["forces"], f_ref, atol=2e-2 * f_scale)
    np.testing.assert_allclose(res["induced_dipoles"], mu_ind, atol=5e-4 * np.abs(mu_ind).max())
    # the net force vanishes up to the PME interpolation error
    np.testing.assert_allclose(res["forces"].sum(axis=0), 0.0, atol=3e-2 * f_scale)


def test_pme_charges_match_ewald_tightly():
    rng = np.random.default_rng(5)
    cell = CELLS["cubic"] * 0.75
    pos, q, _, _, _ = _periodic_system(rng, cell)
    zeros3, zeros33 = np.zeros((len(q), 3)), np.zeros((len(q), 3, 3))
    e_ref, _ = _ewald(pos, q, zeros3, zeros33, cell, 0.5)
    f_ref = _fd_forces(lambda p: _ewald(p, q, zeros3, zeros33, cell, 0.5)[0], pos)
    res = amoeba_energy_forces(pos, q, cell=cell, pme_grid=(128, 128, 128))
    assert res["energy"] == pytest.approx(e_ref, rel=2e-8)  # measured 2.5e-9
    np.testing.assert_allclose(res["forces"], f_ref, atol=1e-5 * np.sqrt(np.mean(f_ref**2)))
