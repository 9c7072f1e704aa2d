"""Weighted MSE losses and error metrics over whatever properties a batch has."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import torch

from .. import keys
from ..data.targets import TARGETS, pairs, select


def residuals(
    batch: Dict[str, torch.Tensor], out: Dict[str, torch.Tensor]
) -> Dict[str, torch.Tensor]:
    """Prediction minus reference for every target present (:data:`TARGETS`), over the
    frames that have it; energy per atom."""
    res: Dict[str, torch.Tensor] = {}
    for name, target in TARGETS.items():
        pair = pairs(batch, out, target)
        if pair is not None:
            res[name] = pair[1] - pair[0]
    if keys.PROJECTED_BEC in out and keys.REF_BEC in batch:
        bec = TARGETS["bec"]
        res["bec"] = select(batch, bec, projected_bec_residual(batch, out[keys.PROJECTED_BEC]))
    return res


def projected_bec_residual(batch: Dict[str, torch.Tensor], projected: torch.Tensor) -> torch.Tensor:
    """(vᵀZ*_i − vᵀZ*_ref,i)/√3 (N, 3) e, with v the frame's ``bec_projection``.

    For directions with E[v vᵀ] = I the mean square of this residual is an unbiased estimate
    of the mean square over the 9 components of Z* − Z*_ref, so the weight means the same.
    """
    v = batch[keys.BEC_PROJECTION][batch[keys.BATCH]].to(projected.dtype)  # (N, 3)
    ref = torch.einsum("nb,nbg->ng", v, batch[keys.REF_BEC].to(projected.dtype))
    return (projected - ref) / 3.0**0.5


def random_directions(frames: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """(frames, 3) vectors √3 u with u uniform on the unit sphere, so that E[v vᵀ] = I."""
    u = torch.randn((frames, 3), generator=generator, dtype=torch.float64)
    return (3.0**0.5 * u / torch.linalg.norm(u, dim=1, keepdim=True)).to(dtype)


def weighted_loss(
    res: Dict[str, torch.Tensor],
    weights: Dict[str, float],
    counts: Optional[Mapping[str, float]] = None,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Σ_p w_p Σ r_p² / n_p and the per-property mean squares of ``res``.

    n_p is the number of residual entries of property p: those of ``res``, or, in
    data-parallel training, ``counts[p]`` over the whole global batch, so that the processes'
    losses add up to the one-process loss of that batch (a process may then have no term:
    its loss is a zero without a graph)."""
    total = None
    parts = {}
    for name, r in res.items():
        w = weights.get(name, 0.0)
        n = float(r.numel()) if counts is None else float(counts[name])
        sq = (r * r).sum()
        parts[name] = float(sq.detach()) / max(r.numel(), 1)
        if w > 0 and n > 0:
            term = w * sq / n
            total = term if total is None else total + term
    if total is None:
        if counts is not None and any(weights.get(k, 0.0) > 0 and v > 0 for k, v in counts.items()):
            return torch.zeros(()), parts
        raise ValueError("no loss term: the data has none of the weighted properties")
    return total, parts
