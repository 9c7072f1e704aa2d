"""The MACE message-passing layer (the ``mace`` backbone's), written from its equations.

Batatia, Kovács, Simm, Ortner and Csányi, "MACE: Higher order equivariant message passing
neural networks for fast and accurate force fields", NeurIPS 2022, eq. 8–13, in the form of
its "residual, real agnostic" interaction block:

    A_i    = Lin( Σ_j TP(Lin(h_j), Y(r̂_ij); R(r_ij)) / √avg )      the A-basis (eq. 8–9)
    m_i    = Lin( Σ_ν Σ_η W_{z_i} B_{i,ην} )                       product basis (eq. 10–11)
    h_i'   = m_i + W_{z_i} h_i                                     element-dependent residual

or, as the first layer of mace-torch's ``MACE`` models ("real agnostic" block without the
residual), A_i ← W_{z_i} A_i (an element-dependent linear map of the A-basis) and h_i' = m_i.

The convolution is :class:`polmlip.nn.convolution.Convolution` (so the fused operator and
the radial tables of the fast path apply), the product basis
:class:`polmlip.nn.symmetric_product.SymmetricProduct`. Every weight that depends on the
element (product weights, residual) is read from the receiver's species.
"""

from typing import List

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .convolution import Convolution, hidden_irreps
from .symmetric_product import SymmetricProduct


@compile_mode("script")
class MACEInteraction(Convolution):
    """One MACE layer (interaction + product basis + residual).

    Args:
        irreps_in: input node features (C×0e for the first layer).
        channels, lmax: the output features C×0e + C×1o + … up to lmax (polar).
        irreps_sh: edge spherical harmonics irreps, up to MACE's ``max_ell``; the A-basis
            has the irreps C×(0e + 1o + … up to max_ell).
        num_basis, radial_widths: radial basis size and the MLP's hidden widths.
        avg_neighbors: normalisation of the neighbour sum.
        num_species: number of elements.
        correlation: highest body order of the product basis (ν ≤ 3; MACE's default is 3).
        residual: add the element-dependent residual W_{z_i} h_i (``skip``: input → output
            irreps); otherwise ``skip`` maps the A-basis per element (A → A irreps) before
            the product basis and nothing is added.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        channels: int,
        lmax: int,
        irreps_sh: o3.Irreps,
        num_basis: int,
        radial_widths: List[int],
        avg_neighbors: float,
        num_species: int,
        correlation: int,
        residual: bool = True,
    ) -> None:
        max_ell = irreps_sh.lmax
        a_irreps = hidden_irreps(channels, max_ell)
        target = hidden_irreps(channels, lmax)
        super().__init__(irreps_in, a_irreps, irreps_sh, num_basis, radial_widths, avg_neighbors)
        self.linear = o3.Linear(self.irreps_mid, a_irreps)
        self.product = SymmetricProduct(channels, lmax, correlation, num_species, max_ell)
        self.linear_out = o3.Linear(target, target)
        elements = o3.Irreps(f"{num_species}x0e")
        if residual:
            self.skip = o3.FullyConnectedTensorProduct(irreps_in, elements, target)
        else:
            self.skip = o3.FullyConnectedTensorProduct(a_irreps, elements, a_irreps)
        self.residual = residual
        self.num_species = num_species
        self.irreps_out = target

    def forward(
        self,
        h: torch.Tensor,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_basis: torch.Tensor,
        edge_length: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """h (N, irreps_in) of local and ghost atoms, species (N,), edges with local
        receivers, edge_sh (E, irreps_sh), edge_basis (E, num_basis) (unused when
        compressed), edge_length (E,) Å → (n_local, irreps_out): new features of the local
        atoms (the first ``n_local`` rows) only."""
        a = self.linear(self.convolve(h, edge_index, edge_sh, edge_basis, edge_length, n_local))
        local_species = species[:n_local]
        one_hot = torch.nn.functional.one_hot(local_species, self.num_species).to(h.dtype)
        if not self.residual:
            a = self.skip(a, one_hot)
        message = self.linear_out(self.product(a, local_species))
        if self.residual:
            message = message + self.skip(h[:n_local], one_hot)
        return message
