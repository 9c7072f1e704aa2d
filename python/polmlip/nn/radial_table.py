"""Radial weights as a compressed table (the engines' fast path, made at export).

A layer's radial network W(r) = MLP(basis(r) · envelope(r)) depends on the edge length only,
so it can be tabulated once, as DeePMD-kit's model compression does: quintic Hermite pieces
on a uniform grid r_lo + k h, k = 0..n, matching the network's exact value, slope and
curvature at the knots (slopes by forward-mode autodiff). The table is read by
``polmlip::radial_spline`` (``cpp/ops/radial_spline.cpp``; reference
:func:`polmlip.conv_reference.radial_spline`).

Error bound: a quintic Hermite piece interpolates a smooth f with error at most
h⁶ max|f⁽⁶⁾| / 46080 (its slope with O(h⁵)). :func:`tabulate` does not rely on an estimate of
f⁽⁶⁾: it refines h until the largest error measured at the quarter points of every piece,
relative to max|W| on the grid, is at most ``tolerance`` (values, and slopes × the range),
and stores that measured error (``max_error``).
"""

from __future__ import annotations

import math
from typing import Callable, Tuple

import torch

#: default largest relative error of the tabulated weights and of their slopes × the range
#: (the resulting force error on the default model, ~1e-9 relative, is measured in
#: tests/model/test_radial_table.py)
TABLE_TOLERANCE = 1e-6
#: step (Å) of the central difference of the exact slopes that gives the knots' curvature
CURVATURE_STEP = 1e-4
#: the table starts at this fraction of the model's min_distance (engines refuse closer atoms)
TABLE_START = 0.9
#: most knots a table may have
MAX_KNOTS = 1 << 14


class RadialTable(torch.nn.Module):
    """W(r) (E, W) of one layer from its table; empty until :func:`tabulate` fills it."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("coeffs", torch.zeros(1, 6, 0), persistent=False)
        self.r_lo = 0.0
        self.inv_h = 1.0
        self.max_error = 0.0

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """r (E,) Å → weights (E, W)."""
        return torch.ops.polmlip.radial_spline(r, self.coeffs, self.r_lo, self.inv_h)


def hermite_pieces(
    values: torch.Tensor, slopes: torch.Tensor, curvatures: torch.Tensor, h: float
) -> torch.Tensor:
    """Quintic pieces (n, 6, W), coefficients of t⁰..t⁵ for t ∈ [0, 1], from the knots'
    values, slopes and second derivatives (n + 1, W)."""
    y0, y1 = values[:-1], values[1:]
    d0, d1 = slopes[:-1] * h, slopes[1:] * h
    s0, s1 = curvatures[:-1] * h * h, curvatures[1:] * h * h
    dy = y1 - y0
    c3 = 10.0 * dy - 6.0 * d0 - 4.0 * d1 - 1.5 * s0 + 0.5 * s1
    c4 = -15.0 * dy + 8.0 * d0 + 7.0 * d1 + 1.5 * s0 - s1
    c5 = 6.0 * dy - 3.0 * (d0 + d1) - 0.5 * (s0 - s1)
    return torch.stack([y0, d0, 0.5 * s0, c3, c4, c5], dim=1)


def _derivatives(
    fn: Callable[[torch.Tensor], torch.Tensor], r: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f(r), df/dr and d²f/dr² (K, W). Slopes by forward-mode autodiff (each row depends on
    its own r only, so the directional derivative along ones is the row's slope); second
    derivatives by a central difference of the exact slopes (step CURVATURE_STEP: truncation
    ~1e-9 and rounding ~1e-12 relative, far below what the pieces' h² scaling needs)."""
    ones = torch.ones_like(r)
    r = r.detach()
    with torch.no_grad():
        f, d1 = torch.func.jvp(fn, (r,), (ones,))
        _, up = torch.func.jvp(fn, (r + CURVATURE_STEP,), (ones,))
        _, down = torch.func.jvp(fn, (r - CURVATURE_STEP,), (ones,))
    return f, d1, (up - down) / (2.0 * CURVATURE_STEP)


def _table_values_and_slopes(
    table: RadialTable, r: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The table's values and slopes, from its pieces (no autograd)."""
    x = (r - table.r_lo) * table.inv_h
    k = x.floor().clamp(0, table.coeffs.shape[0] - 1)
    t = (x - k)[:, None]
    c = table.coeffs.index_select(0, k.long())
    values = c[:, -1]
    slopes = (c.shape[1] - 1) * c[:, -1]
    for d in range(c.shape[1] - 2, -1, -1):
        values = c[:, d] + t * values
        if d >= 1:
            slopes = d * c[:, d] + t * slopes
    return values, slopes * table.inv_h


def tabulate(
    table: RadialTable,
    fn: Callable[[torch.Tensor], torch.Tensor],
    r_lo: float,
    r_hi: float,
    tolerance: float = TABLE_TOLERANCE,
) -> float:
    """Fill ``table`` with cubic pieces of ``fn`` (float64, r (K,) Å → (K, W)) on
    [r_lo, r_hi]; returns the measured largest relative error."""
    if not (0.0 <= r_lo < r_hi and math.isfinite(r_hi)):
        raise ValueError(f"polmlip: bad radial table range [{r_lo}, {r_hi}] Å")
    n = 64
    while True:
        h = (r_hi - r_lo) / n
        knots = r_lo + h * torch.arange(n + 1, dtype=torch.float64)
        values, slopes, curvatures = _derivatives(fn, knots)
        coeffs = hermite_pieces(values, slopes, curvatures, h)
        probe = knots[:-1, None] + h * torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
        probe = probe.flatten()
        exact, exact_slope, _ = _derivatives(fn, probe)
        table.coeffs = coeffs
        table.r_lo = float(r_lo)
        table.inv_h = 1.0 / h
        got, got_slope = _table_values_and_slopes(table, probe)
        scale = max(float(values.abs().max()), 1e-300)
        error = float((got - exact).abs().max()) / scale
        slope_error = float((got_slope - exact_slope).abs().max()) * (r_hi - r_lo) / scale
        worst = max(error, slope_error)
        if worst <= tolerance or n >= MAX_KNOTS:
            table.max_error = worst
            return worst
        # the slopes' error falls as h⁵: jump to the knot count that should meet it
        factor = 1.2 * (worst / tolerance) ** (1.0 / 5.0)
        n = min(MAX_KNOTS, max(2 * n, math.ceil(n * factor)))
