"""MACE's higher-order product basis, written from its equations (Batatia et al., 2022).

For every atom i and channel k, the A-features A_{i,k} (one irrep of each order l ≤ l_A,
here as a vector of (l_A+1)² components; l_A is MACE's ``max_ell``, by default the output's
lmax) are raised to the symmetric powers ν = 1 … ν_max
("correlation order") and decomposed into irreps:

    B_{i,ηνk,LM} = Σ_{l₁m₁…l_νm_ν} C^{LM}_{η,l₁m₁…l_νm_ν} Π_ξ A_{i,k,l_ξm_ξ}        (eq. 10)
    m_{i,k,LM}   = Σ_ν Σ_η W_{z_i,k,ην}^{(L)} B_{i,ηνk,LM}                            (eq. 11)

with element-dependent weights W and generalised Clebsch–Gordan coefficients C. C is any
orthonormal basis of the equivariant maps from the ν-th symmetric power of A's irreps onto
the irrep L ≤ lmax: here e3nn's ``o3.ReducedTensorProducts`` (the symmetric tensor "ij=ji",
"ijk=jik=ikj"), one path η per copy of L it finds. Because C is symmetric in its ν indices,
the product is evaluated on the distinct monomials A_a A_b … (a ≤ b ≤ …) with C summed over
their permutations: 165 monomials for ν = 3 and lmax 2 instead of 9³ = 729 products.

The basis is computed once per (l_A, lmax, ν) at construction and stored in the model (buffers),
so a saved model does not depend on how a later e3nn would pick it.
"""

import functools
import itertools
from typing import Dict, List, Optional, Tuple

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

#: the largest correlation order offered (MACE's default and its published models use 3)
MAX_CORRELATION = 3
#: MACE's default body order (its published models use 3)
DEFAULT_CORRELATION = 3
#: the highest order of the A-features offered (MACE's default ``max_ell``; the ν = 3 basis
#: of 0e + 1o + 2e + 3o takes about 10 s to build)
MAX_ELL = 3


def _component_irreps(lmax: int) -> o3.Irreps:
    """One irrep of each order l ≤ lmax with parity (−1)^l: the components of one channel."""
    return o3.Irreps([(1, (l, (-1) ** l)) for l in range(lmax + 1)])


def _channel_layout(channels: int, lmax: int) -> torch.Tensor:
    """Indices that reorder e3nn's layout of C×0e + C×1o + … (one block per l, channel-major
    within it) into per-channel vectors (C, (lmax+1)²)."""
    order = []
    for k in range(channels):
        offset = 0
        for l in range(lmax + 1):
            d = 2 * l + 1
            order.extend(offset + k * d + m for m in range(d))
            offset += channels * d
    return torch.tensor(order, dtype=torch.int64)


@functools.cache
def symmetric_basis(
    lmax_in: int, lmax: int, nu: int
) -> Tuple[torch.Tensor, torch.Tensor, Dict[int, int]]:
    """The monomials of the ν-th symmetric power of the irreps l ≤ ``lmax_in`` (parity
    (−1)^l) and their map onto the polar irreps L ≤ ``lmax``.

    Returns:
        monomials: (M, ν) int64, the component indices a ≤ b ≤ … of each distinct monomial.
        basis: (M, Σ_L P_L (2L+1)) float64: B = monomials(A) @ basis, columns ordered by L,
            then path η, then m.
        paths: {L: P_L}, the number of paths onto L.
    """
    irreps = _component_irreps(lmax_in)
    dim = irreps.dim
    if nu == 1:
        formula = "i"
    else:
        letters = "ijklmn"[:nu]
        swaps = [letters[1] + letters[0] + letters[2:]]
        if nu > 2:
            swaps.append(letters[0] + letters[2] + letters[1] + letters[3:])
        formula = "=".join([letters] + swaps)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        if nu == 1:
            q = torch.eye(dim, dtype=torch.float64)
            out_irreps = irreps
        else:
            rtp = o3.ReducedTensorProducts(formula, **{"i": irreps})
            q = rtp.change_of_basis.to(torch.float64)  # (D_out, dim, …, dim)
            out_irreps = rtp.irreps_out
    finally:
        torch.set_default_dtype(default)
    q = q.reshape(q.shape[0], *([dim] * nu))
    monomials = list(itertools.combinations_with_replacement(range(dim), nu))
    # C summed over the distinct permutations of each monomial's indices (C is symmetric)
    rows = []
    for mono in monomials:
        perms = set(itertools.permutations(mono))
        rows.append(sum(q[(slice(None),) + p] for p in perms))
    full = torch.stack(rows)  # (M, D_out)
    columns: List[torch.Tensor] = []
    paths: Dict[int, int] = {}
    for l in range(lmax + 1):
        parity = (-1) ** l
        count = 0
        for (mul, ir), sl in zip(out_irreps, out_irreps.slices()):
            if ir.l == l and ir.p == parity:
                columns.append(full[:, sl])
                count += mul
        paths[l] = count
    basis = torch.cat(columns, dim=1)
    return torch.tensor(monomials, dtype=torch.int64), basis, paths


