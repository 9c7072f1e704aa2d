"""Charge conservation: the latent charge head → permanent charges that sum to Q."""

from typing import Dict

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import bond_charges, bond_dipoles, bond_sum
from ..nn.bond_weight import BondWeight
from .frames import FRAME_KEYS, local_count, neutralise


@compile_mode("script")
class ChargeConservation(torch.nn.Module):
    """Permanent charges q (M,) e of every graph atom that sum to each frame's total charge.

    Modes (``charge_conservation`` of the model settings):

    * ``"bond"``: q_i = c_i + Σ_j t_ij with antisymmetric bond increments
      t_ij = w(r_ij)(a_i − a_j) of the latent charges a and a per-element baseline c
      neutralised per frame by a constant; all geometry dependence is local, and the bond
      charges' polarization is the image-independent Σ_i d_i (``bond_dipoles``).
    * ``"global"``: the latent charges shifted per frame by a constant.
    * ``"none"``: the latent charges as they are. Fixed charges: a per-element table.

    Writes ``permanent_charges``, ``site_charges`` (the part whose Σ q r over the given
    coordinates completes the polarization: the baseline in bond mode, q otherwise) and
    ``bond_dipoles`` (M, 3) e·Å (zero outside bond mode).
    """

    inputs = (
        keys.LATENT_CHARGES,
        keys.BASELINE_CHARGES,
        keys.SPECIES,
        keys.EDGE_VECTORS,
        keys.EDGE_INDEX,
        keys.BATCH,
        keys.TOTAL_CHARGE,
    ) + FRAME_KEYS
    outputs = (keys.PERMANENT_CHARGES, keys.SITE_CHARGES, keys.BOND_DIPOLES)

    def __init__(
        self,
        mode: str,
        use_charges: bool,
        fixed_charges: torch.Tensor,
        use_fixed: bool,
        cutoff: float,
        num_basis: int,
        avg_neighbors: float,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.use_charges = use_charges
        self.use_fixed = use_fixed
        self.bond_weight = BondWeight(cutoff, num_basis, avg_neighbors)
        self.register_buffer("fixed_charge_table", fixed_charges)

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        vectors = data[keys.EDGE_VECTORS]
        species = data[keys.SPECIES]
        edge_index = data[keys.EDGE_INDEX]
        dtype = vectors.dtype
        m = species.shape[0]
        n_local = local_count(data)
        dipole = torch.zeros((m, 3), dtype=dtype, device=vectors.device)
        data[keys.BOND_DIPOLES] = dipole
        if not self.use_charges:
            zero = torch.zeros(m, dtype=dtype, device=vectors.device)
            data[keys.PERMANENT_CHARGES] = zero
            data[keys.SITE_CHARGES] = zero
            return data
        if self.use_fixed:
            q = self.fixed_charge_table.to(dtype)[species]
        elif self.mode == "none":
            q = data[keys.LATENT_CHARGES]
        elif self.mode != "bond":
            q = neutralise(data[keys.LATENT_CHARGES], data, n_local)
        else:
            site = neutralise(data[keys.BASELINE_CHARGES], data, n_local)
            # ghost rows hold their owners' latent charges: the heads read the features
            # that the halo exchange gave them
            a = data[keys.LATENT_CHARGES]
            t = bond_charges(a, self.bond_weight(torch.linalg.norm(vectors, dim=-1)), edge_index)
            data[keys.PERMANENT_CHARGES] = bond_sum(t, edge_index, m) + site
            data[keys.SITE_CHARGES] = site
            data[keys.BOND_DIPOLES] = bond_dipoles(t, vectors, edge_index, m)
            return data
        data[keys.PERMANENT_CHARGES] = q
        data[keys.SITE_CHARGES] = q
        return data
