"""The equivariant convolution shared by every backbone's message-passing layer.

Σ_j TP(W h_j, Y(r̂_ij); R(r_ij)) over the neighbours j of each local receiver i: a linear
mix of the senders' features, a depthwise (``uvu``) tensor product with the edge's spherical
harmonics weighted per edge by a radial network of the distance, summed over neighbours and
divided by √(average neighbour count). This is the A-basis of MACE (Batatia et al., 2022,
eq. 8–9) and the convolution of NequIP; both backbones subclass :class:`Convolution`, so
both get the fused operator (``polmlip::tp_conv``) and the radial tables of the fast path.
"""

from typing import List, Tuple

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet
from e3nn.util.jit import compile_mode

from .fused import conv_plan
from .radial_table import RadialTable


def hidden_irreps(channels: int, lmax: int) -> o3.Irreps:
    """C×0e + C×1o + C×2e ... up to lmax, with parity (−1)^l (polar tensors)."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])


def _mid_irreps(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_target: o3.Irreps
) -> Tuple[o3.Irreps, List[Tuple[int, int, int, str, bool]]]:
    """Depthwise ('uvu') tensor-product paths from features × edge harmonics.

    Only outputs whose irrep (l and parity) occurs in ``irreps_target`` are kept:
    the others would be discarded by the next linear layer anyway.
    """
    wanted = {ir for _, ir in irreps_target}
    mid = []
    instructions = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_edge:
                if ir_out in wanted:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    irreps_mid = o3.Irreps(mid)
    irreps_mid, perm, _ = irreps_mid.sort()
    instructions = [(a, b, perm[c], m, t) for a, b, c, m, t in instructions]
    return irreps_mid, instructions


@compile_mode("script")
class Convolution(torch.nn.Module):
    """Base of a message-passing layer: :meth:`convolve` gives the neighbour sum.

    Args:
        irreps_in: input node features.
        irreps_target: the layer's output features; only tensor-product outputs of these
            irreps are formed (``irreps_mid``).
        irreps_sh: edge spherical harmonics irreps.
        num_basis: radial basis size; radial_widths: the radial MLP's hidden layer widths
            (SiLU).
        avg_neighbors: normalisation of the neighbour sum (divides by its square root).

    The parameter names (``linear_up``, ``tp``, ``radial``, ``radial_table``) are those of
    checkpoints written before this class existed.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_target: o3.Irreps,
        irreps_sh: o3.Irreps,
        num_basis: int,
        radial_widths: List[int],
        avg_neighbors: float,
    ) -> None:
        super().__init__()
        irreps_mid, instructions = _mid_irreps(irreps_in, irreps_sh, irreps_target)
        self.irreps_mid = irreps_mid
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        self.tp = o3.TensorProduct(
            irreps_in,
            irreps_sh,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.radial = FullyConnectedNet(
            [num_basis] + list(radial_widths) + [self.tp.weight_numel],
            torch.nn.functional.silu,
        )
        self.norm = 1.0 / float(avg_neighbors) ** 0.5
        # the fused convolution (polmlip::tp_conv): the same sums in one operator per layer
        plan = conv_plan(self.tp)
        self.conv_paths: List[int] = plan.paths
        self.conv_entries: List[int] = plan.entries
        self.conv_coeffs: List[float] = plan.coeffs
        self.conv_dim = plan.out_dim
        self.register_buffer("conv_perm_in", plan.perm_in, persistent=False)
        self.register_buffer("conv_perm_out", plan.perm_out, persistent=False)
        self.fused = False
        # the radial network as a table of the edge length (made at export)
        self.radial_table = RadialTable()
        self.compressed = False

    def convolve(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_basis: torch.Tensor,
        edge_length: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """h (N, irreps_in) of local and ghost atoms, edges with local receivers,
        edge_sh (E, irreps_sh), edge_basis (E, num_basis) (unused when compressed),
        edge_length (E,) Å → (n_local, irreps_mid): the normalised neighbour sums of the
        local atoms (the first ``n_local`` rows)."""
        x = self.linear_up(h)
        if self.fused:
            agg = self._fused_sum(x, edge_index, edge_sh, edge_basis, edge_length, n_local)
        else:
            if self.compressed:
                weights = self.radial_table(edge_length)
            else:
                weights = self.radial(edge_basis)
            msg = self.tp(x[edge_index[1]], edge_sh, weights)
            agg = torch.zeros((n_local, msg.shape[1]), dtype=msg.dtype, device=msg.device)
            agg = agg.index_add(0, edge_index[0], msg)
        return agg * self.norm

    def _fused_sum(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_basis: torch.Tensor,
        edge_length: torch.Tensor,
        n_local: int,
    ) -> torch.Tensor:
        """Σ_j TP(x_j, Y(r̂_ij); R(r_ij)) of the local receivers in one operator: with the
        radial table read inside it (the (E, W) weights are never stored), or with the radial
        network's weights. Features go in and come out in e3nn's layout."""
        x_cm = x.index_select(1, self.conv_perm_in)
        plan = (self.conv_dim, self.conv_paths, self.conv_entries, self.conv_coeffs)
        if self.compressed:
            t = self.radial_table
            out = torch.ops.polmlip.tp_conv_table(
                x_cm, edge_sh, edge_length, t.coeffs, t.r_lo, t.inv_h, edge_index, n_local, *plan
            )
        else:
            weights = self.radial(edge_basis)
            out = torch.ops.polmlip.tp_conv(x_cm, edge_sh, weights, edge_index, n_local, *plan)
        return out.index_select(1, self.conv_perm_out)
