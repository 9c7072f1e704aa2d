"""PyTorch references of the fast-path operators: ``polmlip::radial_spline``
(``cpp/ops/radial_spline.cpp``), the radial weights read from a table, ``polmlip::tp_conv``
(``cpp/ops/tp_conv.cpp``), one message-passing convolution, and ``polmlip::tp_conv_table``,
the two fused (the weights are never stored). The convolution is the
depthwise tensor product of sender features with edge harmonics and per-edge weights, summed
over each receiver's edges.

Layout (the plan is built by :func:`polmlip.nn.fused.conv_plan`):

* ``paths``: 8 ints per path, ``x_off, d1, sh_off, d2, out_off, d3, w_off, mul``;
* ``entries``: 4 ints per entry, ``path, m1, m2, m3``, sorted by path; ``coeffs``: one float
  per entry (the Clebsch–Gordan value times the path's normalisation);
* features are component-major inside each path's block: element (u, m) of a block at
  offset ``off`` sits at ``off + m * mul + u``.

Then ``out[r, out_off + m3 mul + u] = Σ_{e: r←s} Σ_k c_k sh[e, sh_off + m2] w[e, w_off + u]
x[s, x_off + m1 mul + u]``. This reference is differentiable to any order by autograd.
"""

from __future__ import annotations

from typing import Dict, List

import torch


def tp_conv(
    x: torch.Tensor,
    sh: torch.Tensor,
    weight: torch.Tensor,
    edge_index: torch.Tensor,
    n_out: int,
    out_dim: int,
    paths: List[int],
    entries: List[int],
    coeffs: List[float],
) -> torch.Tensor:
    """x (N, Dx), sh (E, Dsh), weight (E, W), edge_index (2, E) [receiver, sender] →
    (n_out, out_dim); see the module docstring for the layout."""
    if edge_index.shape[1] and (
        int(edge_index[0].min()) < 0
        or int(edge_index[0].max()) >= n_out
        or int(edge_index[1].min()) < 0
        or int(edge_index[1].max()) >= x.shape[0]
    ):
        raise RuntimeError(
            "polmlip::tp_conv: edge_index has receivers outside [0, n_out) or senders "
            "outside the rows of x"
        )
    xs = x.index_select(0, edge_index[1])
    n_edges = xs.shape[0]
    # one column block of width mul per (path, m3): the sum of its entries' terms
    blocks: Dict[int, torch.Tensor] = {}
    widths: Dict[int, int] = {}
    for k in range(len(coeffs)):
        p, m1, m2, m3 = entries[4 * k : 4 * k + 4]
        x_off, _, sh_off, _, out_off, _, w_off, mul = paths[8 * p : 8 * p + 8]
        term = coeffs[k] * sh[:, sh_off + m2, None] * weight[:, w_off : w_off + mul]
        term = term * xs[:, x_off + m1 * mul : x_off + (m1 + 1) * mul]
        start = out_off + m3 * mul
        blocks[start] = blocks[start] + term if start in blocks else term
        widths[start] = mul
    columns = []
    col = 0
    for start in sorted(blocks):
        if start > col:
            columns.append(x.new_zeros((n_edges, start - col)))
        columns.append(blocks[start])
        col = start + widths[start]
    if col < out_dim:
        columns.append(x.new_zeros((n_edges, out_dim - col)))
    msg = torch.cat(columns, dim=1)
    return x.new_zeros((n_out, out_dim)).index_add(0, edge_index[0], msg)


def radial_spline(r: torch.Tensor, coeffs: torch.Tensor, r_lo: float, inv_h: float) -> torch.Tensor:
    """r (E,) Å, coeffs (n, D, W) polynomial pieces on a grid r_lo + k/inv_h → (E, W):
    Σ_d c_d t^d of piece k = clamp(floor((r − r_lo) inv_h), 0, n − 1)."""
    if coeffs.requires_grad:
        raise RuntimeError(
            "polmlip::radial_spline: the table is a constant (a compressed model is for "
            "inference; train the uncompressed one)"
        )
    x = (r - r_lo) * inv_h
    k = x.detach().floor().clamp(0, coeffs.shape[0] - 1)
    t = (x - k)[:, None]
    c = coeffs.index_select(0, k.long())
    out = c[:, -1]
    for d in range(coeffs.shape[1] - 2, -1, -1):
        out = c[:, d] + t * out
    return out


def tp_conv_table(
    x: torch.Tensor,
    sh: torch.Tensor,
    length: torch.Tensor,
    table: torch.Tensor,
    r_lo: float,
    inv_h: float,
    edge_index: torch.Tensor,
    n_out: int,
    out_dim: int,
    paths: List[int],
    entries: List[int],
    coeffs: List[float],
) -> torch.Tensor:
    """``tp_conv`` with the radial weights read from ``table`` at the edge lengths (E,) Å:
    ``tp_conv(x, sh, radial_spline(length, table, r_lo, inv_h), ...)``."""
    weight = radial_spline(length, table, r_lo, inv_h)
    return tp_conv(x, sh, weight, edge_index, n_out, out_dim, paths, entries, coeffs)
