"""Calibration of a cheaper teacher's Born charges against the reference method's dipoles.

A data set may carry reference (e.g. DFT) dipoles but no Born charges, and a semi-empirical
teacher (GFN2-xTB) may supply the Born charges. Between two conformations of one molecule
the dipole changes by ∫ Σ_i Z*_i dr_i, so the ratio of the reference's dipole changes to the
teacher's measures how much larger or smaller the reference's Z* are, from the training
frames alone. ``data.bec_scale`` applies it to the teacher's Z* labels.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..data.dataset import DataKeys, _lookup


def dipole_change_ratio(reference: np.ndarray, teacher: np.ndarray, groups: Sequence) -> float:
    """Least-squares s of Δμ_ref ≈ s Δμ_teacher (dimensionless).

    Args:
        reference, teacher: (B, 3) e·Å, the two methods' dipoles of the same frames.
        groups: (B,) a label per frame (the molecule); Δμ is each frame's dipole minus its
            group's mean, so a group's constant offset between the methods drops out.

    Raises:
        ValueError: when no group has two frames, or the teacher's dipoles do not change.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    tea = np.asarray(teacher, dtype=np.float64).reshape(-1, 3)
    labels = np.asarray(groups)
    if ref.shape != tea.shape or len(labels) != len(ref):
        raise ValueError("reference, teacher and groups must describe the same frames")
    d_ref: List[np.ndarray] = []
    d_tea: List[np.ndarray] = []
    for label in np.unique(labels):
        sel = labels == label
        if sel.sum() < 2:
            continue
        d_ref.append(ref[sel] - ref[sel].mean(0))
        d_tea.append(tea[sel] - tea[sel].mean(0))
    if not d_ref:
        raise ValueError("no molecule has two frames: dipole changes need conformations")
    a, b = np.concatenate(d_ref), np.concatenate(d_tea)
    denom = float((b * b).sum())
    if denom == 0.0:
        raise ValueError("the teacher's dipoles do not change between the frames")
    return float((a * b).sum() / denom)


def teacher_dipole_ratio(
    frames: Sequence, teacher_key: str, keys: Optional[DataKeys] = None
) -> Optional[Dict[str, float]]:
    """The dipole-change ratio of frames that carry a reference dipole and the teacher's
    dipole ``teacher_key`` (info), grouped by chemical formula; ``None`` if too few do.

    Returns ``{"ratio": s, "frames": n, "molecules": m}``.
    """
    keys = keys or DataKeys()
    ref, tea, groups = [], [], []
    for atoms in frames:
        r = _lookup(atoms, keys.dipole)
        t = atoms.info.get(teacher_key)
        if r is None or t is None or r.size != 3:
            continue
        ref.append(r.reshape(3))
        tea.append(np.asarray(t, dtype=np.float64).reshape(3))
        groups.append(atoms.get_chemical_formula())
    try:
        ratio = dipole_change_ratio(
            np.array(ref).reshape(-1, 3), np.array(tea).reshape(-1, 3), groups
        )
    except ValueError:
        return None
    return {"ratio": ratio, "frames": len(ref), "molecules": len(set(groups))}
