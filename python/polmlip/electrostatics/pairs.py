"""Pair sums of damped or bare multipole kernels: open boundaries and Ewald real space."""

from typing import Optional, Tuple

import torch

from .kernels import radial_functions
from .multipoles import kernel_order, pair_fields


def all_pairs(n: int, device: torch.device) -> torch.Tensor:
    """Every ordered pair (i, j), i ≠ j, as a (2, n(n−1)) index tensor."""
    i = torch.arange(n, device=device).repeat_interleave(n)
    j = torch.arange(n, device=device).repeat(n)
    keep = i != j
    return torch.stack([i[keep], j[keep]])


def pair_sum_fields(
    positions: torch.Tensor,
    edge_index: torch.Tensor,
    edge_vectors: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    kind: int,
    a: float,
    need_gradient: bool,
    chunk_size: int = 262144,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """φ, E, G at receivers ``edge_index[0]`` from sources ``edge_index[1]``, per unit k_e.

    Args:
        positions: (N, 3) Å (only its size, dtype and device are used).
        edge_index: (2, P) receiver and source indices.
        edge_vectors: (P, 3) receiver minus source position (with periodic shift), Å.
        q, mu, theta: site multipoles (N,), (N, 3) or None, (N, 3, 3) or None.
        kind, a: kernel (see :mod:`kernels`) and its inverse width (1/Å).
        need_gradient: compute G.
        chunk_size: pairs per block (bounds memory).

    Returns:
        φ (N,), E (N, 3), G (N, 3, 3).
    """
    n = positions.shape[0]
    nmax = kernel_order(mu is not None, theta is not None, need_gradient)
    phi = torch.zeros(n, dtype=positions.dtype, device=positions.device)
    E = torch.zeros((n, 3), dtype=positions.dtype, device=positions.device)
    G = torch.zeros((n, 3, 3), dtype=positions.dtype, device=positions.device)
    for start in range(0, edge_index.shape[1], chunk_size):
        recv = edge_index[0, start : start + chunk_size]
        src = edge_index[1, start : start + chunk_size]
        R = edge_vectors[start : start + chunk_size]
        r = torch.linalg.norm(R, dim=1)
        B = radial_functions(r, kind, a, nmax)
        mu_s = mu[src] if mu is not None else None
        th_s = theta[src] if theta is not None else None
        p, e, g = pair_fields(R, B, q[src], mu_s, th_s, need_gradient)
        phi = phi.index_add(0, recv, p)
        E = E.index_add(0, recv, e)
        if need_gradient:
            G = G.index_add(0, recv, g)
    return phi, E, G
