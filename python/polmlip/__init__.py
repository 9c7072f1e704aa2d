"""polmlip: machine-learned interatomic potentials with polarizable long-range electrostatics.

Internal units: Å, eV, e, V/Å, fs (see :mod:`polmlip.units`).
"""

__version__ = "0.1.0"
