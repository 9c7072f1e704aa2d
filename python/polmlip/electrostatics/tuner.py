"""Choosing the long-range settings: the k-space width of the Ewald split, the Ewald k cutoff
and the PME mesh, from the requested accuracy, the cell and the multipole magnitudes.

Separate from the summations (:mod:`.ewald`, :mod:`.pme`, :mod:`.pairs`), which take the
settings as numbers, and from *when* they are chosen (:mod:`.tuning`: every call, or once per
run). The error tables come from :mod:`.accuracy`.
"""

import math
from typing import List, Tuple

import torch

from . import accuracy as acc
from . import cell as cellmod


class KSpaceTuner(torch.nn.Module):
    """The settings of the k-space sum for a requested relative accuracy.

    Args:
        width: the reference pair width (Å): σ of the Gaussian sites, or 1/(√2η) of the
            point-multipole Ewald split; the tables are made at this width.
        sigma: the site width σ (Å). real_cutoff: the real-space cutoff (Å), 0 for none.
        can_split: the Ewald split of Gaussian sites is possible; split: it is on.
        accuracy: the requested relative accuracy. spline_order: PME B-spline order.
        max_mesh_points: refuse meshes larger than this (memory guard).
    """

    split_candidates: List[float]
    split_table: List[List[float]]
    split_norms: List[float]

    def __init__(
        self,
        width: float,
        sigma: float,
        real_cutoff: float,
        can_split: bool,
        split: bool,
        accuracy: float,
        spline_order: int,
        max_mesh_points: int,
    ) -> None:
        super().__init__()
        self.width = float(width)
        self.split = bool(split)
        self.accuracy = float(accuracy)
        self.spline_order = int(spline_order)
        self.max_mesh_points = int(max_mesh_points)
        # k-space tables at the reference width; a wider split width scales them
        self.norms: List[float] = acc.spectral_norms(self.width)
        self.kcut_candidates, self.kcut_table = acc.kspace_tail_table(self.width)
        self.spacing_candidates, self.spacing_table = acc.pme_error_table(
            self.width, self.spline_order
        )
        self.split_candidates = [1.0]
        self.split_table = [[0.0] for _ in range(acc.PAIR_ORDERS)]
        self.split_norms = [1.0] * acc.PAIR_ORDERS
        if can_split:
            self.split_candidates, self.split_table, self.split_norms = acc.split_error_table(
                sigma, real_cutoff
            )

    def choose(
        self, cell: torch.Tensor, magnitudes: List[float], ewald: bool
    ) -> Tuple[float, float, List[int]]:
        """(k-space width in Å, Ewald k cutoff in 1/Å or 0, PME mesh or []) for ``cell`` and
        the magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30]; ``ewald``: the explicit k sum, else PME."""
        for m in magnitudes:
            if not math.isfinite(m):
                raise ValueError(
                    "polmlip: the multipoles are not finite (NaN or inf), so no long-range "
                    "setting can be chosen; a diverged model or non-finite input?"
                )
        width = self.kspace_width(magnitudes)
        if ewald:
            return width, self.kspace_cutoff(magnitudes), []
        return width, 0.0, self.mesh_shape(cell, magnitudes)

    def _budget(self) -> float:
        """The accuracy each part gets: half the variance each when the sum is split."""
        if self.split:
            return self.accuracy / math.sqrt(2.0)
        return self.accuracy

    def kspace_width(self, magnitudes: List[float]) -> float:
        """Pair width (Å) of the k-space Gaussian: σ unsplit, 1/(√2η) when split."""
        if not self.split:
            return self.width
        eta = acc.pick_split(
            self.split_candidates, self.split_table, self.split_norms, magnitudes, self._budget()
        )
        return 1.0 / (math.sqrt(2.0) * eta)

    def _kspace_pick(
        self,
        candidates: List[float],
        table: List[List[float]],
        width: float,
        magnitudes: List[float],
    ) -> float:
        """The first candidate of a k-space table (made at the reference width) that meets
        the k-space budget at pair width ``width``, in the reference width's units."""
        return acc.pick(
            candidates,
            table,
            self._scaled_norms(width),
            magnitudes,
            self._kspace_budget(width, magnitudes),
        )

    def _kspace_budget(self, width: float, magnitudes: List[float]) -> float:
        """Relative error allowed to the k-space part at pair width ``width``.

        The k-space tables measure errors relative to the k-space part's own force, which a
        split makes smaller than the whole (width σ): the budget grows by their ratio.
        """
        if width <= self.width:
            return self._budget()
        part = 0.0
        whole = 0.0
        scaled = self._scaled_norms(width)
        for l in range(3):
            part += magnitudes[l] * scaled[l]
            whole += magnitudes[l] * self.norms[l]
        if part <= 0.0:
            return self._budget()
        return self._budget() * whole / part

    def _scaled_norms(self, width: float) -> List[float]:
        f = width / self.width
        return [self.norms[0] * f**-3, self.norms[1] * f**-5, self.norms[2] * f**-7]

    def kspace_cutoff(self, magnitudes: List[float]) -> float:
        """Ewald k cutoff (1/Å) for the multipole magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30]."""
        width = self.kspace_width(magnitudes)
        kcut = self._kspace_pick(self.kcut_candidates, self.kcut_table, width, magnitudes)
        return kcut * self.width / width

    def mesh_shape(self, cell: torch.Tensor, magnitudes: List[float]) -> List[int]:
        """PME mesh for this cell and the magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30].

        Raises if the mesh would exceed ``max_mesh_points``.
        """
        width = self.kspace_width(magnitudes)
        h = self._kspace_pick(self.spacing_candidates, self.spacing_table, width, magnitudes)
        h = h * width / self.width
        spacing = cellmod.plane_spacings(cell.detach())
        widths = [float(spacing[0]), float(spacing[1]), float(spacing[2])]
        shape = acc.mesh_shape(widths, h, self.spline_order)
        total = shape[0] * shape[1] * shape[2]
        if total > self.max_mesh_points:
            raise ValueError(
                "polmlip: the PME mesh "
                + str(shape)
                + " ("
                + str(total)
                + " points) exceeds max_mesh_points="
                + str(self.max_mesh_points)
                + "; lower the accuracy, raise sigma, or raise max_mesh_points if memory allows"
            )
        return shape
