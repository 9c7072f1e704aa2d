"""`MultipoleElectrostatics`: energy, potential, field and field gradient of multipole sites.

One module, three summation strategies with identical results:

* ``"ewald"``: explicit k-vectors, the reference (periodic);
* ``"pme"``: smooth particle-mesh Ewald, the production path (periodic);
* open boundaries (``pbc=False`` at call time): the direct pair sum.

Two site models:

* smeared (default): Gaussian sites with pair width σ (pair kernel
  erf(r/(√2σ))/r). Periodic sums are either reciprocal space only (no
  ``real_cutoff``), or Ewald-split (``real_cutoff`` given): the k-space part is a
  wider Gaussian erf(η r)/r, width 1/(√2η) > σ, on a coarser mesh, and the short
  remainder [erfc(η r) − erfc(r/(√2σ))]/r is summed over pairs within
  ``real_cutoff``; η follows from the requested accuracy (:func:`accuracy.split_error_table`);
* point (``point=True``): true point multipoles by full Ewald (real space with
  erfc + reciprocal), or the bare 1/r sum in open boundaries.

The k-space settings (split width, k cutoff, mesh) are chosen by :class:`KSpaceTuner`
(:mod:`.tuner`), and when they are chosen again by :class:`KSpaceTuning` (:mod:`.tuning`); the
summations take them as numbers.

Non-neutral periodic systems carry a uniform neutralizing background. In point
mode the standard correction −π k_e Q²/(2 V η²) is added, as in LAMMPS; in
smeared mode the k = 0 term is simply absent, which is the exact energy of
Gaussian sites in a uniform background.
"""

import math
from typing import List, Optional, Tuple

import torch

from .. import units
from . import accuracy as acc
from . import cell as cellmod
from .comm import global_sum
from .ewald import reciprocal_fields
from .kernels import COULOMB, ERF, ERFC, SPLIT_REMAINDER
from .multipoles import gaussian_self_terms, site_energies, traceless
from .pairs import all_pairs, frame_pairs, pair_sum_fields, real_space_pairs
from .pme import pme_fields
from .tuner import KSpaceTuner
from .tuning import KSpaceTuning


