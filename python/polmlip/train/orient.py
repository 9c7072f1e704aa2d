"""Sign convention of latent multipoles learned without field information.

Without an applied field and without dipole, polarization or BEC targets, every
energy and force is even in the global sign of the permanent multipoles
(E_perm is quadratic, ΔE_q and ΔE_μ at E_ext = 0 too), so training cannot fix
it. polmlip then orients them so that charges anti-correlate with Pauling
electronegativity: Σ_i q_i (χ_i − χ̄) < 0 over the training set.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch

from .. import keys
from ..data.electronegativity import PAULING
from ..data.graph import collate


def sign_is_determined(
    graphs: List[Dict[str, torch.Tensor]], weights: Optional[Dict[str, float]] = None
) -> bool:
    """True if training saw information on the sign: an applied field, or dipole,
    polarization, BEC or atomic-charge targets that are in the loss (``weights[name] > 0``; with no
    ``weights`` every target present counts). Targets only present in the file, with
    zero weight, do not fix the sign."""
    for g in graphs:
        if bool((g[keys.EXTERNAL_FIELD] != 0).any()):
            return True
        for name in ("dipole", "polarization", "bec", "charges"):
            if keys.REFERENCE_PREFIX + name in g and (
                weights is None or weights.get(name, 0.0) > 0
            ):
                return True
    return False


@torch.no_grad()
def orient_multipoles(model, graphs: List[Dict[str, torch.Tensor]], elements: List[str]) -> bool:
    """Flip the model's multipole sign if needed; returns True if it flipped."""
    if not model.use_charges or model.use_fixed_charges:
        return False
    chi = torch.tensor([PAULING.get(e, 2.0) for e in elements], dtype=torch.float64)
    score = 0.0
    for s in range(0, len(graphs), 8):
        batch = collate(graphs[s : s + 8])
        out = model(batch, False, False, False, False)
        c = chi[batch[keys.SPECIES]]
        score += float((out[keys.PERMANENT_CHARGES].double() * (c - c.mean())).sum())
    if score > 0:
        model.heads.multipole_sign.mul_(-1.0)
        return True
    return False
