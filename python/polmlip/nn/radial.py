"""Radial basis and smooth cutoff for edge lengths."""

import math

import torch


class BesselBasis(torch.nn.Module):
    """sin(nπ r/r_c)/r Bessel functions, n = 1..num_basis, with trainable frequencies.

    Input r (E,) in Å; output (E, num_basis).
    """

    def __init__(self, cutoff: float, num_basis: int = 8) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.freq = torch.nn.Parameter(torch.arange(1, num_basis + 1) * math.pi)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r[:, None] / self.cutoff
        return self.prefactor * torch.sin(self.freq.to(r.dtype) * x) / r[:, None]


class PolynomialCutoff(torch.nn.Module):
    """Smooth envelope that goes to zero with p continuous derivatives at r_c (NequIP form).

    Input r (E,) in Å; output (E,) in [0, 1], exactly 0 for r ≥ r_c.
    """

    def __init__(self, cutoff: float, p: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.cutoff
        p = self.p
        out = 1.0 - (p + 1.0) * (p + 2.0) / 2.0 * x.pow(p)
        out = out + p * (p + 2.0) * x.pow(p + 1.0) - p * (p + 1.0) / 2.0 * x.pow(p + 2.0)
        return out * (x < 1.0).to(r.dtype)