class MultipoleElectrostatics(torch.nn.Module):
    """Electrostatics of sites carrying q, μ and Θ (each optional but q).

    Args:
        sigma: Gaussian pair width σ in Å (smeared mode), > 0.
        method: ``"pme"`` or ``"ewald"`` for periodic systems.
        accuracy: requested relative accuracy; sets the k-space cutoff, the mesh, and the
            Ewald splitting η (point mode, and smeared mode with ``real_cutoff``).
        spline_order: PME B-spline order, 4..8.
        point: point multipoles instead of Gaussian sites.
        real_cutoff: real-space cutoff in Å. Point mode: required (default 8 Å). Smeared
            mode: None (or 0) keeps everything in k-space at the site width σ; a cutoff
            splits the sum (see the module docstring), which needs explicit pairs within
            it: a periodic neighbour search in one process, or ghost images from an engine.
        split: use the split when ``real_cutoff`` is given in smeared mode (else only
            prepare it: :meth:`set_split` switches it on, e.g. in an engine whose mesh is
            distributed over ranks).
        max_mesh_points: refuse meshes larger than this (memory guard).
        kspace_chunk: k-vectors per block in the Ewald sum.
    """

    def __init__(
        self,
        sigma: float = 1.0,
        method: str = "pme",
        accuracy: float = 1e-5,
        spline_order: int = 7,
        point: bool = False,
        real_cutoff: Optional[float] = None,
        split: bool = True,
        max_mesh_points: int = 2**27,
        kspace_chunk: int = 2048,
    ) -> None:
        super().__init__()
        if not (sigma > 0.0 and math.isfinite(sigma)):
            raise ValueError(f"polmlip: sigma must be a positive width in Å, got {sigma}")
        if method not in ("pme", "ewald"):
            raise ValueError(f"polmlip: method must be 'pme' or 'ewald', got {method!r}")
        if not (0.0 < accuracy < 1.0):
            raise ValueError(f"polmlip: accuracy must be in (0, 1), got {accuracy}")
        if not (4 <= spline_order <= 8):
            raise ValueError(f"polmlip: spline_order must be in 4..8, got {spline_order}")
        if point and real_cutoff is None:
            real_cutoff = 8.0
        cut = 0.0 if real_cutoff is None else float(real_cutoff)
        if not (cut >= 0.0 and math.isfinite(cut)) or (point and cut == 0.0):
            raise ValueError(f"polmlip: real_cutoff must be > 0 Å, got {real_cutoff}")
        self.sigma = float(sigma)
        self.method = method
        self.accuracy = float(accuracy)
        self.spline_order = int(spline_order)
        self.point = bool(point)
        self.can_split = cut > 0.0 and not self.point
        self.split = self.can_split and bool(split)
        self.real_cutoff = cut
        self.max_mesh_points = int(max_mesh_points)
        self.kspace_chunk = int(kspace_chunk)
        self.open_kernel = COULOMB if self.point else ERF
        self.real_kernel = ERFC if self.point else SPLIT_REMAINDER
        self.site_eta = 1.0 / (math.sqrt(2.0) * self.sigma)
        if self.point:
            self.eta = acc.ewald_splitting(self.real_cutoff, self.accuracy)
            self.width = 1.0 / (math.sqrt(2.0) * self.eta)
        else:
            self.eta = self.site_eta
            self.width = self.sigma
        self.tuner = KSpaceTuner(
            self.width,
            self.sigma,
            self.real_cutoff,
            self.can_split,
            self.split,
            self.accuracy,
            self.spline_order,
            self.max_mesh_points,
        )
        self.tuning = KSpaceTuning()

    @torch.jit.export
    def set_fixed_tuning(self, fixed: bool) -> None:
        """Choose the k-space settings once per run (engines) or on every call (training);
        see :mod:`polmlip.electrostatics.tuning`."""
        self.tuning.per_call = not fixed
        self.tuning.reset()

    @torch.jit.export
    def set_accuracy(self, accuracy: float) -> None:
        """Change the requested relative accuracy (the settings are chosen again)."""
        if not (0.0 < accuracy < 1.0):
            raise ValueError("polmlip: kspace accuracy must be in (0, 1)")
        self.accuracy = accuracy
        self.tuner.accuracy = accuracy
        self.tuning.reset()

    @torch.jit.export
    def set_split(self, enabled: bool) -> None:
        """Switch the Ewald split of the Gaussian sites on or off (same physics to the
        accuracy; the split needs ``real_cutoff`` at construction)."""
        if enabled and not self.can_split:
            raise ValueError(
                "polmlip: this model has no real-space cutoff for the Ewald split "
                "(real_space_cutoff 0, or point multipoles)"
            )
        self.split = enabled
        self.tuner.split = enabled
        self.tuning.reset()

    def _magnitudes(
        self, q: torch.Tensor, mu: Optional[torch.Tensor], theta: Optional[torch.Tensor]
    ) -> List[float]:
        """[Σq², Σ|μ|²/3, ΣΘ:Θ/30] over all sites (global), the spectral weights per order."""
        m = torch.zeros(3, dtype=q.dtype, device=q.device)
        m[0] = (q.detach() ** 2).sum()
        if mu is not None:
            m[1] = (mu.detach() ** 2).sum() / 3.0
        if theta is not None:
            m[2] = (theta.detach() ** 2).sum() / 30.0
        m = global_sum(m)
        return [float(m[0]), float(m[1]), float(m[2])]

    @torch.jit.export
    def kspace_width(self, magnitudes: List[float]) -> float:
        """Pair width (Å) of the k-space Gaussian (:meth:`KSpaceTuner.kspace_width`)."""
        return self.tuner.kspace_width(magnitudes)

    @torch.jit.export
    def kspace_cutoff(self, magnitudes: List[float]) -> float:
        """Ewald k cutoff (1/Å) (:meth:`KSpaceTuner.kspace_cutoff`)."""
        return self.tuner.kspace_cutoff(magnitudes)

    @torch.jit.export
    def mesh_shape(self, cell: torch.Tensor, magnitudes: List[float]) -> List[int]:
        """PME mesh for this cell (:meth:`KSpaceTuner.mesh_shape`)."""
        return self.tuner.mesh_shape(cell, magnitudes)

    def forward(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        pbc: bool,
        q: torch.Tensor,
        mu: Optional[torch.Tensor] = None,
        theta: Optional[torch.Tensor] = None,
        need_gradient: bool = True,
        num_sites: int = -1,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Site energies and the fields of all other sites at every site.

        Args:
            positions: (M, 3) Å: the N sites, then (engines with explicit periodic images)
                ghost images of sites, which only act as real-space sources.
            cell: (3, 3) rows are lattice vectors, Å (ignored when ``pbc`` is False).
            pbc: periodic in all three directions, or open boundaries.
            q: (M,) charges, e.
            mu: (M, 3) dipoles, e·Å, or None.
            theta: (M, 3, 3) quadrupoles, e·Å² (made symmetric traceless), or None.
            need_gradient: compute the field gradient G (needed for Θ energies).
            num_sites: N, the sites whose fields are wanted; −1: all M rows. With ghost
                rows the engine guarantees every image within ``real_cutoff`` of a site.

        Returns:
            site_energy (N,) eV, whose sum is the electrostatic energy;
            φ (N,) V; E (N, 3) V/Å; G (N, 3, 3) V/Å², each excluding the site itself.
        """
        cellmod.check_positions(positions)
        n = positions.shape[0] if num_sites < 0 else num_sites
        if theta is not None:
            theta = traceless(theta)
            need_gradient = True
        if pbc:
            cellmod.check_cell(cell)
            phi, E, G = self._periodic(positions, cell, q, mu, theta, need_gradient, n)
        else:
            edges = all_pairs(n, positions.device)
            vec = positions[edges[0]] - positions[edges[1]]
            phi, E, G = pair_sum_fields(
                positions[:n],
                edges,
                vec,
                q[:n],
                mu[:n] if mu is not None else None,
                theta[:n] if theta is not None else None,
                self.open_kernel,
                self.eta,
                need_gradient,
            )
        ke = units.COULOMB
        phi = ke * phi
        E = ke * E
        G = ke * G
        mu_n = mu[:n] if mu is not None else None
        th_n = theta[:n] if theta is not None else None
        return site_energies(q[:n], mu_n, th_n, phi, E, G), phi, E, G

    def open_frames(
        self,
        positions: torch.Tensor,
        batch: torch.Tensor,
        frames: torch.Tensor,
        q: torch.Tensor,
        mu: Optional[torch.Tensor] = None,
        theta: Optional[torch.Tensor] = None,
        need_gradient: bool = True,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`forward` of many open frames at once: the direct sums of all pairs within
        each frame marked in ``frames`` (B,) bool, in one pass (``batch`` (N,): each row's
        frame, frames contiguous). Same units and returns as :meth:`forward`, for all N rows;
        rows of unmarked frames are zero."""
        cellmod.check_positions(positions)
        if theta is not None:
            theta = traceless(theta)
            need_gradient = True
        edges = frame_pairs(batch, frames)
        vec = positions[edges[0]] - positions[edges[1]]
        phi, E, G = pair_sum_fields(
            positions, edges, vec, q, mu, theta, self.open_kernel, self.eta, need_gradient
        )
        ke = units.COULOMB
        phi = ke * phi
        E = ke * E
        G = ke * G
        return site_energies(q, mu, theta, phi, E, G), phi, E, G

    def _settings(
        self,
        cell: torch.Tensor,
        q: torch.Tensor,
        mu: Optional[torch.Tensor],
        theta: Optional[torch.Tensor],
    ) -> Tuple[float, float, List[int]]:
        """k-space width (Å), Ewald k cutoff (1/Å) and PME mesh for this call: the stored
        ones when they serve this cell (fixed mode), else chosen now (a global sum of the
        magnitudes unless fixed mode has them already)."""
        spacing = cellmod.plane_spacings(cell.detach())
        spacings = [float(spacing[0]), float(spacing[1]), float(spacing[2])]
        t = self.tuning
        if not t.valid_for(spacings):
            if t.has_magnitudes():
                mags = t.magnitudes
            else:
                mags = self._magnitudes(q, mu, theta)
            width, kcut, shape = self.tuner.choose(cell, mags, self.method == "ewald")
            t.store(mags, spacings, width, kcut, shape)
        return t.width, t.kcut, t.shape

    def _periodic(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        q: torch.Tensor,
        mu: Optional[torch.Tensor],
        theta: Optional[torch.Tensor],
        need_gradient: bool,
        n: int,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos_n = positions[:n]
        q_n = q[:n]
        mu_n = mu[:n] if mu is not None else None
        th_n = theta[:n] if theta is not None else None
        width, kcut, shape = self._settings(cell, q_n, mu_n, th_n)
        if self.method == "ewald":
            phi, E, G = reciprocal_fields(
                pos_n, cell, q_n, mu_n, th_n, width, kcut, need_gradient, self.kspace_chunk
            )
        else:
            phi, E, G = pme_fields(
                pos_n, cell, q_n, mu_n, th_n, width, shape, self.spline_order, need_gradient
            )
        dphi, dE, dG = gaussian_self_terms(q_n, mu_n, th_n, width)
        phi = phi + dphi
        E = E + dE
        G = G + dG
        if self.point or width > self.width:
            eta = self.eta if self.point else 1.0 / (math.sqrt(2.0) * width)
            edges, vec = real_space_pairs(positions, cell, n, self.real_cutoff)
            p, e, g = pair_sum_fields(
                pos_n,
                edges,
                vec,
                q,
                mu,
                theta,
                self.real_kernel,
                eta,
                need_gradient,
                self.site_eta,
            )
            # the remainder's integral over the neutralising background of a charged cell
            rest = width**2 if self.point else width**2 - self.width**2
            total_q = global_sum(q_n.sum())
            background = -2.0 * math.pi * rest * total_q / cellmod.volume(cell)
            phi = phi + p + background
            E = E + e
            G = G + g
        return phi, E, G
