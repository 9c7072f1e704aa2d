"""Cardinal B-splines M_p for mesh interpolation (Essmann et al., J. Chem. Phys. 103, 8577)."""

from typing import List

import torch


def _raise_order(arr: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    """From M_{n-1}(w+j), j < n-1 (..., n-1), build M_n(w+j), j < n (..., n)."""
    zero = torch.zeros_like(arr[..., :1])
    right = torch.cat([arr, zero], dim=-1)  # M_{n-1}(w + j)
    left = torch.cat([zero, arr], dim=-1)  # M_{n-1}(w + j - 1)
    j = torch.arange(n, dtype=w.dtype, device=w.device)
    x = w[..., None] + j
    return (x * right + (n - x) * left) / (n - 1)


def _difference(arr: torch.Tensor) -> torch.Tensor:
    """d/dx of M_n from M_{n-1}: M_{n-1}(x) − M_{n-1}(x − 1), (..., n-1) -> (..., n)."""
    zero = torch.zeros_like(arr[..., :1])
    return torch.cat([arr, zero], dim=-1) - torch.cat([zero, arr], dim=-1)


def bspline_table(w: torch.Tensor, order: int, nderiv: int) -> torch.Tensor:
    """Values and derivatives of M_p(w + j) for j = 0..p−1.

    The site at mesh coordinate u = floor(u) + w contributes to mesh point
    floor(u) − j with weight M_p(w + j). Every entry is a polynomial in w, so
    autograd differentiates it further.

    Args:
        w: (...,) fractional parts in [0, 1).
        order: spline order p (≥ nderiv + 2).
        nderiv: highest derivative returned (0, 1 or 2).

    Returns:
        (nderiv + 1, ..., p): [M_p, M_p', M_p''] evaluated at w + j.
    """
    levels: List[torch.Tensor] = [torch.ones_like(w)[..., None]]
    for n in range(2, order + 1):
        levels.append(_raise_order(levels[-1], w, n))
    out = [levels[order - 1]]
    if nderiv >= 1:
        out.append(_difference(levels[order - 2]))
    if nderiv >= 2:
        out.append(_difference(_difference(levels[order - 3])))
    return torch.stack(out)


def bspline_moduli(size: int, order: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """|b(m)|² = 1 / |Σ_j M_p(j) e^{2πi m j / K}|² for m = 0..K−1 (K,).

    Where the denominator vanishes (odd orders at the Nyquist frequency) the
    value is set to 0: those modes carry negligible Gaussian weight on a mesh
    chosen by :mod:`accuracy`.
    """
    w0 = torch.zeros((), dtype=torch.float64)
    vals = bspline_table(w0, order, 0)[0]  # M_p(j), j = 0..p-1
    m = torch.arange(size, dtype=torch.float64)
    j = torch.arange(order, dtype=torch.float64)
    ang = 2.0 * torch.pi * m[:, None] * j[None, :] / size
    re = (vals * torch.cos(ang)).sum(-1)
    im = (vals * torch.sin(ang)).sum(-1)
    den = re * re + im * im
    mod = torch.where(den > 1e-10, 1.0 / den.clamp_min(1e-10), torch.zeros_like(den))
    return mod.to(dtype=dtype, device=device)
