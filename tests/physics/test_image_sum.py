"""Smeared periodic sum against a brute-force sum over periodic images of the same kernel.

The pair kernel of two Gaussian sites is k_e erf(r/(√2σ))/r. Summed over images
in growing spheres it converges to the tinfoil result plus the surface term
2π k_e |M|²/(3V) (de Leeuw, Perram & Smith, Proc. R. Soc. A 373, 27 (1980)).
The ragged sphere surface makes single radii noisy, so the image sum is averaged
over many radii.
"""

import math

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.units import COULOMB


@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_smeared_sum_matches_explicit_images(method):
    L, sigma = 5.0, 1.0
    cell = torch.tensor([[L, 0, 0], [0.8, L, 0], [0.3, -0.5, L]], dtype=torch.float64)
    pos = torch.tensor(
        [[0.3, 0.2, 0.1], [2.5, 1.0, 0.7], [1.0, 3.0, 2.0], [3.5, 3.9, 4.1]], dtype=torch.float64
    )
    q = torch.tensor([1.0, -0.6, -0.9, 0.5], dtype=torch.float64)
    solver = MultipoleElectrostatics(method=method, accuracy=1e-10, sigma=sigma, spline_order=8)
    periodic = solver(pos, cell, True, q)[0].sum().item()
    dipole = (q[:, None] * pos).sum(0)
    expected = periodic + 2 * math.pi * COULOMB * float(dipole @ dipole) / (
        3 * float(torch.det(cell))
    )

    rmax = 90.0
    nmax = int(rmax / L) + 2
    r = torch.arange(-nmax, nmax + 1)
    shifts = torch.cartesian_prod(r, r, r).to(torch.float64) @ cell
    norms = shifts.norm(dim=1)
    shifts, norms = shifts[norms < rmax], norms[norms < rmax]
    d = (pos[:, None, None, :] - pos[None, :, None, :] + shifts[None, None]).norm(dim=-1)
    safe = d.clamp_min(1e-12)
    kernel = torch.where(
        d > 1e-12, torch.erf(safe / (math.sqrt(2) * sigma)) / safe, torch.zeros_like(d)
    )
    per_image = 0.5 * COULOMB * (q[:, None, None] * q[None, :, None] * kernel).sum((0, 1))
    order = torch.argsort(norms)
    cumulative = torch.cumsum(per_image[order], 0)
    sorted_norms = norms[order]
    radii = torch.linspace(50.0, 89.0, 60)
    sums = [cumulative[int((sorted_norms < R).sum()) - 1] for R in radii]
    image_sum = float(torch.stack(sums).mean())
    assert image_sum == pytest.approx(expected, rel=2e-5)
    # the surface term is large enough that getting it wrong would fail the test
    assert abs(expected - periodic) / abs(expected) > 1e-3
