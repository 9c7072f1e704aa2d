"""The energy sum: U = Σ_i ε_i + E_perm + ΔE_q + ΔE_μ − E_ext·P_perm."""

from typing import Dict, List

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from .frames import FRAME_KEYS, local_count


@compile_mode("script")
class EnergySum(torch.nn.Module):
    """Per-atom short-range energies ε_i = scale·(read-out) + shift[species] (eV), and each
    frame's energy: the local atoms' ε plus every long-range term present in the data.

    ``energy_shift`` (per element) and ``energy_scale`` are fitted by the trainer. Writes
    ``atomic_energy`` (M,) and ``energy`` (B,) eV (this process's share).
    """

    inputs = (
        keys.RAW_ATOMIC_ENERGY,
        keys.SPECIES,
        keys.BATCH,
        keys.ELECTROSTATIC_ENERGY,
        keys.RESPONSE_ENERGY,
        keys.FIELD_ENERGY,
    ) + FRAME_KEYS
    outputs = (keys.ATOMIC_ENERGY, keys.ENERGY)

    def __init__(self, num_species: int) -> None:
        super().__init__()
        self.register_buffer("energy_shift", torch.zeros(num_species))
        self.register_buffer("energy_scale", torch.ones(()))
        self.terms: List[str] = [keys.ELECTROSTATIC_ENERGY, keys.FIELD_ENERGY, keys.RESPONSE_ENERGY]

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        raw = data[keys.RAW_ATOMIC_ENERGY]
        species = data[keys.SPECIES]
        atomic = raw * self.energy_scale + self.energy_shift[species].to(raw.dtype)
        n_local = local_count(data)
        nframes = data[keys.CELL].shape[0]
        energy = torch.zeros(nframes, dtype=raw.dtype, device=raw.device)
        energy = energy.index_add(0, data[keys.BATCH][:n_local], atomic[:n_local])
        for term in self.terms:
            if term in data:
                energy = energy + data[term]
        data[keys.ATOMIC_ENERGY] = atomic
        data[keys.ENERGY] = energy
        return data
