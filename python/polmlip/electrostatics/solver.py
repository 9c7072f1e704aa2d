"""`MultipoleElectrostatics`: energy, potential, field and field gradient of multipole sites.

One module, three summation strategies with identical results:

* ``"ewald"``: explicit k-vectors, the reference (periodic);
* ``"pme"``: smooth particle-mesh Ewald, the production path (periodic);
* open boundaries (``pbc=False`` at call time): the direct pair sum.

Two site models:

* smeared (default): Gaussian sites with pair width σ (pair kernel
  erf(r/(√2σ))/r); periodic sums are reciprocal space only;
* point (``point=True``): true point multipoles by full Ewald (real space with
  erfc + reciprocal), or the bare 1/r sum in open boundaries.

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
from .kernels import COULOMB, ERF, ERFC
from .multipoles import gaussian_self_terms, site_energies, traceless
from .neighbors import periodic_pairs
from .pairs import all_pairs, pair_sum_fields
from .pme import pme_fields


class MultipoleElectrostatics(torch.nn.Module):
    """Electrostatics of sites carrying q, μ and Θ (each optional but q).

    Args:
        sigma: Gaussian pair width σ in Å (smeared mode), > 0.
        method: ``"pme"`` or ``"ewald"`` for periodic systems.
        accuracy: requested relative accuracy; sets the k-space cutoff, the mesh,
            and in point mode the Ewald splitting.
        spline_order: PME B-spline order, 4..8.
        point: point multipoles instead of Gaussian sites.
        real_cutoff: real-space cutoff in Å (point mode only).
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
        real_cutoff: float = 8.0,
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
        if point and not real_cutoff > 0.0:
            raise ValueError(f"polmlip: real_cutoff must be > 0 Å, got {real_cutoff}")
        self.sigma = float(sigma)
        self.method = method
        self.accuracy = float(accuracy)
        self.spline_order = int(spline_order)
        self.point = bool(point)
        self.real_cutoff = float(real_cutoff)
        self.max_mesh_points = int(max_mesh_points)
        self.kspace_chunk = int(kspace_chunk)
        self.open_kernel = COULOMB if self.point else ERF
        self.real_kernel = ERFC
        if self.point:
            self.eta = acc.ewald_splitting(self.real_cutoff, self.accuracy)
            self.width = 1.0 / (math.sqrt(2.0) * self.eta)
        else:
            self.eta = 1.0 / (math.sqrt(2.0) * self.sigma)
            self.width = self.sigma
        self.norms: List[float] = acc.spectral_norms(self.width)
        self.kcut_candidates, self.kcut_table = acc.kspace_tail_table(self.width)
        self.spacing_candidates, self.spacing_table = acc.pme_error_table(
            self.width, self.spline_order
        )

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
    def kspace_cutoff(self, magnitudes: List[float]) -> float:
        """Ewald k cutoff (1/Å) for the multipole magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30]."""
        return acc.pick(
            self.kcut_candidates, self.kcut_table, self.norms, magnitudes, self.accuracy
        )

    @torch.jit.export
    def mesh_shape(self, cell: torch.Tensor, magnitudes: List[float]) -> List[int]:
        """PME mesh for this cell and the magnitudes [Σq², Σ|μ|²/3, ΣΘ:Θ/30].

        Raises if the mesh would exceed ``max_mesh_points``.
        """
        h = acc.pick(
            self.spacing_candidates, self.spacing_table, self.norms, magnitudes, self.accuracy
        )
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

    def forward(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        pbc: bool,
        q: torch.Tensor,
        mu: Optional[torch.Tensor] = None,
        theta: Optional[torch.Tensor] = None,
        need_gradient: bool = True,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Site energies and the fields of all other sites at every site.

        Args:
            positions: (N, 3) Å.
            cell: (3, 3) rows are lattice vectors, Å (ignored when ``pbc`` is False).
            pbc: periodic in all three directions, or open boundaries.
            q: (N,) charges, e.
            mu: (N, 3) dipoles, e·Å, or None.
            theta: (N, 3, 3) quadrupoles, e·Å² (made symmetric traceless), or None.
            need_gradient: compute the field gradient G (needed for Θ energies).

        Returns:
            site_energy (N,) eV, whose sum is the electrostatic energy;
            φ (N,) V; E (N, 3) V/Å; G (N, 3, 3) V/Å², each excluding the site itself.
        """
        cellmod.check_positions(positions)
        if theta is not None:
            theta = traceless(theta)
            need_gradient = True
        if pbc:
            cellmod.check_cell(cell)
            phi, E, G = self._periodic(positions, cell, q, mu, theta, need_gradient)
        else:
            edges = all_pairs(positions.shape[0], positions.device)
            vec = positions[edges[0]] - positions[edges[1]]
            phi, E, G = pair_sum_fields(
                positions, edges, vec, q, mu, theta, self.open_kernel, self.eta, need_gradient
            )
        ke = units.COULOMB
        phi = ke * phi
        E = ke * E
        G = ke * G
        return site_energies(q, mu, theta, phi, E, G), phi, E, G

    def _periodic(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        q: torch.Tensor,
        mu: Optional[torch.Tensor],
        theta: Optional[torch.Tensor],
        need_gradient: bool,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mags = self._magnitudes(q, mu, theta)
        if self.method == "ewald":
            phi, E, G = reciprocal_fields(
                positions,
                cell,
                q,
                mu,
                theta,
                self.width,
                self.kspace_cutoff(mags),
                need_gradient,
                self.kspace_chunk,
            )
        else:
            phi, E, G = pme_fields(
                positions,
                cell,
                q,
                mu,
                theta,
                self.width,
                self.mesh_shape(cell, mags),
                self.spline_order,
                need_gradient,
            )
        dphi, dE, dG = gaussian_self_terms(q, mu, theta, self.width)
        phi = phi + dphi
        E = E + dE
        G = G + dG
        if self.point:
            edges, vec = periodic_pairs(positions, cell, self.real_cutoff)
            p, e, g = pair_sum_fields(
                positions, edges, vec, q, mu, theta, self.real_kernel, self.eta, need_gradient
            )
            total_q = global_sum(q.sum())
            background = -2.0 * math.pi * self.width**2 * total_q / cellmod.volume(cell)
            phi = phi + p + background
            E = E + e
            G = G + g
        return phi, E, G
