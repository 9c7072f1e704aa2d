"""Long-range multipole electrostatics in differentiable PyTorch (TorchScript-compatible).

Public API:

* :class:`MultipoleElectrostatics`: energy, φ, E and ∇E of q/μ/Θ sites by Ewald,
  PME or open-boundary sums; Gaussian (smeared) or point sites.
* :func:`induced_charges`, :func:`induced_dipoles`: non-self-consistent response.
* :func:`open_polarization`, :func:`periodic_polarization`, :func:`born_charges`,
  :func:`field_forces`: polarization, Born effective charges, applied-field forces.
* :func:`global_sum`: the single seam for reductions over all sites.
"""

from .. import ops as _ops
from .comm import global_sum
from .polarization import born_charges, field_forces, open_polarization, periodic_polarization
from .response import induced_charges, induced_dipoles
from .solver import MultipoleElectrostatics

_ops.load()

__all__ = [
    "MultipoleElectrostatics",
    "born_charges",
    "field_forces",
    "global_sum",
    "induced_charges",
    "induced_dipoles",
    "open_polarization",
    "periodic_polarization",
]
