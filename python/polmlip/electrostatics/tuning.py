"""When the long-range settings are chosen: on every call, or once per run.

The k-space settings of :class:`~polmlip.electrostatics.MultipoleElectrostatics` (the
k-space Gaussian width of the Ewald split, the Ewald k cutoff, the PME mesh) follow from the
requested accuracy, the cell and the multipole magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30].

* ``per_call`` (training): frames of every size and charge pass through one model, so the
  settings are chosen for each frame from its own magnitudes.
* fixed (engines, the default of exported files): chosen once, at the first periodic call,
  from that frame's magnitudes (one global sum, on every rank at the same call), and kept,
  as LAMMPS ``pppm`` keeps its mesh through a run. The potential-energy surface is then
  one smooth function: a mesh that followed the magnitudes of each MD step would make it
  piecewise. The influence function still follows the cell at every call. The settings are
  chosen again only when

  - a plane spacing of the cell moves by more than ``cell_tolerance`` (relative) from the one
    they were chosen for (then with the stored magnitudes: no collective), or
  - :meth:`reset` is called (the engine's setup of a new run, a new system in ASE, a changed
    accuracy or split).
"""

from typing import List

import torch

#: relative change of a plane spacing that makes a fixed mesh be chosen again: the PME
#: error grows as h^p (order p = 7: a 1 % coarser mesh spacing gives ~7 % more error)
CELL_TOLERANCE = 0.01


def _short(x: float) -> str:
    """x rounded to 4 decimals, as text (TorchScript has no format specifications)."""
    return str(round(x * 1e4) / 1e4)


class KSpaceTuning(torch.nn.Module):
    """The chosen long-range settings and the rule for choosing them again.

    Attributes:
        per_call: choose on every call (training) instead of once per run.
        cell_tolerance: relative plane-spacing change that triggers a new choice.
        magnitudes: [Σq², Σ|μ|²/3, ΣΘ:Θ/30] (e², e²Å², e²Å⁴) the settings were chosen for.
        spacings: plane spacings (3,) Å of the cell they were chosen for.
        width: k-space Gaussian pair width, Å. kcut: Ewald k cutoff, 1/Å (0 with PME).
        shape: PME mesh (empty with Ewald). tunings: how often the settings were chosen.
    """

    magnitudes: List[float]
    spacings: List[float]
    shape: List[int]

    def __init__(self, cell_tolerance: float = CELL_TOLERANCE) -> None:
        super().__init__()
        self.per_call = True
        self.cell_tolerance = float(cell_tolerance)
        self.magnitudes: List[float] = []
        self.spacings: List[float] = []
        self.width = 0.0
        self.kcut = 0.0
        self.shape: List[int] = []
        self.tunings = 0

    @torch.jit.export
    def reset(self) -> None:
        """Forget the settings: the next periodic call chooses them again."""
        no_floats: List[float] = []
        no_ints: List[int] = []
        self.magnitudes = no_floats
        self.spacings = list(no_floats)
        self.shape = no_ints
        self.width = 0.0
        self.kcut = 0.0

    @torch.jit.export
    def has_magnitudes(self) -> bool:
        """Whether stored magnitudes may be reused (fixed mode, chosen before)."""
        return (not self.per_call) and len(self.magnitudes) == 3

    @torch.jit.export
    def valid_for(self, spacings: List[float]) -> bool:
        """Whether the stored settings serve a cell with these plane spacings (Å)."""
        if self.per_call or len(self.spacings) != 3:
            return False
        for d in range(3):
            if abs(spacings[d] / self.spacings[d] - 1.0) > self.cell_tolerance:
                return False
        return True

    @torch.jit.export
    def store(
        self,
        magnitudes: List[float],
        spacings: List[float],
        width: float,
        kcut: float,
        shape: List[int],
    ) -> None:
        self.magnitudes = magnitudes
        self.spacings = spacings
        self.width = width
        self.kcut = kcut
        self.shape = shape
        self.tunings += 1

    @torch.jit.export
    def describe(self) -> str:
        """One line for an engine's log."""
        if len(self.spacings) != 3:
            return "not chosen yet (at the first periodic call)"
        mesh = "x".join([str(k) for k in self.shape]) if len(self.shape) == 3 else "-"
        mags = ", ".join([_short(m) for m in self.magnitudes])
        mode = "every call" if self.per_call else "fixed for the run"
        return (
            "k-space Gaussian width "
            + _short(self.width)
            + " A, PME mesh "
            + mesh
            + ", Ewald k cutoff "
            + _short(self.kcut)
            + " 1/A; chosen "
            + mode
            + " from magnitudes ["
            + mags
            + "] (sum q^2, sum |mu|^2/3, sum Theta:Theta/30); chosen again when a cell "
            + "plane spacing moves by more than "
            + str(self.cell_tolerance * 100.0)
            + " %"
        )
