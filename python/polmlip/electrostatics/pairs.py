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


def frame_pairs(batch: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Every ordered pair (i, j), i ≠ j, of two atoms of the same frame, over the frames
    marked in ``frames``, as a (2, P) index tensor into ``batch``'s rows.

    Args:
        batch: (N,) frame of each atom; each frame's atoms are contiguous rows.
        frames: (B,) bool, the frames whose pairs are wanted.

    Pairs come frame by frame in :func:`all_pairs`' order (receiver-major, sources
    ascending), so each receiver sums its sources in the same order as one frame alone.
    """
    atoms = torch.nonzero(frames[batch]).flatten()
    if atoms.numel() == 0:
        return torch.zeros((2, 0), dtype=torch.long, device=batch.device)
    frame = batch[atoms]
    counts = torch.bincount(frame, minlength=frames.shape[0])
    starts = torch.cumsum(counts, 0) - counts  # first compacted row of each frame
    per_receiver = counts[frame]  # sources (self included) of each receiver
    total = int(per_receiver.sum())
    receivers = torch.repeat_interleave(
        torch.arange(atoms.numel(), device=batch.device), per_receiver
    )
    block_start = torch.repeat_interleave(
        torch.cumsum(per_receiver, 0) - per_receiver, per_receiver
    )
    sources = (
        torch.repeat_interleave(starts[frame], per_receiver)
        + torch.arange(total, device=batch.device)
        - block_start
    )
    keep = receivers != sources
    return torch.stack([atoms[receivers[keep]], atoms[sources[keep]]])


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
    b: float = 0.0,
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
        b: second inverse width (1/Å) of the ``SPLIT_REMAINDER`` kernel.
        chunk_size: pairs per block (bounds memory).

    Returns:
        φ (N,), E (N, 3), G (N, 3, 3) for the N rows of ``positions``.
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
        B = radial_functions(r, kind, a, nmax, b)
        mu_s = mu[src] if mu is not None else None
        th_s = theta[src] if theta is not None else None
        p, e, g = pair_fields(R, B, q[src], mu_s, th_s, need_gradient)
        phi = phi.index_add(0, recv, p)
        E = E.index_add(0, recv, e)
        if need_gradient:
            G = G.index_add(0, recv, g)
    return phi, E, G


def real_space_pairs(
    positions: torch.Tensor, cell: torch.Tensor, num_sites: int, cutoff: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pairs closer than ``cutoff`` whose receiver is one of the first ``num_sites`` rows.

    Without extra rows (``num_sites`` = M) the search is periodic in ``cell`` (every image,
    even beyond the cell). With rows beyond ``num_sites`` (an engine's explicit ghost
    images, complete to the cutoff) the search is open among all rows: each image is a
    source of its own.

    Args:
        positions: (M, 3) Å. cell: (3, 3) rows are lattice vectors, Å.
        num_sites: N ≤ M receivers. cutoff: Å.

    Returns:
        edge_index (2, P): receiver i < N, source j < M; edge_vectors (P, 3) receiver minus
        source (image) position, differentiable in positions and cell.
    """
    periodic = num_sites == positions.shape[0]
    index, shifts = torch.ops.polmlip.neighbor_pairs(positions, cell, periodic, cutoff)
    if not periodic:
        keep = index[0] < num_sites
        index = index[:, keep]
        shifts = shifts[keep]
    vec = positions[index[0]] - positions[index[1]]
    if periodic:
        vec = vec - shifts.to(positions.dtype) @ cell
    return index, vec
