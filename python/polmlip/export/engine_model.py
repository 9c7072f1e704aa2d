"""The engine-facing module stored in an exported file.

Contract (documented in ``docs/export.md``): an engine builds the graph of its
local atoms and their neighbours (ghost atoms included when it decomposes the
domain) and calls

    forward(species, positions, edge_index, edge_shift, n_local, cell, pbc,
            external_field, total_charge, compute_virial, compute_bec[, atom_index])

All lengths in Å, energies in eV, fields in V/Å. Forces are computed inside (one
backward pass, including the applied-field force of periodic cells) for local
and ghost atoms; the engine sums ghost forces back onto their owners.
"""

from typing import Dict, Optional

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..model.polmlip import PolMLIP


@compile_mode("script")
class EngineModel(torch.nn.Module):
    """Wraps :class:`PolMLIP` behind the engine call signature."""

    def __init__(self, model: PolMLIP) -> None:
        super().__init__()
        self.model = model

    @torch.jit.export
    def set_kspace_accuracy(self, accuracy: float) -> None:
        """Override the relative accuracy of the long-range sum (engines' kspace_accuracy)."""
        if not (0.0 < accuracy < 1.0):
            raise ValueError("polmlip: kspace accuracy must be in (0, 1)")
        self.model.electrostatics.accuracy = accuracy

    @torch.jit.export
    def set_field_limit(self, limit: float) -> None:
        """Override the largest accepted applied field |E| in V/Å (see ModelConfig)."""
        if not (limit > 0.0 and limit < float("inf")):
            raise ValueError("polmlip: the field limit must be a positive, finite field in V/A")
        self.model.field_limit.fill_(limit)

    def forward(
        self,
        species: torch.Tensor,
        positions: torch.Tensor,
        edge_index: torch.Tensor,
        edge_shift: torch.Tensor,
        n_local: int,
        cell: torch.Tensor,
        pbc: bool,
        external_field: torch.Tensor,
        total_charge: float = 0.0,
        compute_virial: bool = True,
        compute_bec: bool = False,
        atom_index: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Energy (scalar), forces (N, 3), virial (3, 3) and per-atom outputs of one frame.

        Args:
            species: (N,) int64 model type indices of local (first ``n_local``) and ghost atoms.
            positions: (N, 3) Å. edge_index: (2, E) int64, receivers must be local atoms.
            edge_shift: (E, 3) integer lattice shifts (zeros when ghosts are explicit images).
            n_local: number of local atoms. cell: (3, 3) Å, rows are lattice vectors.
            pbc: periodic frame. external_field: (3,) V/Å. total_charge: e.
            atom_index: (N,) int64 global index of every atom, ghosts sharing their owner's
                (engines with ghost atoms; contiguous 0..N_global−1 over all ranks).
        """
        n = positions.shape[0]
        if n_local < 0 or n_local > n:
            raise ValueError("polmlip: n_local must be between 0 and the number of atoms")
        data: Dict[str, torch.Tensor] = {
            keys.SPECIES: species,
            keys.POSITIONS: positions,
            keys.EDGE_INDEX: edge_index,
            keys.EDGE_SHIFT: edge_shift,
            keys.BATCH: torch.zeros(n, dtype=torch.long, device=positions.device),
            keys.CELL: cell[None],
            keys.PBC: torch.tensor([pbc], device=positions.device),
            keys.EXTERNAL_FIELD: external_field.to(positions.dtype)[None],
            keys.TOTAL_CHARGE: torch.tensor(
                [total_charge], dtype=positions.dtype, device=positions.device
            ),
            keys.NUM_LOCAL: torch.tensor([n_local], device=positions.device),
        }
        if atom_index is not None:
            data[keys.ATOM_INDEX] = atom_index
        out = self.model(data, True, compute_virial and pbc, compute_bec, False)
        result: Dict[str, torch.Tensor] = {}
        for k, v in out.items():
            if k in (keys.ENERGY, keys.VIRIAL, keys.STRESS, keys.POLARIZATION, keys.POLARIZABILITY):
                result[k] = v[0].detach()
            else:
                result[k] = v.detach()
        return result
