"""Neighbour lists of one frame (the reference of the ``polmlip::neighbor_pairs`` operator
and the graphs of :mod:`polmlip.data.graph`)."""

from __future__ import annotations

import numpy as np
import vesin
from scipy.spatial import cKDTree


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc: bool, cutoff: float):
    """Full neighbour list: (i, j, integer shifts S) with r_ij = r_j − r_i + S·cell.

    Periodic frames use vesin. Open frames use a k-d tree, which holds any extent (vesin's
    cell list stops the process on a SIGFPE when one atom is ~1e6 Å away).
    """
    if pbc:
        calc = vesin.NeighborList(cutoff=cutoff, full_list=True)
        i, j, s = calc.compute(points=positions, box=cell, periodic=True, quantities="ijS")
        return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64)
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((j, i))
    return i[order], j[order], np.zeros((len(i), 3), dtype=np.int64)
