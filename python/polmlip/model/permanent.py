"""Electrostatics of the permanent multipoles, frame by frame."""

from typing import Dict, Optional

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import MultipoleElectrostatics
from .frames import FRAME_KEYS, local_count


@compile_mode("script")
class PermanentElectrostatics(torch.nn.Module):
    """Energy (B,) eV, potential φ (M,) V and field E (M, 3) V/Å of the permanent q, μ, Θ.

    Each frame's local atoms go through :class:`MultipoleElectrostatics` (Ewald/PME of
    Gaussian sites in periodic frames, direct sums in open ones) at the strained positions,
    so that the strain derivative gives the virial. Ghost rows of φ and E stay zero.
    """

    inputs = (
        keys.STRAINED_POSITIONS,
        keys.STRAINED_CELL,
        keys.PBC,
        keys.BATCH,
        keys.PERMANENT_CHARGES,
        keys.PERMANENT_DIPOLES,
        keys.QUADRUPOLES,
    ) + FRAME_KEYS
    outputs = (keys.ELECTROSTATIC_ENERGY, keys.POTENTIAL, keys.FIELD)

    def __init__(self, solver: MultipoleElectrostatics, dipoles: bool, quadrupoles: bool) -> None:
        super().__init__()
        self.solver = solver
        self.use_dipoles = dipoles
        self.use_quadrupoles = quadrupoles

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pos = data[keys.STRAINED_POSITIONS]
        cell = data[keys.STRAINED_CELL]
        batch = data[keys.BATCH]
        pbc = data[keys.PBC]
        q = data[keys.PERMANENT_CHARGES]
        n_local = local_count(data)
        nframes = cell.shape[0]
        m = pos.shape[0]
        energy = torch.zeros(nframes, dtype=pos.dtype, device=pos.device)
        phi = torch.zeros(m, dtype=pos.dtype, device=pos.device)
        efield = torch.zeros((m, 3), dtype=pos.dtype, device=pos.device)
        for b in range(nframes):
            idx = torch.nonzero(batch[:n_local] == b).flatten()
            mu_b: Optional[torch.Tensor] = None
            th_b: Optional[torch.Tensor] = None
            if self.use_dipoles:
                mu_b = data[keys.PERMANENT_DIPOLES][idx]
            if self.use_quadrupoles:
                th_b = data[keys.QUADRUPOLES][idx]
            e_site, phi_b, e_b, _ = self.solver(
                pos[idx], cell[b], bool(pbc[b]), q[idx], mu_b, th_b, self.use_quadrupoles
            )
            energy = energy.index_add(0, torch.tensor([b], device=pos.device), e_site.sum()[None])
            phi = phi.index_copy(0, idx, phi_b)
            efield = efield.index_copy(0, idx, e_b)
        data[keys.ELECTROSTATIC_ENERGY] = energy
        data[keys.POTENTIAL] = phi
        data[keys.FIELD] = efield
        return data
