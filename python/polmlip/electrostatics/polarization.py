"""Polarization, Born effective charges and the applied-field force.

Open boundaries: P = Σ q_i r_i + Σ μ_i (e·Å).

Periodic cells use the phase (Berry-phase-like) form of LES: with fractional
coordinates s = r·cell⁻¹ and lattice vectors a_α (rows of the cell),

    p̃_α = (1/2πi) Σ_j q_j e^{2πi s_jα},   P = Σ_α Re(p̃_α) a_α + Σ_j μ_j,

which reduces to Σ q r for small displacements of a neutral cell and is
smooth and periodic in every position. Born effective charges
Z*_i,βγ = ∂P_β/∂r_iγ take the phase out atom by atom:

    Z*_i,βγ = Σ_α a_αβ Re[conj(e^{2πi s_iα}) ∂p̃_α/∂r_iγ] + ∂(Σ μ)_β/∂r_iγ.

The force of a uniform field E on atom i is F_i = Z*_iᵀ E; the helpers here
compute it with vector-Jacobian products, without forming the N×3×3 tensors.
"""

import math
from typing import List, Optional, Tuple

import torch

from .comm import global_sum


def open_polarization(
    positions: torch.Tensor, q: torch.Tensor, mu: Optional[torch.Tensor], reduce: bool = True
) -> torch.Tensor:
    """P = Σ q r + Σ μ (3,) in e·Å for open boundaries.

    ``reduce=False`` gives this process's share (for energy terms each rank adds once).
    """
    p = (q[:, None] * positions).sum(0)
    if mu is not None:
        p = p + mu.sum(0)
    return global_sum(p) if reduce else p


def _phase_parts(positions: torch.Tensor, cell: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2π s (N, 3) for fractional coordinates s."""
    ang = 2.0 * math.pi * (positions @ torch.linalg.inv(cell))
    return torch.cos(ang), torch.sin(ang)


def periodic_polarization(
    positions: torch.Tensor,
    cell: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    reduce: bool = True,
) -> torch.Tensor:
    """Phase-form polarization P (3,) in e·Å for a periodic cell (see module doc).

    ``reduce=False`` gives this process's share (P is linear in the sites).
    """
    _, s = _phase_parts(positions, cell)
    p = ((q[:, None] * s).sum(0) / (2.0 * math.pi)) @ cell  # Σ_α Re p̃_α a_α
    if mu is not None:
        p = p + mu.sum(0)
    return global_sum(p) if reduce else p


def _grads(out: torch.Tensor, positions: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """∂out/∂positions (N, 3); zero when ``out`` does not depend on anything differentiable."""
    if not out.requires_grad:
        return torch.zeros_like(positions)
    g = torch.autograd.grad(
        [out], [positions], retain_graph=True, create_graph=create_graph, allow_unused=True
    )[0]
    if g is None:
        return torch.zeros_like(positions)
    return g


def _phase_jacobian(
    positions: torch.Tensor,
    cell: torch.Tensor,
    q: torch.Tensor,
    create_graph: bool,
    wrt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Re[conj(e^{2πi s_iα}) ∂p̃_α/∂r_iγ] (M, α, γ): the charge part of periodic Z* in
    fractional components, one VJP per lattice direction and real/imaginary part.

    The derivative is taken with respect to ``wrt`` (M, 3) (default ``positions``), and the
    phase of each row i is that of ``wrt[i]``; see :func:`born_charges`."""
    c, s = _phase_parts(positions, cell)
    target = positions if wrt is None else wrt
    cw, sw = (c, s) if wrt is None else _phase_parts(wrt, cell)
    re_p = (q[:, None] * s).sum(0) / (2.0 * math.pi)
    im_p = -(q[:, None] * c).sum(0) / (2.0 * math.pi)
    rows: List[torch.Tensor] = []
    for a in range(3):
        gr = _grads(re_p[a], target, create_graph)
        gi = _grads(im_p[a], target, create_graph)
        rows.append(cw[:, a, None] * gr + sw[:, a, None] * gi)  # (M, 3)
    return torch.stack(rows, dim=1)


def _remove_mean(x: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over all sites (all processes): the acoustic sum rule."""
    n = global_sum(torch.tensor(float(x.shape[0]), dtype=x.dtype, device=x.device))
    return x - global_sum(x.sum(0)) / n


def born_charges(
    positions: torch.Tensor,
    cell: torch.Tensor,
    pbc: bool,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    acoustic_sum_rule: bool = False,
    create_graph: bool = False,
    wrt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Born effective charges Z*_i,βγ = ∂P_β/∂r_iγ (M, 3, 3) in e.

    ``q`` and ``mu`` must be functions of the positions in the autograd graph. P is
    built from ``positions`` (N, 3), the sites. ``wrt`` (M, 3) is the tensor the
    derivative is taken against (default ``positions``): when ``positions`` is a slice
    of a larger position tensor from which the network computed ``q`` and ``mu``, pass
    that tensor, so that Z* contains the charge and dipole flux ∂q/∂r, ∂μ/∂r (the
    derivative through a slice sees only the explicit r in Σ q r). With
    ``acoustic_sum_rule`` the mean over rows is removed so that Σ_i Z*_i = 0.
    """
    target = positions if wrt is None else wrt
    if pbc:
        z = torch.einsum(
            "ab,nag->nbg", cell, _phase_jacobian(positions, cell, q, create_graph, wrt)
        )
    else:
        p = (q[:, None] * positions).sum(0)
        z = torch.stack([_grads(p[b], target, create_graph) for b in range(3)], dim=1)
    if mu is not None:
        m = mu.sum(0)
        z = z + torch.stack([_grads(m[b], target, create_graph) for b in range(3)], dim=1)
    if acoustic_sum_rule:
        z = _remove_mean(z)
    return z


def field_forces(
    positions: torch.Tensor,
    cell: torch.Tensor,
    pbc: bool,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    external_field: torch.Tensor,
    acoustic_sum_rule: bool = False,
    create_graph: bool = False,
    wrt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Forces F_i = Z*_iᵀ E (M, 3) in eV/Å of a uniform field E (3,) in V/Å.

    ``wrt``: the tensor the forces are taken against, as in :func:`born_charges`.

    Open boundaries: one vector-Jacobian product of E·P. Periodic: the phase
    is taken out per atom, which needs one product per lattice direction and
    per real/imaginary part (the per-atom phase forbids a single product);
    memory stays O(N).
    """
    target = positions if wrt is None else wrt
    if pbc:
        proj = cell @ external_field  # E·a_α
        jac = _phase_jacobian(positions, cell, q, create_graph, wrt)
        f = torch.einsum("nag,a->ng", jac, proj)
        if mu is not None:
            f = f + _grads((mu.sum(0) * external_field).sum(), target, create_graph)
    else:
        p = (q[:, None] * positions).sum(0)
        if mu is not None:
            p = p + mu.sum(0)
        f = _grads((p * external_field).sum(), target, create_graph)
    if acoustic_sum_rule:
        f = _remove_mean(f)
    return f
