"""Choosing cutoffs and meshes from a requested relative accuracy.

The rules come from the Gaussian k-space weight exp(−s²k²/2)/k² (s the pair
width, see :mod:`multipoles`). For uncorrelated sites the structure factor has
⟨|S(k)|²⟩ = Σq² + k² Σ|μ|²/3 + k⁴ ΣΘ:Θ/30, so multipoles of order l weigh the
spectrum by k^{2l}; forces add k², and the 3D density of states cancels 1/k².
The relative force error of a summation is therefore estimated as

    err = Σ_l m_l ∫ k^{2l+2} e^{−s²k²/2} a_l(k) dk / Σ_l m_l ∫ k^{2l+2} e^{−s²k²/2} dk

with m_l the magnitudes above and a_l the loss at wave number k: 1 beyond the
cutoff (Ewald), or the B-spline aliasing amplitude 0.3 (kh/(2π−kh))^{p−l−1}
(PME; each spline derivative costs one order, and the constant was calibrated
against measured PME errors, see ``tests/physics/test_pme_vs_ewald.py``).

Tables of the per-order errors are computed once per settings; the magnitudes
m_l are applied at run time (like LAMMPS' PPPM estimate, which uses Σq²).
"""

import math
from typing import List, Tuple

_NK = 1500
_NTABLE = 120
_ALIAS_PREFACTOR = 0.3


def _kgrid(width: float) -> List[float]:
    kmax = 18.0 / width
    return [(i + 0.5) * kmax / _NK for i in range(_NK)]


def _weight(k: float, width: float, lmax: int) -> float:
    return k ** (2 * lmax + 2) * math.exp(-0.5 * (width * k) ** 2)


def _alias(kh: float, order: int) -> float:
    if kh >= math.pi:
        return 1.0
    return min(1.0, _ALIAS_PREFACTOR * (kh / (2.0 * math.pi - kh)) ** max(order, 1))


def log_grid(lo: float, hi: float, n: int = _NTABLE) -> List[float]:
    """n log-spaced values from lo to hi (inclusive)."""
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def spectral_norms(width: float) -> List[float]:
    """∫ k^{2l+2} e^{−s²k²/2} dk for l = 0, 1, 2 (the weights' totals)."""
    ks = _kgrid(width)
    dk = ks[1] - ks[0]
    return [sum(_weight(k, width, l) for k in ks) * dk for l in range(3)]


def kspace_tail_table(width: float) -> Tuple[List[float], List[List[float]]]:
    """Candidate k cutoffs (1/Å, increasing) and the relative neglected tail per order l."""
    ks = _kgrid(width)
    cuts = log_grid(1.0 / width, 16.0 / width)
    norms = spectral_norms(width)
    dk = ks[1] - ks[0]
    table: List[List[float]] = []
    for l in range(3):
        table.append([sum(_weight(k, width, l) for k in ks if k >= kc) * dk / norms[l]
                      for kc in cuts])
    return cuts, table


def pme_error_table(width: float, order: int) -> Tuple[List[float], List[List[float]]]:
    """Candidate mesh spacings (Å, decreasing) and the estimated relative error per order l."""
    ks = _kgrid(width)
    dk = ks[1] - ks[0]
    spacings = log_grid(2.0 * width, 0.01 * width)
    norms = spectral_norms(width)
    table: List[List[float]] = []
    for l in range(3):
        row = []
        for h in spacings:
            s = sum(_weight(k, width, l) * _alias(k * h, order - l - 1) for k in ks)
            row.append(s * dk / norms[l])
        table.append(row)
    return spacings, table


def pick(candidates: List[float], table: List[List[float]], norms: List[float],
         magnitudes: List[float], accuracy: float) -> float:
    """First candidate whose magnitude-weighted error is ≤ accuracy (else the last one)."""
    wsum = 0.0
    for l in range(3):
        wsum += magnitudes[l] * norms[l]
    if wsum <= 0.0:
        return candidates[0]
    for i in range(len(candidates)):
        err = 0.0
        for l in range(3):
            err += magnitudes[l] * norms[l] * table[l][i]
        if err / wsum <= accuracy:
            return candidates[i]
    return candidates[len(candidates) - 1]


def ewald_splitting(real_cutoff: float, accuracy: float) -> float:
    """Ewald parameter η (1/Å) so that erfc(η r_c) ≈ ``accuracy`` for point-multipole Ewald."""
    lo, hi = 0.0, 20.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if math.erfc(mid) > accuracy:
            lo = mid
        else:
            hi = mid
    return hi / real_cutoff


def fft_friendly(n: int) -> int:
    """Smallest integer ≥ n whose only prime factors are 2, 3 and 5."""
    m = max(n, 1)
    found = False
    while not found:
        k = m
        for p in [2, 3, 5]:
            while k % p == 0:
                k = k // p
        if k == 1:
            found = True
        else:
            m += 1
    return m


def mesh_shape(plane_spacings: List[float], spacing: float, order: int) -> List[int]:
    """Mesh points per lattice direction for a target spacing (at least 2·order)."""
    out: List[int] = []
    for w in plane_spacings:
        out.append(fft_friendly(max(2 * order, int(math.ceil(w / spacing)))))
    return out
