"""Choosing cutoffs and meshes from a requested relative accuracy.

The rules come from the Gaussian k-space weight exp(−s²k²/2)/k² (s the pair
width, see :mod:`multipoles`). For uncorrelated sites the structure factor has
⟨|S(k)|²⟩ = Σq² + k² Σ|μ|²/3 + k⁴ ΣΘ:Θ/30, so multipoles of order l weigh the
spectrum by k^{2l}; forces add k², and the 3D density of states cancels 1/k².
The relative force error of a summation is therefore estimated as

    err = Σ_l m_l ∫ k^{2l+2} e^{−s²k²/2} a_l(k) dk / Σ_l m_l ∫ k^{2l+2} e^{−s²k²/2} dk

with m_l the magnitudes above and a_l the loss at wave number k: 1 beyond the
cutoff (Ewald), or the B-spline aliasing amplitude 0.6 (kh/(2π−kh))^{p−l−1}
(PME; each spline derivative costs one order, and the constant was calibrated
against measured PME errors, see ``tests/physics/test_pme_vs_ewald.py``).

Tables of the per-order errors are computed once per settings; the magnitudes
m_l are applied at run time (like LAMMPS' PPPM estimate, which uses Σq²).
"""

import math
from typing import List, Tuple

import numpy as np

_NK = 1500
_NTABLE = 120  # candidate cutoffs / mesh spacings per table
_ALIAS_PREFACTOR = 0.6


def _kgrid(width: float) -> np.ndarray:
    kmax = 18.0 / width
    return (np.arange(_NK) + 0.5) * kmax / _NK


def _weights(width: float) -> np.ndarray:
    """(3, NK) force-weighted spectra k^{2l+2} e^{−s²k²/2} for l = 0, 1, 2."""
    k = _kgrid(width)
    return np.stack([k ** (2 * l + 2) * np.exp(-0.5 * (width * k) ** 2) for l in range(3)])


def _alias(kh: np.ndarray, order: int) -> np.ndarray:
    x = np.clip(kh, 0.0, np.pi)
    a = _ALIAS_PREFACTOR * (x / (2.0 * np.pi - x)) ** max(order, 1)
    return np.where(kh >= np.pi, 1.0, np.minimum(a, 1.0))


def spectral_norms(width: float) -> List[float]:
    """∫ k^{2l+2} e^{−s²k²/2} dk for l = 0, 1, 2 (the weights' totals)."""
    k = _kgrid(width)
    return [float(v) for v in _weights(width).sum(1) * (k[1] - k[0])]


def kspace_tail_table(width: float) -> Tuple[List[float], List[List[float]]]:
    """Candidate k cutoffs (1/Å, increasing) and the relative neglected tail per order l."""
    k = _kgrid(width)
    w = _weights(width)
    cuts = np.geomspace(1.0 / width, 16.0 / width, _NTABLE)
    beyond = k[None, :] >= cuts[:, None]  # (ncut, NK)
    tails = (w[:, None, :] * beyond[None]).sum(-1) / w.sum(-1, keepdims=True)
    return [float(c) for c in cuts], tails.tolist()


def pme_error_table(width: float, order: int) -> Tuple[List[float], List[List[float]]]:
    """Candidate mesh spacings (Å, decreasing) and the estimated relative error per order l."""
    k = _kgrid(width)
    w = _weights(width)
    spacings = np.geomspace(2.0 * width, 0.01 * width, _NTABLE)
    kh = spacings[:, None] * k[None, :]
    table = [
        ((w[l][None, :] * _alias(kh, order - l - 1)).sum(-1) / w[l].sum()).tolist()
        for l in range(3)
    ]
    return [float(h) for h in spacings], table


def pick(
    candidates: List[float],
    table: List[List[float]],
    norms: List[float],
    magnitudes: List[float],
    accuracy: float,
) -> float:
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
