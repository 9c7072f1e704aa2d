"""polmlip: machine-learned interatomic potentials with polarizable long-range electrostatics.

Internal units: Å, eV, e, V/Å, fs (see :mod:`polmlip.units`).

Importing polmlip registers its TorchScript operators (``torch.ops.polmlip.*``, see
:mod:`polmlip.ops`), so that any exported file, including one in openmm-torch's TorchForce
convention, loads with plain ``torch.jit.load`` afterwards.
"""

__version__ = "0.1.0"

from . import ops as _ops  # noqa: E402

_ops.load()
