"""Export in openmm-torch's ``TorchForce`` convention (``polmlip export --torchforce``).

The written TorchScript module is tied to one particle order (species baked in) and has
the signature openmm-torch calls, in OpenMM units:

* periodic systems:  ``forward(positions, boxvectors, polmlip_Ex, polmlip_Ey, polmlip_Ez)``
* open boundaries:   ``forward(positions, polmlip_Ex, polmlip_Ey, polmlip_Ez)``

``positions`` (N, 3) nm, ``boxvectors`` (3, 3) nm (rows), field components 0-d tensors in
V/Å (openmm-torch's global parameters), returning the energy (0-d) in kJ/mol.

The neighbour list is built inside (``polmlip::neighbor_pairs``). Forces come from
``energy.backward()`` as openmm-torch does it: the returned energy is the model energy
plus ``−(F·r − (F·r).detach())``, which is zero in value and whose gradient is −F: the
forces are the model's own (one backward inside), and openmm-torch's backward costs no
second derivative. The consumer process must have the polmlip
operators registered: ``import polmlip`` in Python, or load ``libpolmlip_ops.so``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Sequence

import torch
from e3nn.util.jit import compile_mode

from .. import keys, units
from ..data.graph import species_index
from ..units import MIN_DISTANCE, NM_TO_ANGSTROM
from .io import load_exported, save_scripted

ENERGY_TO_KJ = units.EV_TO_KJ_PER_MOL
FORCE_TO_KJ_NM = units.EV_TO_KJ_PER_MOL * units.NM_TO_ANGSTROM


@compile_mode("script")
class _TorchForceCore(torch.nn.Module):
    """Shared part: nm → Å, neighbour list, engine call, kJ/mol and the force surrogate."""

    def __init__(
        self,
        engine: Any,
        species: torch.Tensor,
        cutoff: float,
        total_charge: float,
        dtype,
        min_distance: float,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.register_buffer("species", species)
        self.register_buffer("probe", torch.zeros(0, dtype=dtype))
        self.cutoff = cutoff
        self.total_charge = total_charge
        self.length_scale = NM_TO_ANGSTROM
        self.energy_scale = ENERGY_TO_KJ
        self.force_scale = FORCE_TO_KJ_NM
        self.min_distance = min_distance

    def forward(
        self,
        positions: torch.Tensor,
        box: torch.Tensor,
        periodic: bool,
        ex: torch.Tensor,
        ey: torch.Tensor,
        ez: torch.Tensor,
    ) -> torch.Tensor:
        n = positions.shape[0]
        if n != self.species.shape[0]:
            raise ValueError(
                "polmlip: this TorchForce file was exported for a different number of particles"
            )
        dtype = self.probe.dtype
        pos = positions.detach().to(dtype) * self.length_scale
        cell = box.detach().to(dtype) * self.length_scale
        edge_index, shifts = torch.ops.polmlip.neighbor_pairs(pos, cell, periodic, self.cutoff)
        if edge_index.shape[1] > 0:
            vec = pos[edge_index[1]] - pos[edge_index[0]] + shifts.to(dtype) @ cell
            dist = torch.linalg.norm(vec, dim=-1)
            k = int(torch.argmin(dist))
            if float(dist[k]) < self.min_distance:
                # TorchScript's str.format has no format specs: round to 1e-4 Å by hand
                template = (
                    "polmlip: particles {} and {} overlap (distance {} A, below the model's "
                    "minimum distance {} A)"
                )
                raise ValueError(
                    template.format(
                        int(edge_index[0, k]),
                        int(edge_index[1, k]),
                        round(float(dist[k]) * 1e4) / 1e4,
                        self.min_distance,
                    )
                )
        field = torch.stack([ex.reshape(()), ey.reshape(()), ez.reshape(())]).to(dtype)
        inputs: Dict[str, torch.Tensor] = {
            keys.SPECIES: self.species,
            keys.POSITIONS: pos,
            keys.EDGE_INDEX: edge_index,
            keys.EDGE_SHIFT: shifts,
            keys.CELL: cell,
            keys.PBC: torch.tensor(periodic),
            keys.EXTERNAL_FIELD: field,
            keys.TOTAL_CHARGE: torch.tensor(self.total_charge, dtype=dtype),
        }
        out = self.engine(inputs, [keys.FORCES])
        energy = (out[keys.ENERGY] * self.energy_scale).to(positions.dtype)
        forces = (out[keys.FORCES] * self.force_scale).to(positions.dtype)
        work = (forces * positions).sum()
        return energy - (work - work.detach())


@compile_mode("script")
class TorchForcePeriodic(torch.nn.Module):
    """``forward(positions nm, boxvectors nm, Ex, Ey, Ez V/Å) -> energy kJ/mol``."""

    def __init__(self, core: _TorchForceCore) -> None:
        super().__init__()
        self.core = core

    def forward(
        self,
        positions: torch.Tensor,
        boxvectors: torch.Tensor,
        polmlip_Ex: torch.Tensor,
        polmlip_Ey: torch.Tensor,
        polmlip_Ez: torch.Tensor,
    ) -> torch.Tensor:
        return self.core(positions, boxvectors, True, polmlip_Ex, polmlip_Ey, polmlip_Ez)


@compile_mode("script")
class TorchForceOpen(torch.nn.Module):
    """``forward(positions nm, Ex, Ey, Ez V/Å) -> energy kJ/mol`` (no periodic box)."""

    def __init__(self, core: _TorchForceCore) -> None:
        super().__init__()
        self.core = core

    def forward(
        self,
        positions: torch.Tensor,
        polmlip_Ex: torch.Tensor,
        polmlip_Ey: torch.Tensor,
        polmlip_Ez: torch.Tensor,
    ) -> torch.Tensor:
        box = torch.zeros(3, 3, dtype=positions.dtype, device=positions.device)
        return self.core(positions, box, False, polmlip_Ex, polmlip_Ey, polmlip_Ez)


def export_torchforce(
    model_file: str | os.PathLike,
    symbols: Sequence[str],
    path: str | os.PathLike,
    periodic: bool = True,
    total_charge: float = 0.0,
) -> Dict[str, Any]:
    """Write a TorchForce-convention file for the particle order ``symbols``.

    Args:
        model_file: a file written by ``polmlip export`` (the engine export).
        symbols: chemical symbol of every particle of the OpenMM system, in order.
        path: output file. periodic: whether the system uses a periodic box.
        total_charge: total charge of the system (e).

    Returns the metadata stored in the file (``kind`` = ``"torchforce"``).
    """
    engine, meta = load_exported(model_file)
    species = torch.from_numpy(species_index(list(symbols), meta["elements"]))
    core = _TorchForceCore(
        engine,
        species,
        float(meta["cutoff"]),
        float(total_charge),
        getattr(torch, meta["dtype"]),
        float(meta.get("min_distance", MIN_DISTANCE)),
    )
    wrapper = TorchForcePeriodic(core) if periodic else TorchForceOpen(core)
    scripted = torch.jit.script(wrapper)
    meta = dict(meta)
    meta.update(
        kind="torchforce",
        periodic=bool(periodic),
        num_particles=len(symbols),
        particle_elements=list(symbols),
        total_charge=float(total_charge),
        signature=(
            "forward(positions nm, boxvectors nm, polmlip_Ex, polmlip_Ey, polmlip_Ez) -> kJ/mol"
            if periodic
            else "forward(positions nm, polmlip_Ex, polmlip_Ey, polmlip_Ez) -> kJ/mol"
        ),
    )
    save_scripted(scripted, meta, path)
    return meta
