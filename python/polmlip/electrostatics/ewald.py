"""Reciprocal-space Ewald sum over explicit k-vectors, the reference summation.

E = (2π k_e / V) Σ_{k≠0} exp(−s²k²/2)/k² |S(k)|², with the structure factor of
q δ − μ·∇δ + ½ Θ:∇∇δ sites S(k) = Σ_j (q_j − i k·μ_j − ½ kᵀΘ_j k) e^{−i k·r_j}.
Only the half space of k is stored; ±k give equal terms. The k = 0 term is
omitted (uniform neutralizing background, tinfoil boundary conditions).
"""

import math
from typing import Optional, Tuple

import torch

from . import cell as cellmod
from .comm import global_sum


def half_space_indices(cell: torch.Tensor, kcut: float) -> torch.Tensor:
    """Integer triples m (K, 3) with |k| ≤ kcut, one of each ±m pair, m ≠ 0."""
    c = cell.detach().to(torch.float64)
    lengths = torch.linalg.norm(c, dim=1)
    mmax = [int(math.floor(kcut * float(lengths[d]) / (2.0 * math.pi))) for d in range(3)]
    r0 = torch.arange(0, mmax[0] + 1, device=cell.device)
    r1 = torch.arange(-mmax[1], mmax[1] + 1, device=cell.device)
    r2 = torch.arange(-mmax[2], mmax[2] + 1, device=cell.device)
    grid = torch.cartesian_prod(r0, r1, r2).reshape(-1, 3)
    half = (grid[:, 0] > 0) | ((grid[:, 0] == 0) & (grid[:, 1] > 0))
    half = half | ((grid[:, 0] == 0) & (grid[:, 1] == 0) & (grid[:, 2] > 0))
    grid = grid[half]
    k = cellmod.kvectors_from_indices(grid, c)
    keep = torch.linalg.norm(k, dim=1) <= kcut
    return grid[keep]


def reciprocal_fields(
    positions: torch.Tensor,
    cell: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    width: float,
    kcut: float,
    need_gradient: bool,
    chunk_size: int = 2048,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """φ, E and G at every site from the reciprocal sum, per unit k_e, self not removed.

    Args:
        positions: (N, 3) Å. cell: (3, 3) rows are lattice vectors, Å.
        q: (N,) e. mu: (N, 3) e·Å or None. theta: (N, 3, 3) traceless e·Å² or None.
        width: Gaussian pair width s (Å) of the weight exp(−s²k²/2)/k².
        kcut: k-space cutoff (1/Å).
        need_gradient: compute G (else zeros).
        chunk_size: number of k-vectors processed at once (memory N × chunk).

    Returns:
        φ (N,), E (N, 3), G (N, 3, 3).
    """
    m_all = half_space_indices(cell, kcut)
    vol = cellmod.volume(cell)
    pref = 8.0 * math.pi / vol
    n = positions.shape[0]
    phi = torch.zeros(n, dtype=positions.dtype, device=positions.device)
    E = torch.zeros((n, 3), dtype=positions.dtype, device=positions.device)
    G = torch.zeros((n, 3, 3), dtype=positions.dtype, device=positions.device)
    for start in range(0, m_all.shape[0], chunk_size):
        k = cellmod.kvectors_from_indices(m_all[start : start + chunk_size], cell)
        k2 = (k * k).sum(-1)
        weight = pref * torch.exp(-0.5 * width * width * k2) / k2  # (K,)
        kr = positions @ k.T  # (N, K)
        c = torch.cos(kr)
        s = torch.sin(kr)
        a = q[:, None].expand(n, k.shape[0])
        if theta is not None:
            a = a - 0.5 * torch.einsum("ka,nab,kb->nk", k, theta, k)
        re_s = a * c
        im_s = -a * s
        if mu is not None:
            b = mu @ k.T
            re_s = re_s - b * s
            im_s = im_s - b * c
        s_re = global_sum(re_s.sum(0)) * weight  # (K,)
        s_im = global_sum(im_s.sum(0)) * weight
        cos_part = c * s_re - s * s_im  # Re[S e^{ikr}] weighted, (N, K)
        phi = phi + cos_part.sum(-1)
        E = E + (s * s_re + c * s_im) @ k
        if need_gradient:
            G = G + torch.einsum("nk,ka,kb->nab", cos_part, k, k)
    return phi, E, G
