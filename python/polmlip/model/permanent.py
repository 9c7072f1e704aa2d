"""Electrostatics of the permanent multipoles: open frames together, periodic frames one by one."""

from typing import Dict, Optional, Tuple

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

    With the Ewald split on (``solver.split``) and ghost rows present (an engine that
    decomposes the domain), the ghosts take their owners' q, μ, Θ through ``polmlip::halo``
    and act as the real-space sources beyond the rank's own atoms; the mesh part still
    spreads local sites only.
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
        mu_all: Optional[torch.Tensor] = None
        th_all: Optional[torch.Tensor] = None
        if self.use_dipoles:
            mu_all = data[keys.PERMANENT_DIPOLES]
        if self.use_quadrupoles:
            th_all = data[keys.QUADRUPOLES]
        n_local = local_count(data)
        nframes = cell.shape[0]
        m = pos.shape[0]
        # the split's real-space pairs reach ghost images: give them their owners' multipoles
        with_ghosts = self.solver.split and m > n_local
        if with_ghosts:
            q, mu_all, th_all = self._halo_multipoles(q, mu_all, th_all, n_local)
        energy = torch.zeros(nframes, dtype=pos.dtype, device=pos.device)
        phi = torch.zeros(m, dtype=pos.dtype, device=pos.device)
        efield = torch.zeros((m, 3), dtype=pos.dtype, device=pos.device)
        # open frames without ghost rows: their direct sums all at once (a batch of
        # molecules costs one pass, not one pass per molecule)
        together = torch.zeros_like(pbc) if with_ghosts else torch.logical_not(pbc)
        if bool(together.any()):
            local = batch[:n_local]
            e_site, phi_o, e_o, _ = self.solver.open_frames(
                pos[:n_local],
                local,
                together,
                q[:n_local],
                mu_all[:n_local] if mu_all is not None else None,
                th_all[:n_local] if th_all is not None else None,
                self.use_quadrupoles,
            )
            energy = energy.index_add(0, local, e_site)
            rows = torch.nonzero(together[local]).flatten()
            phi = phi.index_copy(0, rows, phi_o[rows])
            efield = efield.index_copy(0, rows, e_o[rows])
        for b in range(nframes):
            if bool(together[b]):
                continue
            idx = torch.nonzero(batch[:n_local] == b).flatten()
            sites = idx
            if with_ghosts:  # local rows first, then this frame's ghost images
                ghosts = torch.nonzero(batch[n_local:] == b).flatten() + n_local
                sites = torch.cat([idx, ghosts])
            mu_b: Optional[torch.Tensor] = None
            th_b: Optional[torch.Tensor] = None
            if mu_all is not None:
                mu_b = mu_all[sites]
            if th_all is not None:
                th_b = th_all[sites]
            e_site, phi_b, e_b, _ = self.solver(
                pos[sites],
                cell[b],
                bool(pbc[b]),
                q[sites],
                mu_b,
                th_b,
                self.use_quadrupoles,
                int(idx.shape[0]),
            )
            energy = energy.index_add(0, torch.tensor([b], device=pos.device), e_site.sum()[None])
            phi = phi.index_copy(0, idx, phi_b)
            efield = efield.index_copy(0, idx, e_b)
        data[keys.ELECTROSTATIC_ENERGY] = energy
        data[keys.POTENTIAL] = phi
        data[keys.FIELD] = efield
        return data

    def _halo_multipoles(
        self,
        q: torch.Tensor,
        mu: Optional[torch.Tensor],
        theta: Optional[torch.Tensor],
        n_local: int,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """q (M,), μ (M, 3), Θ (M, 3, 3) with every ghost row its owner's, in one exchange."""
        m = q.shape[0]
        cols = [q[:, None]]
        if mu is not None:
            cols.append(mu)
        if theta is not None:
            cols.append(theta.reshape(m, 9))
        rows = torch.ops.polmlip.halo(torch.cat(cols, dim=1), n_local)
        mu_out: Optional[torch.Tensor] = None
        th_out: Optional[torch.Tensor] = None
        if mu is not None:
            mu_out = rows[:, 1:4]
        if theta is not None:
            start = 4 if mu is not None else 1
            th_out = rows[:, start : start + 9].reshape(m, 3, 3)
        return rows[:, 0], mu_out, th_out
