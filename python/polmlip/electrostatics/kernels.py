"""Radial functions B_n(r) of the pair kernels, for point-multipole interaction tensors.

For a radial kernel K(r), ``B_0 = K`` and ``B_{n+1} = -(1/r) dB_n/dr``. The
interaction tensors are then ``∇K = -R B_1``, ``∇∇K = -I B_1 + R R B_2`` and so on
(Smith, Mol. Simul. 1998). Three kernels are provided:

* ``COULOMB``: 1/r (bare point multipoles, open boundaries);
* ``ERF``: erf(a r)/r, the interaction of two Gaussian sites (smeared mode; with
  a = 1/(√2 σ) for the pair width σ);
* ``ERFC``: erfc(a r)/r, the real-space part of point-multipole Ewald (a = η).

For ``ERF`` the upward recursion loses digits at small a·r, so a convergent
series is used there.
"""

import math

import torch

COULOMB: int = 0
ERF: int = 1
ERFC: int = 2


def radial_functions(r: torch.Tensor, kind: int, a: float, nmax: int) -> torch.Tensor:
    """Return B_0..B_nmax of the chosen kernel.

    Args:
        r: (P,) pair distances in Å, > 0.
        kind: ``COULOMB``, ``ERF`` or ``ERFC``.
        a: inverse width in 1/Å (ignored for ``COULOMB``).
        nmax: highest order needed (≤ 4 for quadrupole field gradients).

    Returns:
        (nmax + 1, P) tensor; B_n has units Å^-(2n+1).
    """
    inv_r2 = 1.0 / (r * r)
    out = [torch.zeros_like(r) for _ in range(nmax + 1)]
    if kind == 0:  # COULOMB
        out[0] = 1.0 / r
        for n in range(1, nmax + 1):
            out[n] = (2 * n - 1) * out[n - 1] * inv_r2
        return torch.stack(out)
    ar = a * r
    gauss = torch.exp(-ar * ar) / (a * math.sqrt(math.pi))
    if kind == 2:  # ERFC
        out[0] = torch.erfc(ar) / r
        for n in range(1, nmax + 1):
            out[n] = ((2 * n - 1) * out[n - 1] + (2.0 * a * a) ** n * gauss) * inv_r2
        return torch.stack(out)
    # ERF: upward recursion where safe, series where a r is small.
    x2 = ar * ar
    small = x2 < 0.5  # series below (a r)² = 0.5, 14 terms: converged to 1e-16
    r_safe = torch.where(small, torch.ones_like(r) / a, r)
    inv_r2_safe = 1.0 / (r_safe * r_safe)
    gauss_safe = torch.exp(-((a * r_safe) ** 2)) / (a * math.sqrt(math.pi))
    rec = [torch.erf(a * r_safe) / r_safe]
    for n in range(1, nmax + 1):
        rec.append(((2 * n - 1) * rec[n - 1] - (2.0 * a * a) ** n * gauss_safe) * inv_r2_safe)
    # series: B_n = a (2a²)^n (2/√π) Σ_k (-x²)^k / (k! (2k+2n+1))
    x2s = torch.where(small, x2, torch.zeros_like(x2))
    for n in range(nmax + 1):
        term = torch.ones_like(r)
        acc = torch.full_like(r, 1.0 / (2 * n + 1))
        for k in range(1, 14):
            term = term * (-x2s) / k
            acc = acc + term / (2 * k + 2 * n + 1)
        series = a * (2.0 * a * a) ** n * (2.0 / math.sqrt(math.pi)) * acc
        out[n] = torch.where(small, series, rec[n])
    return torch.stack(out)