def monomial_products(a: torch.Tensor, monomials: torch.Tensor) -> torch.Tensor:
    """a (..., dim) components, monomials (M, ν) component indices → (..., M): the products
    Π_ξ a[..., monomials[m, ξ]] of each distinct monomial (the inputs of the basis)."""
    power = a.index_select(-1, monomials[:, 0])
    for j in range(1, monomials.shape[1]):
        power = power * a.index_select(-1, monomials[:, j])
    return power


@compile_mode("script")
class SymmetricProduct(torch.nn.Module):
    """The product basis with element-dependent weights (eq. 10–11 above).

    Args:
        channels: multiplicity C of every irrep of the A-features and of the output.
        lmax: the output's highest order: C×(0e + 1o + 2e …) up to lmax.
        correlation: highest symmetric power ν (1 … 3).
        num_species: number of elements (one weight set per element).
        lmax_in: the A-features' highest order (MACE's ``max_ell``); ``None``: lmax.

    Input (C×(0e + 1o + … up to lmax_in)) and output are in e3nn's layout (one block per l,
    channel-major within it).
    """

    paths: List[List[int]]

    def __init__(
        self,
        channels: int,
        lmax: int,
        correlation: int,
        num_species: int,
        lmax_in: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not 1 <= correlation <= MAX_CORRELATION:
            raise ValueError(f"correlation must be 1 … {MAX_CORRELATION}, got {correlation}")
        lmax_in = lmax if lmax_in is None else lmax_in
        self.channels = channels
        self.lmax = lmax
        self.lmax_in = lmax_in
        self.correlation = correlation
        self.dim_in = (lmax_in + 1) ** 2
        self.dim = (lmax + 1) ** 2
        # e3nn layout (block l: channels × (2l+1)) ↔ per-channel vectors (channels, dim)
        self.register_buffer("to_channel", _channel_layout(channels, lmax_in), persistent=False)
        to_e3nn = torch.argsort(_channel_layout(channels, lmax))
        self.register_buffer("to_e3nn", to_e3nn, persistent=False)
        self.paths = []
        names = ("1", "2", "3")
        for nu in range(1, MAX_CORRELATION + 1):
            if nu <= correlation:
                mono, basis, paths = symmetric_basis(lmax_in, lmax, nu)
                self.paths.append([paths[l] for l in range(lmax + 1)])
            else:  # unused orders: empty, so every model has the same attributes
                mono = torch.zeros((0, nu), dtype=torch.int64)
                basis = torch.zeros((0, 0), dtype=torch.float64)
                self.paths.append([0] * (lmax + 1))
            self.register_buffer("monomials_" + names[nu - 1], mono)
            self.register_buffer("basis_" + names[nu - 1], basis)
        # per element, channel and path (ordered by L, then η); initial scale 1/√(number of
        # paths onto L over all orders), so every output irrep starts at about unit size
        total = [sum(p[l] for p in self.paths) for l in range(lmax + 1)]
        for nu in range(1, MAX_CORRELATION + 1):
            scale = torch.cat(
                [
                    torch.full((self.paths[nu - 1][l],), max(total[l], 1) ** -0.5)
                    for l in range(lmax + 1)
                ]
            )
            w = torch.randn(num_species, channels, scale.numel()) * scale
            self.register_parameter("weights_" + names[nu - 1], torch.nn.Parameter(w))

    def _add_power(
        self,
        a_ch: torch.Tensor,
        monomials: torch.Tensor,
        basis: torch.Tensor,
        weights: torch.Tensor,
        paths: List[int],
        species: torch.Tensor,
        blocks: List[torch.Tensor],
    ) -> None:
        """Add order ν's Σ_η W B to ``blocks`` (one (N, C, 2L+1) tensor per L)."""
        if monomials.shape[0] == 0:
            return
        n = a_ch.shape[0]
        b = monomial_products(a_ch, monomials) @ basis.to(a_ch.dtype)  # (N, C, Σ_L P_L (2L+1))
        w = weights[species]  # (N, C, Σ_L P_L)
        column = 0
        path = 0
        for l in range(self.lmax + 1):
            p = paths[l]
            d = 2 * l + 1
            if p > 0:
                b_l = b[:, :, column : column + p * d].reshape(n, self.channels, p, d)
                w_l = w[:, :, path : path + p].unsqueeze(-1)
                blocks[l] = blocks[l] + (b_l * w_l).sum(2)
            column += p * d
            path += p

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """a (N, C×dim_in) A-features in e3nn's layout, species (N,) → (N, C×dim) products."""
        n = a.shape[0]
        a_ch = a.index_select(1, self.to_channel).reshape(n, self.channels, self.dim_in)
        blocks: List[torch.Tensor] = []
        for l in range(self.lmax + 1):
            blocks.append(a.new_zeros((n, self.channels, 2 * l + 1)))
        self._add_power(
            a_ch, self.monomials_1, self.basis_1, self.weights_1, self.paths[0], species, blocks
        )
        self._add_power(
            a_ch, self.monomials_2, self.basis_2, self.weights_2, self.paths[1], species, blocks
        )
        self._add_power(
            a_ch, self.monomials_3, self.basis_3, self.weights_3, self.paths[2], species, blocks
        )
        out = torch.cat(blocks, dim=2).reshape(n, self.channels * self.dim)
        return out.index_select(1, self.to_e3nn)
