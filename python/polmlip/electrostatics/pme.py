"""Smooth particle-mesh Ewald for Gaussian multipole sites (production summation).

Multipoles are spread onto a mesh with B-splines of order p (:mod:`mesh_ops`),
convolved with the Gaussian Green's function exp(−s²k²/2)/k² corrected by the
Euler spline moduli |b(m)|² (SPME), and φ, ∇φ, ∇∇φ are gathered back at the
sites. The energy ½ Σ Q·(ψ ⋆ Q) is a quadratic form, so the gathered fields are
exact derivatives of it and autograd forces are consistent with the energy.
"""

import math
from typing import List, Optional, Tuple

import torch

from ..bspline import bspline_moduli
from . import cell as cellmod
from . import mesh_ops


def influence_function(
    cell: torch.Tensor,
    mesh_shape: List[int],
    width: float,
    order: int,
    rows: Optional[List[int]] = None,
) -> torch.Tensor:
    """ψ(m) = (2π/V) exp(−s²k²/2)/k² |b(m)|² on the rfft half mesh (K0, K1, K2//2+1), k=0 → 0.

    ``rows`` = [lo, hi] restricts axis 1 to a process's k-space slab (K0, hi − lo, K2//2+1).
    """
    dtype = cell.dtype
    dev = cell.device
    lo, hi = (0, mesh_shape[1]) if rows is None else (rows[0], rows[1])
    m0 = torch.fft.fftfreq(mesh_shape[0], 1.0 / mesh_shape[0], dtype=dtype, device=dev)
    m1 = torch.fft.fftfreq(mesh_shape[1], 1.0 / mesh_shape[1], dtype=dtype, device=dev)[lo:hi]
    m2 = torch.fft.rfftfreq(mesh_shape[2], 1.0 / mesh_shape[2], dtype=dtype, device=dev)
    recip = 2.0 * math.pi * torch.linalg.inv(cell).T  # rows: 2π b_d
    k = (
        m0[:, None, None, None] * recip[0]
        + m1[None, :, None, None] * recip[1]
        + m2[None, None, :, None] * recip[2]
    )
    k2 = (k * k).sum(-1)
    k2_safe = torch.where(k2 > 0, k2, torch.ones_like(k2))
    green = torch.where(
        k2 > 0, torch.exp(-0.5 * width * width * k2_safe) / k2_safe, torch.zeros_like(k2)
    )
    b0 = bspline_moduli(mesh_shape[0], order, dtype, dev)
    b1 = bspline_moduli(mesh_shape[1], order, dtype, dev)[lo:hi]
    b2 = bspline_moduli(mesh_shape[2], order, dtype, dev)[: mesh_shape[2] // 2 + 1]
    bmod = b0[:, None, None] * b1[None, :, None] * b2[None, None, :]
    return (2.0 * math.pi / cellmod.volume(cell)) * green * bmod


def pme_fields(
    positions: torch.Tensor,
    cell: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    width: float,
    mesh_shape: List[int],
    order: int,
    need_gradient: bool,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """φ, E, G at every site by SPME, per unit k_e, self interaction not removed.

    Args:
        positions: (N, 3) Å. cell: (3, 3) rows are lattice vectors, Å.
        q: (N,) e. mu: (N, 3) e·Å or None. theta: (N, 3, 3) traceless e·Å² or None.
        width: Gaussian pair width s (Å).
        mesh_shape: [K0, K1, K2] mesh points along the three lattice vectors.
        order: B-spline order p (4..8).
        need_gradient: gather the field gradient (else zeros).

    Returns:
        φ (N,), E (N, 3), G (N, 3, 3).
    """
    inv = torch.linalg.inv(cell)
    kvec = torch.tensor(mesh_shape, dtype=positions.dtype, device=positions.device)
    D = inv * kvec[None, :]  # D[a, d] = ∂u_d/∂r_a
    u = (positions @ inv) * kvec
    coeffs = [q[:, None]]
    if mu is not None or theta is not None:
        mu_t = mu @ D if mu is not None else torch.zeros_like(positions)
        coeffs.append(mu_t)
    if theta is not None:
        th = D.T @ theta @ D  # (N, 3, 3) in mesh coordinates
        coeffs.append(0.5 * torch.stack([th[:, 0, 0], th[:, 1, 1], th[:, 2, 2]], dim=1))
        coeffs.append(torch.stack([th[:, 0, 1], th[:, 0, 2], th[:, 1, 2]], dim=1))
    coeff = torch.cat(coeffs, dim=1)
    nderiv = 2 if need_gradient else 1
    total = mesh_shape[0] * mesh_shape[1] * mesh_shape[2]
    layout = torch.ops.polmlip.mesh_layout(mesh_shape)
    if layout[5] == 1:  # one process: the whole periodic mesh
        mesh = mesh_ops.spread(u, coeff, mesh_shape, order)
        psi = influence_function(cell, mesh_shape, width, order)
        potential = torch.fft.irfftn(torch.fft.rfftn(mesh) * psi, s=mesh_shape) * (2.0 * total)
        vals = mesh_ops.gather(potential, u, order, nderiv)
    else:
        vals = _distributed_mesh(u, coeff, cell, mesh_shape, width, order, nderiv, layout)
    phi = vals[:, 0]
    E = -(vals[:, 1:4] @ D.T)
    G = torch.zeros((positions.shape[0], 3, 3), dtype=positions.dtype, device=positions.device)
    if need_gradient:
        h = vals[:, 4:10]
        H = torch.stack(
            [
                torch.stack([h[:, 0], h[:, 3], h[:, 4]], dim=1),
                torch.stack([h[:, 3], h[:, 1], h[:, 5]], dim=1),
                torch.stack([h[:, 4], h[:, 5], h[:, 2]], dim=1),
            ],
            dim=1,
        )
        G = -(D @ H @ D.T)
    return phi, E, G


def site_brick(u: torch.Tensor, order: int) -> Tuple[List[int], List[int]]:
    """Global mesh index of the first cell and the shape of the smallest box holding every
    spline stencil of the sites at mesh coordinates ``u`` (N, 3) (floor(u) − p + 1 ..
    floor(u) per axis); unwrapped, so it may start below 0 or end beyond the mesh. A process
    without sites gets a one-cell box."""
    if u.shape[0] == 0:
        return [0, 0, 0], [1, 1, 1]
    base = torch.floor(u.detach())
    low = base.min(dim=0).values
    high = base.max(dim=0).values
    lo = [int(low[d]) - order + 1 for d in range(3)]
    shape = [int(high[d]) - lo[d] + 1 for d in range(3)]
    return lo, shape


def _distributed_mesh(
    u: torch.Tensor,
    coeff: torch.Tensor,
    cell: torch.Tensor,
    mesh_shape: List[int],
    width: float,
    order: int,
    nderiv: int,
    layout: List[int],
) -> torch.Tensor:
    """The mesh decomposed over processes (``cpp/ops/mesh_comm.h``): each spreads its sites
    onto a box around them, the boxes are summed into x-slabs, the FFT is distributed, ψ is
    applied on this process's k-space slab, and the potential comes back to the box, where
    it is gathered. Memory and traffic per process: its box plus 1/P of the mesh."""
    lo, shape = site_brick(u, order)
    shift = torch.tensor(lo, dtype=u.dtype, device=u.device)
    local_u = u - shift
    brick = mesh_ops.spread(local_u, coeff, shape, order)
    slab = torch.ops.polmlip.mesh_to_slabs(brick, lo, mesh_shape)
    psi = influence_function(cell, mesh_shape, width, order, [layout[2], layout[3]])
    spectrum = torch.ops.polmlip.dist_rfftn(slab, mesh_shape) * psi
    total = mesh_shape[0] * mesh_shape[1] * mesh_shape[2]
    potential = torch.ops.polmlip.dist_irfftn(spectrum, mesh_shape) * (2.0 * total)
    local = torch.ops.polmlip.slabs_to_mesh(potential, lo, shape, mesh_shape)
    return mesh_ops.gather(local, local_u, order, nderiv)
