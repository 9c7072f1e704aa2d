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
# the uncorrelated-site estimate of the split's real-space error underrates water (neutral
# molecules, whose total forces cancel more); times 4.5 it bounds the measured truncation
# error there (lattice-placed water needs about 4 at 9 Å; tests/physics/test_ewald_split.py,
# test_real_space_error_estimate_bounds_water)
_REAL_SPACE_PREFACTOR = 4.5


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


def _derivative_norms(b: List[np.ndarray], r: np.ndarray, n: int) -> np.ndarray:
    """Squared Frobenius norm |∇^n K|² of a radial kernel from its B_1..B_n (Smith's B_k).

    ∇^n K = Σ_k (−1)^{n−k} B_{n−k} Σ_{pairings} δ…δ R…R (k Kronecker deltas, n − 2k factors
    of R). Along R = r ẑ a component depends only on how many of its indices are x, y, z.
    """
    total = np.zeros_like(r)
    for nx in range(0, n + 1, 2):
        for ny in range(0, n - nx + 1, 2):
            nz = n - nx - ny
            value = np.zeros_like(r)
            for j in range(nz // 2 + 1):
                k = nx // 2 + ny // 2 + j
                ways = _double_factorial(nx - 1) * _double_factorial(ny - 1)
                ways *= math.comb(nz, 2 * j) * _double_factorial(2 * j - 1)
                value = value + (-1.0) ** (n - k) * b[n - k] * r ** (n - 2 * k) * ways
            multinomial = math.factorial(n) // (
                math.factorial(nx) * math.factorial(ny) * math.factorial(nz)
            )
            total = total + multinomial * value * value
    return total


def _double_factorial(n: int) -> int:
    out = 1
    while n > 1:
        out *= n
        n -= 2
    return out


def _radial(r: np.ndarray, kind: int, a: float, nmax: int) -> List[np.ndarray]:
    import torch

    from .kernels import radial_functions

    out = radial_functions(torch.from_numpy(r), kind, a, nmax)
    return [out[n].numpy() for n in range(nmax + 1)]


#: pair orders L = l_i + l_j of charge (0), dipole (1) and quadrupole (2) sites
PAIR_ORDERS = 5


def split_error_table(
    sigma: float, real_cutoff: float
) -> Tuple[List[float], List[List[float]], List[float]]:
    """Real-space truncation error of the Ewald split of Gaussian sites.

    The smeared pair kernel erf(r/(√2σ))/r is split into a k-space part erf(η r)/r (a
    Gaussian of width 1/(√2η) > σ) and the remainder K_rem = [erfc(η r) − erfc(r/(√2σ))]/r,
    summed over pairs closer than ``real_cutoff``. The force between a site of order l_i
    and one of order l_j is a contraction of ∇^{L+1}K, L = l_i + l_j. For uncorrelated
    sites the squared force error of dropping K_rem beyond r_c, relative to the squared
    force, is

        err² = Σ_L w_L N_L / Σ_L w_L D_L,   N_L = ∫_{r_c}^∞ |∇^{L+1}K_rem|² r² dr,
                                             D_L = ∫_0^∞ |∇^{L+1}K_σ|² r² dr,

    with w_L = Σ_{l_i+l_j=L} m_{l_i} m_{l_j} from the magnitudes m_l (:func:`pick_split`);
    the density cancels. The table holds N_L times 4.5² (the error estimate times 4.5, calibrated
    on water boxes: correlated, neutral molecules have smaller total forces than
    uncorrelated sites).

    Returns:
        candidate η in 1/Å (increasing, all below 1/(√2σ)); 4.5² N_L per candidate (5 lists,
        L = 0..4); and D_L (5 values).
    """
    from .kernels import ERF, ERFC

    a_site = 1.0 / (math.sqrt(2.0) * sigma)
    nmax = PAIR_ORDERS
    # denominators: the smeared kernel out to 400σ, plus its Coulomb tail beyond
    r_far = 400.0 * sigma
    r = np.geomspace(1e-3 * sigma, r_far, 20000)
    near = _radial(r, ERF, a_site, nmax)
    dens = []
    unit = np.ones(1)
    coulomb = _radial(unit, 0, 1.0, nmax)  # 1/r at r = 1
    for L in range(PAIR_ORDERS):
        n = L + 1
        coulomb_sq = float(_derivative_norms(coulomb, unit, n)[0])
        tail = coulomb_sq / ((2 * n - 1) * r_far ** (2 * n - 1))  # |∇^n(1/r)|² ∝ r^{-2n-2}
        dens.append(float(np.trapezoid(_derivative_norms(near, r, n) * r * r, r)) + tail)
    etas = np.geomspace(0.05 * a_site, 0.999 * a_site, _NTABLE)
    table: List[List[float]] = [[] for _ in range(PAIR_ORDERS)]
    rr = np.linspace(real_cutoff, real_cutoff + 40.0 * sigma + 12.0 / etas[0], 6000)
    site = _radial(rr, ERFC, a_site, nmax)
    for eta in etas:
        split = _radial(rr, ERFC, float(eta), nmax)
        rem = [split[k] - site[k] for k in range(nmax + 1)]
        for L in range(PAIR_ORDERS):
            norm = _derivative_norms(rem, rr, L + 1)
            num = max(float(np.trapezoid(norm * rr * rr, rr)), 0.0)
            table[L].append(_REAL_SPACE_PREFACTOR**2 * num)
    return [float(e) for e in etas], table, dens


def pick_split(
    candidates: List[float],
    table: List[List[float]],
    dens: List[float],
    magnitudes: List[float],
    accuracy: float,
) -> float:
    """Smallest η (first candidate) whose real-space error (:func:`split_error_table`) is
    ≤ ``accuracy`` for the magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30]; the last candidate else."""
    w = [0.0, 0.0, 0.0, 0.0, 0.0]
    for li in range(3):
        for lj in range(3):
            w[li + lj] += magnitudes[li] * magnitudes[lj]
    den = 0.0
    for L in range(5):
        den += w[L] * dens[L]
    if den <= 0.0:
        return candidates[len(candidates) - 1]
    for i in range(len(candidates)):
        num = 0.0
        for L in range(5):
            num += w[L] * table[L][i]
        if num <= accuracy * accuracy * den:
            return candidates[i]
    return candidates[len(candidates) - 1]
