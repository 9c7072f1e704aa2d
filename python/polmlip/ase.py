"""Short import path: ``from polmlip.ase import PolMLIPCalculator``."""

from .integrations.ase import PolMLIPCalculator

__all__ = ["PolMLIPCalculator"]
