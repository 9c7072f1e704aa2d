"""A small brute-force periodic pair finder in TorchScript-compatible PyTorch.

It is exact for any cell shape and any cutoff (several images of the same atom
are found when the cutoff exceeds the cell), at O(N² × images) cost. It serves
point-multipole Ewald real space on small systems and tests; models use an
engine's or vesin's neighbour list instead.
"""

import math
from typing import Tuple

import torch

from . import cell as cellmod


def periodic_pairs(
    positions: torch.Tensor, cell: torch.Tensor, cutoff: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """All ordered pairs closer than ``cutoff`` under periodic images.

    Args:
        positions: (N, 3) Å. cell: (3, 3) rows are lattice vectors. cutoff: Å.

    Returns:
        edge_index (2, P) receiver i and source j, and edge_vectors (P, 3) =
        r_i − (r_j + n·cell), differentiable in positions and cell.
    """
    inv = torch.linalg.inv(cell)
    frac = positions @ inv
    wrapped = positions - torch.floor(frac.detach()) @ cell
    spacing = cellmod.plane_spacings(cell.detach())
    nrep = [int(math.ceil(cutoff / float(spacing[d]))) + 1 for d in range(3)]
    r0 = torch.arange(-nrep[0], nrep[0] + 1, device=positions.device)
    r1 = torch.arange(-nrep[1], nrep[1] + 1, device=positions.device)
    r2 = torch.arange(-nrep[2], nrep[2] + 1, device=positions.device)
    shifts = torch.cartesian_prod(r0, r1, r2).reshape(-1, 3).to(positions.dtype)
    n = positions.shape[0]
    ii = torch.arange(n, device=positions.device)
    idx_list = []
    vec_list = []
    for s in range(shifts.shape[0]):
        shift = shifts[s] @ cell
        diff = wrapped[:, None, :] - wrapped[None, :, :] - shift  # (N, N, 3)
        dist = torch.linalg.norm(diff.detach(), dim=-1)
        mask = dist < cutoff
        if bool((shifts[s] == 0).all()):
            mask = mask & (ii[:, None] != ii[None, :])
        pairs = torch.nonzero(mask)
        if pairs.shape[0] > 0:
            idx_list.append(pairs.T)
            vec_list.append(diff[pairs[:, 0], pairs[:, 1]])
    if len(idx_list) == 0:
        return torch.zeros((2, 0), dtype=torch.long, device=positions.device), torch.zeros(
            (0, 3), dtype=positions.dtype, device=positions.device
        )
    return torch.cat(idx_list, dim=1), torch.cat(vec_list, dim=0)
