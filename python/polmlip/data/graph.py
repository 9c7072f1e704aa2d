"""Build model graphs from ASE ``Atoms`` and batch them.

Neighbour lists come from :func:`polmlip.neighbors.neighbor_list` (vesin: exact for any
cell, several images of the same atom included when the cutoff exceeds the cell).
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from .. import keys
from ..errors import InputError
from ..neighbors import neighbor_list
from ..units import MIN_DISTANCE


def species_index(symbols: Sequence[str], elements: Sequence[str]) -> np.ndarray:
    """Map chemical symbols to model type indices; unknown elements raise InputError."""
    lookup = {e: i for i, e in enumerate(elements)}
    unknown = sorted({s for s in symbols if s not in lookup})
    if unknown:
        raise InputError(
            f"element(s) {unknown} are not known to this model, which was trained for "
            f"{list(elements)}"
        )
    return np.array([lookup[s] for s in symbols], dtype=np.int64)


def atoms_to_graph(
    atoms,
    elements: Sequence[str],
    cutoff: float,
    external_field: Sequence[float] = (0.0, 0.0, 0.0),
    total_charge: float = 0.0,
    dtype: torch.dtype = torch.float64,
    min_distance: float = MIN_DISTANCE,
) -> Dict[str, torch.Tensor]:
    """One frame as a graph dict (see :mod:`polmlip.keys`), batch of size 1.

    Raises InputError for an empty system, unknown elements, NaN/inf positions, mixed
    periodicity, degenerate cells, overlapping atoms and a non-finite field or charge.
    """
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    if len(pos) == 0:
        raise InputError("the system has no atoms")
    if not np.isfinite(pos).all():
        bad = int(np.nonzero(~np.isfinite(pos).all(axis=1))[0][0])
        raise InputError(f"positions contain NaN or inf (first bad atom index {bad})")
    pbc_flags = np.asarray(atoms.get_pbc(), dtype=bool)
    if pbc_flags.any() and not pbc_flags.all():
        raise InputError(
            f"mixed periodicity {pbc_flags.tolist()} is not supported: use a fully periodic "
            "cell (add vacuum) or open boundaries"
        )
    pbc = bool(pbc_flags.all())
    cell = np.asarray(atoms.get_cell().array, dtype=np.float64)
    if pbc:
        vol = abs(np.linalg.det(cell))
        if not np.isfinite(cell).all() or vol < 1e-6:
            raise InputError("periodic frame has a degenerate cell (zero or NaN volume)")
    species = species_index(atoms.get_chemical_symbols(), elements)
    i, j, s = neighbor_list(pos, cell, pbc, cutoff)
    if len(i):
        d = pos[j] - pos[i] + s @ cell
        dmin = float(np.sqrt((d * d).sum(1)).min())
        if dmin < min_distance:
            k = int(np.argmin((d * d).sum(1)))
            raise InputError(
                f"atoms {int(i[k])} and {int(j[k])} overlap (distance {dmin:.3g} Å, below the "
                f"model's minimum distance {min_distance:.3g} Å)"
            )
    field = np.asarray(external_field, dtype=np.float64).reshape(3)
    if not np.isfinite(field).all() or not np.isfinite(total_charge):
        raise InputError(
            f"the applied field {field.tolist()} V/Å and total charge {total_charge} e must be "
            "finite"
        )
    return {
        keys.SPECIES: torch.from_numpy(species),
        keys.POSITIONS: torch.tensor(pos, dtype=dtype),
        keys.EDGE_INDEX: torch.from_numpy(np.stack([i, j])),
        keys.EDGE_SHIFT: torch.from_numpy(s),
        keys.BATCH: torch.zeros(len(species), dtype=torch.int64),
        keys.CELL: torch.tensor(cell, dtype=dtype)[None],
        keys.PBC: torch.tensor([pbc]),
        keys.EXTERNAL_FIELD: torch.tensor(field, dtype=dtype)[None],
        keys.TOTAL_CHARGE: torch.tensor([float(total_charge)], dtype=dtype),
        keys.NUM_ATOMS: torch.tensor([len(species)], dtype=torch.int64),
    }


def closest_pair(graph: Dict[str, torch.Tensor]) -> float:
    """The shortest distance (Å) between two atoms of a frame (periodic images included);
    inf for a frame without pairs within the cutoff."""
    i, j = graph[keys.EDGE_INDEX]
    if i.numel() == 0:
        return float("inf")
    pos = graph[keys.POSITIONS].double()
    vec = pos[j] - pos[i] + graph[keys.EDGE_SHIFT].double() @ graph[keys.CELL][0].double()
    return float(torch.linalg.norm(vec, dim=-1).min())


def collate(graphs: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Concatenate single-frame graphs into one batch (atoms stay contiguous per frame)."""
    out: Dict[str, torch.Tensor] = {}
    offset = 0
    edges, batches = [], []
    for b, g in enumerate(graphs):
        edges.append(g[keys.EDGE_INDEX] + offset)
        batches.append(torch.full_like(g[keys.BATCH], b))
        offset += g[keys.SPECIES].shape[0]
    out[keys.EDGE_INDEX] = torch.cat(edges, dim=1)
    out[keys.BATCH] = torch.cat(batches)
    common = set(graphs[0])
    for g in graphs[1:]:
        common &= set(g)
    for k in graphs[0]:
        if k in (keys.EDGE_INDEX, keys.BATCH) or k not in common:
            continue
        out[k] = torch.cat([g[k] for g in graphs])
    # reference values some frames lack: zeros there, and a per-frame mask (data/targets.py)
    from .targets import TARGETS

    for target in TARGETS.values():
        k = target.reference
        if k in common or not any(k in g for g in graphs):
            continue
        like = next(g[k] for g in graphs if k in g)
        rows = []
        for g in graphs:
            if k in g:
                rows.append(g[k])
            else:
                n = g[keys.SPECIES].shape[0] if target.per_atom else 1
                rows.append(like.new_zeros((n,) + tuple(like.shape[1:])))
        out[k] = torch.cat(rows)
        out[keys.TARGET_MASK_PREFIX + target.name] = torch.tensor([k in g for g in graphs])
    return out
