"""Coupling to the applied field: the polarization and −E_ext·P_perm."""

from typing import Dict

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import global_sum
from .frames import FRAME_KEYS, frame_sum, local_count


@compile_mode("script")
class FieldCoupling(torch.nn.Module):
    """The permanent polarization P_perm, its field energy −E_ext·P_perm, and the total P.

    P_perm = Σ_i (d_i + μ_i + q_site,i r_i): the bond charges' image-independent dipoles,
    the latent dipoles and Σ q_site r of the given (unstrained) coordinates. The induced
    multipoles carry their own field energy (in the response energy); their polarization
    share is added to P here. Writes ``field_energy`` (B,) eV, ``polarization_share``
    (B, 3) e·Å (this process's atoms, which the Born charges differentiate) and
    ``polarization`` (B, 3) e·Å (all ranks).
    """

    inputs = (
        keys.BOND_DIPOLES,
        keys.PERMANENT_DIPOLES,
        keys.SITE_CHARGES,
        keys.POSITIONS,
        keys.EXTERNAL_FIELD,
        keys.BATCH,
        keys.INDUCED_POLARIZATION_SHARE,
    ) + FRAME_KEYS
    outputs = (keys.FIELD_ENERGY, keys.POLARIZATION_SHARE, keys.POLARIZATION)

    def __init__(self, dipoles: bool) -> None:
        super().__init__()
        self.use_dipoles = dipoles

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pos = data[keys.POSITIONS]
        n_local = local_count(data)
        dipole = data[keys.BOND_DIPOLES]
        if self.use_dipoles:
            dipole = dipole + data[keys.PERMANENT_DIPOLES]
        site = data[keys.SITE_CHARGES][:, None] * pos
        p_perm = frame_sum(dipole + site, data, n_local)
        field_ext = data[keys.EXTERNAL_FIELD].to(pos.dtype)
        data[keys.FIELD_ENERGY] = -(field_ext * p_perm).sum(-1)
        share = p_perm + data[keys.INDUCED_POLARIZATION_SHARE]
        data[keys.POLARIZATION_SHARE] = share
        data[keys.POLARIZATION] = global_sum(share)
        return data
