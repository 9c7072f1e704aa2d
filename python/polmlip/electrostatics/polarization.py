"""Polarization and Born effective charges.

The model's polarization is P = Σ_i d_i + (Q/N) Σ_i r_i + Σ_i μ_i (e·Å), with d_i the
per-atom shares of the bond-charge polarization (:mod:`polmlip.electrostatics.bonds`).
In open boundaries this equals Σ q r + Σ μ exactly; in periodic cells it is built from
graph vectors only, so it is a single-valued function of the configuration and its
derivative, the Born charge Z*_i,βγ = ∂P_β/∂r_iγ, is local and obeys Σ_i Z*_i = Q I.
Models without bond charges use Σ q r + Σ μ of the given coordinates
(:func:`open_polarization`), which is what a fixed-charge model means.

:func:`phase_polarization` keeps the LES phase form for analysis only: it is not
translation-invariant in a finite cell and nothing dynamical uses it
(``docs/conventions.md``).
"""

import math
from typing import List, Optional

import torch

from .comm import global_sum


def open_polarization(
    positions: torch.Tensor, q: torch.Tensor, mu: Optional[torch.Tensor], reduce: bool = True
) -> torch.Tensor:
    """P = Σ q r + Σ μ (3,) in e·Å of the sites at ``positions`` (N, 3) Å.

    ``reduce=False`` gives this process's share (for energy terms each rank adds once).
    """
    p = (q[:, None] * positions).sum(0)
    if mu is not None:
        p = p + mu.sum(0)
    return global_sum(p) if reduce else p


def phase_polarization(
    positions: torch.Tensor,
    cell: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    reduce: bool = True,
) -> torch.Tensor:
    """LES phase-form polarization (3,) in e·Å: Σ_α Re[(1/2πi) Σ_j q_j e^{2πi s_jα}] a_α + Σ μ.

    Analysis only: it depends on where the atoms sit in the cell (Σ_i ∂P/∂r_i ≠ Q I).
    """
    s = torch.sin(2.0 * math.pi * (positions @ torch.linalg.inv(cell)))
    p = ((q[:, None] * s).sum(0) / (2.0 * math.pi)) @ cell
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


def born_charges(
    polarization: torch.Tensor, positions: torch.Tensor, create_graph: bool = False
) -> torch.Tensor:
    """Z*_i,βγ = ∂P_β/∂r_iγ (N, 3, 3) in e.

    Args:
        polarization: (3,) or (B, 3) polarization (or this process's share of it) in e·Å,
            a function of ``positions`` in the autograd graph; frames are summed, which is
            exact because an atom belongs to one frame.
        positions: (N, 3) the leaf tensor the network and the sites were built from, so that
            Z* holds the charge and dipole flux ∂q/∂r, ∂μ/∂r as well as the explicit q I.
        create_graph: keep the graph (training on BECs).
    """
    p = polarization if polarization.dim() == 1 else polarization.sum(0)
    rows: List[torch.Tensor] = [_grads(p[b], positions, create_graph) for b in range(3)]
    return torch.stack(rows, dim=1)


def projected_born_charges(
    polarization: torch.Tensor,
    directions: torch.Tensor,
    positions: torch.Tensor,
    create_graph: bool = False,
) -> torch.Tensor:
    """vᵀZ*_i = Σ_β v_β ∂P_β/∂r_i (N, 3) in e, each atom with its frame's direction.

    One backward pass, where :func:`born_charges` needs three: with random directions of
    E[v vᵀ] = I, |vᵀ(Z* − Z*_ref)|² is an unbiased estimate of |Z* − Z*_ref|² (training).

    Args:
        polarization: (B, 3) e·Å, per frame, a function of ``positions``; an atom belongs
            to one frame, so the frames' projections are summed before the one backward.
        directions: (B, 3) dimensionless, v of each frame.
        positions: (N, 3) Å, the autograd leaf.
        create_graph: keep the graph (training).
    """
    p = polarization if polarization.dim() == 2 else polarization[None]
    return _grads((p * directions.to(p.dtype)).sum(), positions, create_graph)
