"""Point multipoles with induced dipoles against OpenMM's ``AmoebaMultipoleForce``.

How the conventions were matched (details and the numbers that prove them are in
``tests/references/openmm_amoeba_ref.py`` and its tests):

* quadrupoles: OpenMM's quadrupole parameter is Θ/2 for polmlip's primitive traceless Θ
  (equivalently the Buckingham quadrupole divided by 3); found from charge–quadrupole and
  quadrupole–quadrupole pairs against analytic formulas;
* damping: Thole damping is switched off by a zero ``dampingFactor`` on every site (a zero
  ``thole`` value would instead zero the induced field); no covalent maps, so every pair
  interacts fully, as in polmlip;
* ``Direct`` polarization = non-self-consistent induced dipoles μ_ind = α E_perm with energy
  −½ Σ μ_ind·E_perm, exactly polmlip's ΔE_μ with E_ext = 0;
* ``NoAxisType`` sites keep lab-frame multipoles, so OpenMM's forces are −dE/dr at fixed
  multipoles, as polmlip's autograd forces.

Tolerances: open boundaries are exact sums on both sides (1e-8). With PME, OpenMM's
order-5 B-splines limit its multipole accuracy to ~3e-6 in energy and ~5e-3 of the RMS
force at its tightest settings (measured against an independent Ewald sum); the periodic
tolerances are set just above those measured limits.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("openmm", reason="OpenMM (PyPI openmm) is not installed")
from polmlip.electrostatics import MultipoleElectrostatics, induced_dipoles  # noqa: E402

from references.openmm_amoeba_ref import amoeba_energy_forces  # noqa: E402

pytestmark = pytest.mark.engine


def _system(seed, n=8, box=12.0):
    rng = np.random.default_rng(seed)
    pts = []
    while len(pts) < n:
        x = rng.random(3) * box * 0.6 + box * 0.2
        if all(np.linalg.norm(x - y) > 2.0 for y in pts):
            pts.append(x)
    q = rng.normal(size=n)
    q -= q.mean()
    mu = 0.5 * rng.normal(size=(n, 3))
    th = 0.5 * rng.normal(size=(n, 3, 3))
    th = 0.5 * (th + th.transpose(0, 2, 1))
    th -= np.trace(th, axis1=1, axis2=2)[:, None, None] / 3 * np.eye(3)
    alpha = 0.002 + 0.004 * rng.random(n)  # e·Å²/V
    return np.array(pts), q, mu, th, alpha


def _ours(pos, q, mu, th, alpha, cell, polarization):
    p = torch.tensor(pos, requires_grad=True)
    c = torch.tensor(cell if cell is not None else np.eye(3) * 100.0)
    solver = MultipoleElectrostatics(point=True, method="ewald", accuracy=1e-10, real_cutoff=5.9)
    e_site, _, field, _ = solver(
        p, c, cell is not None, torch.tensor(q), torch.tensor(mu), torch.tensor(th)
    )
    energy = e_site.sum()
    mu_ind = torch.zeros_like(p)
    if polarization == "direct":
        mu_ind, e_mu = induced_dipoles(
            field, torch.zeros(3, dtype=torch.float64), torch.tensor(alpha)
        )
        energy = energy + e_mu.sum()
    forces = -torch.autograd.grad(energy, p)[0]
    return float(energy.detach()), forces.numpy(), mu_ind.detach().numpy()


@pytest.mark.parametrize("polarization", ["none", "direct"])
@pytest.mark.parametrize("seed", [0, 1])
def test_open_boundaries_match_amoeba(polarization, seed):
    pos, q, mu, th, alpha = _system(seed)
    pol = alpha if polarization == "direct" else None
    ref = amoeba_energy_forces(pos, q, mu, th, pol, cell=None, polarization=polarization)
    e, f, mu_ind = _ours(pos, q, mu, th, alpha, None, polarization)
    assert e == pytest.approx(ref["energy"], rel=1e-8)
    assert np.linalg.norm(f - ref["forces"]) / np.linalg.norm(ref["forces"]) < 1e-8
    if polarization == "direct":
        assert np.allclose(mu_ind, ref["induced_dipoles"], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("polarization", ["none", "direct"])
@pytest.mark.parametrize("triclinic", [False, True])
def test_pme_matches_amoeba(polarization, triclinic):
    pos, q, mu, th, alpha = _system(3)
    cell = np.diag([12.0, 12.0, 12.0])
    if triclinic:
        cell = np.array([[12.0, 0, 0], [2.0, 11.5, 0], [-1.0, 1.5, 12.5]])
    pol = alpha if polarization == "direct" else None
    ref = amoeba_energy_forces(pos, q, mu, th, pol, cell=cell, polarization=polarization)
    e, f, mu_ind = _ours(pos, q, mu, th, alpha, cell, polarization)
    assert e == pytest.approx(ref["energy"], rel=1e-5)
    rms = np.sqrt((ref["forces"] ** 2).mean())
    assert np.sqrt(((f - ref["forces"]) ** 2).mean()) / rms < 6e-3
    if polarization == "direct":
        assert np.abs(mu_ind - ref["induced_dipoles"]).max() < 1e-4 * np.abs(mu_ind).max()
