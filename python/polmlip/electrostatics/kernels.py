"""Radial functions B_n(r) of the pair kernels, for point-multipole interaction tensors.

For a radial kernel K(r), ``B_0 = K`` and ``B_{n+1} = -(1/r) dB_n/dr``. The
interaction tensors are then ``∇K = -R B_1``, ``∇∇K = -I B_1 + R R B_2`` and so on
(Smith, Mol. Simul. 1998). Three kernels are provided:

* ``COULOMB``: 1/r (bare point multipoles, open boundaries);
* ``ERF``: erf(a r)/r, the interaction of two Gaussian sites (smeared mode; with
  a = 1/(√2 σ) for the pair width σ);
* ``ERFC``: erfc(a r)/r, the real-space part of point-multipole Ewald (a = η);
* ``SPLIT_REMAINDER``: [erf(b r) − erf(a r)]/r = [erfc(a r) − erfc(b r)]/r, the real-space
  part of the Ewald split of Gaussian sites (a = η of the k-space part, b = 1/(√2σ)).

For ``ERF`` the upward recursion loses digits at small a·r, so a convergent
series is used there. ``SPLIT_REMAINDER`` is the difference of two ``ERFC`` kernels
(exact where both are tiny), and of two ``ERF`` kernels for b·r < 2, where the ERFC
difference would cancel (to the digits of 1/r, which float32 cannot spare).
"""

import math

import torch

COULOMB: int = 0
ERF: int = 1
ERFC: int = 2
SPLIT_REMAINDER: int = 3


def radial_functions(
    r: torch.Tensor, kind: int, a: float, nmax: int, b: float = 0.0
) -> torch.Tensor:
    """Return B_0..B_nmax of the chosen kernel.

    Args:
        r: (P,) pair distances in Å, > 0.
        kind: ``COULOMB``, ``ERF``, ``ERFC`` or ``SPLIT_REMAINDER``.
        a: inverse width in 1/Å (ignored for ``COULOMB``).
        nmax: highest order needed (≤ 4 for quadrupole field gradients).
        b: the second inverse width of ``SPLIT_REMAINDER`` (1/Å, > a).

    Returns:
        (nmax + 1, P) tensor; B_n has units Å^-(2n+1).
    """
    if kind == 0:  # COULOMB
        inv_r2 = 1.0 / (r * r)
        out = [1.0 / r]
        for n in range(1, nmax + 1):
            out.append((2 * n - 1) * out[n - 1] * inv_r2)
        return torch.stack(out)
    if kind == 3:  # SPLIT_REMAINDER
        out_t = _split_radial(r, a, b, nmax)
        near = torch.nonzero(b * r < 2.0).flatten()
        if near.numel() > 0:  # short pairs: the ERF difference, free of cancellation
            rn = r[near]
            out_t = out_t.index_copy(1, near, _erf_radial(rn, b, nmax) - _erf_radial(rn, a, nmax))
        return out_t
    if kind == 2:  # ERFC
        return _erfc_radial(r, a, nmax)
    return _erf_radial(r, a, nmax)


def _erfc_radial(r: torch.Tensor, a: float, nmax: int) -> torch.Tensor:
    """B_0..B_nmax (nmax + 1, P) of erfc(a r)/r by the (stable) upward recursion."""
    inv_r2 = 1.0 / (r * r)
    ar = a * r
    gauss = torch.exp(-ar * ar) / (a * math.sqrt(math.pi))
    out = [torch.erfc(ar) / r]
    for n in range(1, nmax + 1):
        out.append(((2 * n - 1) * out[n - 1] + (2.0 * a * a) ** n * gauss) * inv_r2)
    return torch.stack(out)


def _split_radial(r: torch.Tensor, a: float, b: float, nmax: int) -> torch.Tensor:
    """B_0..B_nmax of [erfc(a r) − erfc(b r)]/r: the ERFC recursion run once on the
    difference (it is linear), which halves the work and the saved autograd tensors."""
    inv_r2 = 1.0 / (r * r)
    ga = torch.exp(-((a * r) ** 2)) / (a * math.sqrt(math.pi))
    gb = torch.exp(-((b * r) ** 2)) / (b * math.sqrt(math.pi))
    out = [(torch.erfc(a * r) - torch.erfc(b * r)) / r]
    for n in range(1, nmax + 1):
        source = (2.0 * a * a) ** n * ga - (2.0 * b * b) ** n * gb
        out.append(((2 * n - 1) * out[n - 1] + source) * inv_r2)
    return torch.stack(out)


def _erf_radial(r: torch.Tensor, a: float, nmax: int) -> torch.Tensor:
    """B_0..B_nmax (nmax + 1, P) of erf(a r)/r: upward recursion, a series at small a r."""
    ar = a * r
    out = [torch.zeros_like(r) for _ in range(nmax + 1)]
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
