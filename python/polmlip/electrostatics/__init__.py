"""Long-range multipole electrostatics in differentiable PyTorch (TorchScript-compatible).

Public API:

* :class:`MultipoleElectrostatics`: energy, φ, E and ∇E of q/μ/Θ sites by Ewald,
  PME or open-boundary sums; Gaussian (smeared) or point sites.
* :func:`induced_charges`, :func:`induced_dipoles`: non-self-consistent response;
  :mod:`.bonds`: local charge conservation by bond-charge increments, the bond
  polarization and induced bond charges.
* :func:`open_polarization`, :func:`phase_polarization`, :func:`born_charges`:
  polarization and Born effective charges.
* :func:`global_sum`: the single seam for reductions over all sites.
"""

from .. import ops as _ops
from .bonds import bond_charges, bond_dipoles, bond_sum, induced_bond_charges
from .comm import global_sum
from .polarization import (
    born_charges,
    open_polarization,
    phase_polarization,
    projected_born_charges,
)
from .response import induced_charges, induced_dipoles
from .solver import MultipoleElectrostatics

_ops.load()

__all__ = [
    "MultipoleElectrostatics",
    "bond_charges",
    "bond_dipoles",
    "bond_sum",
    "born_charges",
    "projected_born_charges",
    "global_sum",
    "induced_bond_charges",
    "induced_charges",
    "induced_dipoles",
    "open_polarization",
    "phase_polarization",
]
