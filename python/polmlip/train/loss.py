"""Weighted MSE losses and error metrics over whatever properties a batch has."""

from __future__ import annotations

from typing import Dict, Tuple

import torch

from .. import keys

#: (reference key, prediction key, per-atom normalisation of the energy)
PROPERTIES = {
    "energy": (keys.REF_ENERGY, keys.ENERGY),
    "forces": (keys.REF_FORCES, keys.FORCES),
    "stress": (keys.REF_STRESS, keys.STRESS),
    "dipole": (keys.REF_DIPOLE, keys.POLARIZATION),
    "polarization": (keys.REF_POLARIZATION, keys.POLARIZATION),
    "bec": (keys.REF_BEC, keys.BEC),
    "charges": (keys.REF_CHARGES, keys.CHARGES),
}


def residuals(
    batch: Dict[str, torch.Tensor], out: Dict[str, torch.Tensor]
) -> Dict[str, torch.Tensor]:
    """Prediction minus reference for every property present; energy per atom."""
    res: Dict[str, torch.Tensor] = {}
    for name, (ref, pred) in PROPERTIES.items():
        if ref in batch and pred in out:
            diff = out[pred] - batch[ref]
            if name == "energy":
                diff = diff / batch[keys.NUM_ATOMS].to(diff.dtype)
            res[name] = diff
    if keys.PROJECTED_BEC in out and keys.REF_BEC in batch:
        res["bec"] = projected_bec_residual(batch, out[keys.PROJECTED_BEC])
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
    res: Dict[str, torch.Tensor], weights: Dict[str, float]
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Σ_p w_p mean(r_p²) and the per-property MSE values."""
    total = None
    parts = {}
    for name, r in res.items():
        w = weights.get(name, 0.0)
        mse = (r * r).mean()
        parts[name] = float(mse.detach())
        if w > 0:
            total = w * mse if total is None else total + w * mse
    if total is None:
        raise ValueError("no loss term: the data has none of the weighted properties")
    return total, parts
