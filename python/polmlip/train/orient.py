"""Sign convention of latent multipoles learned without field information.

Without an applied field and without dipole, polarization or BEC targets, every
energy and force is even in the global sign of the permanent multipoles
(E_perm is quadratic, ΔE_q and ΔE_μ at E_ext = 0 too), so training cannot fix
it. polmlip then orients them so that the Born charges anti-correlate with Pauling
electronegativity: Σ_i tr(Z*_i)/3 (χ_i − χ̄) < 0 over the training frames.

The flip reverses P, and with it every Z*; it leaves the energy and forces at zero field
unchanged. The convention is stated on Z* and not on the charges because Z* = q I + flux
is what an applied field acts on: a model trained on energies and forces alone may carry
small charges whose sign disagrees with that of its charge and dipole flux (measured on the
SPICE dipeptides, ``benchmarks/bec_validation.py``). Frames whose Born charges the model
cannot define (periodic, with a global charge shift) are scored by their charges.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import torch

from .. import keys
from ..data.electronegativity import PAULING
from ..data.graph import collate
from ..data.store import StoredGraphs
from ..data.targets import TARGETS

#: the targets whose labels fix the sign of the latent multipoles (``Target.fixes_sign``)
SIGN_TARGETS = [t.name for t in TARGETS.values() if t.fixes_sign]


def sign_is_determined(
    graphs: List[Dict[str, torch.Tensor]], weights: Optional[Dict[str, float]] = None
) -> bool:
    """True if training saw information on the sign: an applied field, or targets of
    :data:`SIGN_TARGETS` (dipole, polarization, BEC, atomic charges) that are in the loss
    (``weights[name] > 0``; with no ``weights`` every target present counts). Targets only
    present in the file, with zero weight, do not fix the sign."""
    if isinstance(graphs, StoredGraphs):
        if np.any(graphs.frame_values("external_field") != 0):
            return True
        return any(
            graphs.has(name).any() and (weights is None or weights.get(name, 0.0) > 0)
            for name in SIGN_TARGETS
        )
    for g in graphs:
        if bool((g[keys.EXTERNAL_FIELD] != 0).any()):
            return True
        for name in SIGN_TARGETS:
            if keys.REFERENCE_PREFIX + name in g and (
                weights is None or weights.get(name, 0.0) > 0
            ):
                return True
    return False


def orient_multipoles(
    model, graphs: List[Dict[str, torch.Tensor]], elements: List[str], max_frames: int = 64
) -> bool:
    """Flip the model's multipole sign if needed; returns True if it flipped.

    Scores Σ_i s_i (χ_i − χ̄) over up to ``max_frames`` frames, with s_i = tr(Z*_i)/3 in e
    (or q_i where Z* is not defined) and χ the Pauling electronegativity.
    """
    if not model.use_charges or model.use_fixed_charges:
        return False
    chi = torch.tensor([PAULING.get(e, 2.0) for e in elements], dtype=torch.float64)
    score = 0.0
    for s in range(0, min(len(graphs), max_frames), 8):
        batch = collate(graphs[s : min(s + 8, max_frames)])
        c = chi[batch[keys.SPECIES]]
        score += float((_isotropic_born_charge(model, batch) * (c - c.mean())).sum())
    if score > 0:
        with torch.no_grad():
            model.heads.multipole_sign.mul_(-1.0)
        return True
    return False


def _isotropic_born_charge(model, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """tr(Z*_i)/3 (N,) e of the batch, or the permanent charges where Z* is undefined."""
    undefined = model.nonlocal_flux and bool(batch[keys.PBC].any())
    out = model(batch, False, False, not undefined, False)
    if undefined:
        return out[keys.PERMANENT_CHARGES].detach().double()
    return torch.diagonal(out[keys.BEC].detach(), dim1=1, dim2=2).sum(-1).double() / 3.0
