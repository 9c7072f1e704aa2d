"""PyTorch reference of the ``polmlip::spread`` and ``polmlip::gather`` operators, which
:mod:`polmlip.ops` registers when the compiled library (``cpp/ops``) is absent; the
operators themselves are called through :mod:`polmlip.electrostatics.mesh_ops`.

Both work in mesh coordinates u = K ⊙ s (s fractional), so they know nothing about the cell.
Component layout of the (N, C) coefficient and result arrays, with ∂_d = ∂/∂u_d:
``[1, ∂0, ∂1, ∂2, ∂0∂0, ∂1∂1, ∂2∂2, ∂0∂1, ∂0∂2, ∂1∂2]``; C = 1 (charges), 4 (+dipoles)
or 10 (+quadrupoles).
"""

from typing import List, Tuple

import torch

from .bspline import bspline_table


def _orders() -> List[List[int]]:
    """Derivative orders (along u0, u1, u2) of each of the 10 components."""
    return [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [2, 0, 0],
        [0, 2, 0],
        [0, 0, 2],
        [1, 1, 0],
        [1, 0, 1],
        [0, 1, 1],
    ]


def components_for(nderiv: int) -> int:
    """Number of components for derivatives up to ``nderiv`` (0 → 1, 1 → 4, 2 → 10)."""
    return [1, 4, 10][nderiv]


def _nderiv(ncomp: int) -> int:
    if ncomp == 1:
        return 0
    if ncomp == 4:
        return 1
    if ncomp == 10:
        return 2
    raise ValueError("polmlip: mesh components must be 1, 4 or 10, got " + str(ncomp))


def _stencil(
    u: torch.Tensor, mesh_shape: List[int], order: int, nderiv: int
) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """Flat mesh indices (N, p, p, p) and per-axis spline tables (nderiv+1, N, p)."""
    base = torch.floor(u.detach())
    w = u - base
    base = base.to(torch.long)
    j = torch.arange(order, device=u.device)
    idx: List[torch.Tensor] = []
    tables: List[torch.Tensor] = []
    for d in range(3):
        idx.append(torch.remainder(base[:, d, None] - j, mesh_shape[d]))
        tables.append(bspline_table(w[:, d], order, nderiv))
    flat = (idx[0][:, :, None, None] * mesh_shape[1] + idx[1][:, None, :, None]) * mesh_shape[2]
    flat = flat + idx[2][:, None, None, :]
    return flat, tables


def _coefficient_cube(coeff: torch.Tensor) -> torch.Tensor:
    """(N, C) component coefficients -> (N, 3, 3, 3) indexed by derivative orders."""
    n = coeff.shape[0]
    cube = torch.zeros((n, 3, 3, 3), dtype=coeff.dtype, device=coeff.device)
    orders = _orders()
    for c in range(coeff.shape[1]):
        o = orders[c]
        cube[:, o[0], o[1], o[2]] = coeff[:, c]
    return cube


def spread_reference(
    u: torch.Tensor, coeff: torch.Tensor, mesh_shape: List[int], order: int
) -> torch.Tensor:
    """Spread sites onto the mesh: Q(g) = Σ_n Σ_c coeff[n, c] ∂^c W_n(g).

    W_n(g) = Π_d M_p(u_nd − g_d) (periodic). Differentiable in u and coeff.

    Args:
        u: (N, 3) mesh coordinates (any real values; wrapped periodically).
        coeff: (N, C) coefficients, C ∈ {1, 4, 10} (see module doc).
        mesh_shape: [K0, K1, K2].
        order: B-spline order p.

    Returns:
        (K0, K1, K2) mesh.
    """
    nd = _nderiv(coeff.shape[1])
    flat, t = _stencil(u, mesh_shape, order, nd)
    if nd == 0:
        w = coeff[:, 0, None, None, None] * torch.einsum(
            "ni,nj,nk->nijk", t[0][0], t[1][0], t[2][0]
        )
    else:
        cube = _coefficient_cube(coeff)[:, : nd + 1, : nd + 1, : nd + 1]
        w = torch.einsum(
            "nabc,nai,nbj,nck->nijk",
            cube,
            t[0].transpose(0, 1),
            t[1].transpose(0, 1),
            t[2].transpose(0, 1),
        )
    total = mesh_shape[0] * mesh_shape[1] * mesh_shape[2]
    mesh = torch.zeros(total, dtype=coeff.dtype, device=coeff.device)
    mesh = mesh.index_add(0, flat.reshape(-1), w.reshape(-1))
    return mesh.reshape(mesh_shape[0], mesh_shape[1], mesh_shape[2])


def gather_reference(mesh: torch.Tensor, u: torch.Tensor, order: int, nderiv: int) -> torch.Tensor:
    """Interpolate the mesh and its u-derivatives at the sites.

    Args:
        mesh: (K0, K1, K2) values.
        u: (N, 3) mesh coordinates.
        order: B-spline order p.
        nderiv: 0 (value), 1 (+gradient) or 2 (+second derivatives).

    Returns:
        (N, C) with C = components_for(nderiv), layout as in the module doc.
    """
    shape = [mesh.shape[0], mesh.shape[1], mesh.shape[2]]
    flat, t = _stencil(u, shape, order, nderiv)
    local = mesh.reshape(-1)[flat]  # (N, p, p, p)
    if nderiv == 0:
        return torch.einsum("nijk,ni,nj,nk->n", local, t[0][0], t[1][0], t[2][0])[:, None]
    cube = torch.einsum("nijk,ani,bnj,cnk->nabc", local, t[0], t[1], t[2])
    out: List[torch.Tensor] = []
    orders = _orders()
    for c in range(components_for(nderiv)):
        o = orders[c]
        out.append(cube[:, o[0], o[1], o[2]])
    return torch.stack(out, dim=1)
