"""Non-self-consistent linear response: induced charges and induced dipoles."""

from typing import Dict

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import (
    bond_dipoles,
    bond_sum,
    induced_bond_charges,
    induced_charges,
    induced_dipoles,
)
from ..nn.radial import PolynomialCutoff
from .frames import FRAME_KEYS, frame_sum, local_count


@compile_mode("script")
class LinearResponse(torch.nn.Module):
    """Induced charges and dipoles in the potential and field of the permanent multipoles.

    * Induced charges (κ): on the bonds in bond mode, t_ind = −κ_e (φ_i − φ_j + E_ext·v_e),
      whose polarization is the image-independent Σ_i d_ind,i; otherwise per site with a
      Lagrange multiplier, q_ind = −κ (φ − λ), polarized as Σ q_ind r.
    * Induced dipoles (α): μ_ind = α (E + E_ext).

    The applied field enters through ``applied_field_at_sites`` (M, 3) V/Å, each bond's at its
    receiving atom: the polarizability ∂P/∂E differentiates that leaf (:class:`Derivatives`).

    Writes ``induced_charges`` (M,) e, ``induced_dipoles`` (n_local, 3) e·Å,
    ``response_energy`` (B,) eV and ``induced_polarization_share`` (B, 3) e·Å (this
    process's atoms).
    """

    inputs = (
        keys.POTENTIAL,
        keys.FIELD,
        keys.CHARGE_SUSCEPTIBILITY,
        keys.DIPOLE_POLARIZABILITY,
        keys.EDGE_VECTORS,
        keys.EDGE_INDEX,
        keys.APPLIED_FIELD_AT_SITES,
        keys.BATCH,
        keys.POSITIONS,
    ) + FRAME_KEYS
    outputs = (
        keys.INDUCED_CHARGES,
        keys.INDUCED_DIPOLES,
        keys.RESPONSE_ENERGY,
        keys.INDUCED_POLARIZATION_SHARE,
    )

    def __init__(
        self,
        induced_charges: bool,
        induced_dipoles: bool,
        on_bonds: bool,
        cutoff: float,
        bond_norm: float,
    ) -> None:
        super().__init__()
        self.use_induced_charges = induced_charges
        self.use_induced_dipoles = induced_dipoles
        self.on_bonds = on_bonds
        self.envelope = PolynomialCutoff(cutoff)
        self.bond_norm = bond_norm

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pos = data[keys.POSITIONS]
        batch = data[keys.BATCH]
        n_local = local_count(data)
        nframes = data[keys.CELL].shape[0]
        field_at = data[keys.APPLIED_FIELD_AT_SITES]
        local_frame = batch[:n_local]
        energy = torch.zeros(nframes, dtype=pos.dtype, device=pos.device)
        share = torch.zeros((nframes, 3), dtype=pos.dtype, device=pos.device)
        if self.use_induced_charges:
            phi = data[keys.POTENTIAL]
            kappa = data[keys.CHARGE_SUSCEPTIBILITY]
            if self.on_bonds:
                edge_index = data[keys.EDGE_INDEX]
                vectors = data[keys.EDGE_VECTORS]
                m = pos.shape[0]
                # ghosts take their owners' potential (computed for local atoms only); their
                # κ is exact already (heads on exchanged features)
                phi = torch.ops.polmlip.halo(phi, n_local)
                r = torch.linalg.norm(vectors, dim=-1)
                w = self.envelope(r) * self.bond_norm
                t_ind, e_edge = induced_bond_charges(
                    phi, kappa, w, vectors, edge_index, field_at[edge_index[0]]
                )
                q_ind = bond_sum(t_ind, edge_index, m)
                e_atom = bond_sum(e_edge, edge_index, m)
                share = share + frame_sum(
                    bond_dipoles(t_ind, vectors, edge_index, m), data, n_local
                )
            else:
                q_ind, e_atom = induced_charges(phi[:n_local], kappa[:n_local])
                share = share + frame_sum(q_ind[:, None] * pos[:n_local], data, n_local)
            energy = energy.index_add(0, local_frame, e_atom[:n_local])
            data[keys.INDUCED_CHARGES] = q_ind
        if self.use_induced_dipoles:
            alpha = data[keys.DIPOLE_POLARIZABILITY][:n_local]
            mu_ind, e_mu = induced_dipoles(data[keys.FIELD][:n_local], field_at[:n_local], alpha)
            energy = energy.index_add(0, local_frame, e_mu)
            share = share + frame_sum(mu_ind, data, n_local)
            data[keys.INDUCED_DIPOLES] = mu_ind
        data[keys.RESPONSE_ENERGY] = energy
        data[keys.INDUCED_POLARIZATION_SHARE] = share
        return data
