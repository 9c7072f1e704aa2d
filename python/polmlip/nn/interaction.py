"""The NequIP-style message-passing layer (the ``nequip`` backbone's), built from e3nn."""

from typing import List

import torch
from e3nn import o3
from e3nn.nn import Gate
from e3nn.util.jit import compile_mode

from .convolution import Convolution


@compile_mode("script")
class Interaction(Convolution):
    """One message-passing layer: h_i ← Gate(Lin(Σ_j TP(h_j, Y(r̂_ij); R(r_ij)))) + SC(h_i).

    Args:
        irreps_in: input node features.
        irreps_hidden: output node features (scalars 0e and gated l > 0 irreps).
        irreps_sh: edge spherical harmonics irreps.
        num_basis: radial basis size; radial_widths: the radial MLP's hidden widths.
        avg_neighbors: normalisation of the neighbour sum.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_hidden: o3.Irreps,
        irreps_sh: o3.Irreps,
        num_basis: int,
        radial_widths: List[int],
        avg_neighbors: float,
    ) -> None:
        super().__init__(
            irreps_in, irreps_hidden, irreps_sh, num_basis, radial_widths, avg_neighbors
        )
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l > 0])
        # lmax 0: nothing to gate (e3nn's Gate needs empty Irreps, not "0x0e")
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        gate_acts = [torch.sigmoid] if gated.num_irreps else []
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, gate_acts, gated)
        self.linear_down = o3.Linear(self.irreps_mid, self.gate.irreps_in)
        self.self_connection = o3.Linear(irreps_in, self.gate.irreps_out)
        self.irreps_out = self.gate.irreps_out

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
        """h (N, irreps_in) of local and ghost atoms, species (N,) (unused: this layer's
        weights are the same for every element), edges with local receivers, edge_sh
        (E, irreps_sh), edge_basis (E, num_basis) (unused when compressed), edge_length (E,)
        Å → (n_local, irreps_out): new features of the local atoms (the first ``n_local``
        rows) only."""
        agg = self.convolve(h, edge_index, edge_sh, edge_basis, edge_length, n_local)
        return self.gate(self.linear_down(agg)) + self.self_connection(h[:n_local])
