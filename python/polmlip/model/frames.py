"""Per-frame and per-rank bookkeeping shared by the model's modules.

A data dict holds one or more frames (``batch`` gives each atom's frame). Engine frames on
several ranks hold ``num_local`` local atoms followed by ghosts; the helpers here keep sums
over local atoms only (ghosts get their owners' values through ``polmlip::halo``).
"""

from typing import Dict, List

import torch

from .. import keys
from ..electrostatics import global_sum

#: what the helpers here read: modules that use them declare these among their inputs
FRAME_KEYS = (keys.POSITIONS, keys.NUM_LOCAL, keys.CELL, keys.BATCH)


def local_count(data: Dict[str, torch.Tensor]) -> int:
    """Number of local atoms: ``num_local`` of an engine frame, else all atoms."""
    if keys.NUM_LOCAL in data:
        return int(data[keys.NUM_LOCAL][0])
    return int(data[keys.POSITIONS].shape[0])


def frame_sum(values: torch.Tensor, data: Dict[str, torch.Tensor], n_local: int) -> torch.Tensor:
    """Σ over the local atoms of each frame: (M, ...) → (B, ...) (this process's share)."""
    nframes = data[keys.CELL].shape[0]
    shape: List[int] = [nframes] + list(values.shape[1:])
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    return out.index_add(0, data[keys.BATCH][:n_local], values[:n_local])


def neutralise(values: torch.Tensor, data: Dict[str, torch.Tensor], n_local: int) -> torch.Tensor:
    """``values`` (M,) e shifted per frame by (Σ_local − Q)/N over all ranks, so that each
    frame's local atoms sum to its total charge Q (ghost rows get their frame's shift)."""
    batch = data[keys.BATCH]
    nframes = data[keys.CELL].shape[0]
    frame = batch[:n_local]
    zeros = torch.zeros(nframes, dtype=values.dtype, device=values.device)
    sums = zeros.index_add(0, frame, values[:n_local])
    counts = zeros.index_add(0, frame, torch.ones_like(values[:n_local]))
    sums = global_sum(torch.stack([sums, counts]))
    total = data[keys.TOTAL_CHARGE].to(values.dtype)
    shift = (sums[0] - total) / torch.clamp(sums[1], min=1.0)  # a frame may have no atom
    return values - shift[batch]
