"""The learnable radial weight of a bond, w(r), for the bond-charge increments of
:mod:`polmlip.electrostatics.bonds` (which take w as an input and hold no parameters)."""

import torch

from .radial import BesselBasis, PolynomialCutoff


class BondWeight(torch.nn.Module):
    """Radial weight w(r) = envelope(r) · (1 + Σ_k c_k B_k(r)) / √n̄ of a bond (E,) → (E,).

    Symmetric in the two atoms (depends on the distance only); the learnable c_k start at
    zero. ``avg_neighbors`` n̄ keeps Σ_j w_ij of order one.
    """

    def __init__(self, cutoff: float, num_basis: int, avg_neighbors: float) -> None:
        super().__init__()
        self.basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff)
        self.coefficients = torch.nn.Parameter(torch.zeros(num_basis))
        self.norm = 1.0 / max(float(avg_neighbors), 1.0) ** 0.5

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        shape = 1.0 + self.basis(r) @ self.coefficients.to(r.dtype)
        return self.norm * self.envelope(r) * shape
