"""The training targets, declared once: what each reference property of a data set is
compared with, in which unit, and whether it has a row per atom or per frame.

Data sets store a reference value under ``keys.REFERENCE_PREFIX + name``. A batch whose
frames do not all have a property carries the property for every frame (zeros where it is
missing) and a per-frame mask ``keys.TARGET_MASK_PREFIX + name``; :func:`select` keeps the
rows of the frames that have it, so a missing label is masked per frame, never dropped for
the whole batch.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple, Union

import torch

from .. import keys

#: stands for the number of atoms in :attr:`Target.shape`
ATOMS = "atoms"


@dataclasses.dataclass(frozen=True)
class Target:
    """One training target.

    name: the property (data-file setting ``data.keys.<name>``, weight ``<name>_weight``).
    reference, prediction: the batch key of the reference and the model output compared.
    unit: the unit of the residual (energy per atom).
    per_atom: rows per atom (forces, Born charges, charges) or per frame.
    shape: the shape of one frame's value (``"atoms"`` for the number of atoms); None: as
        read (the stress, 6 Voigt or 9 components).
    derivative: the model's switch that computes the prediction (``compute_<derivative>``),
        or None when every evaluation gives it.
    """

    name: str
    reference: str
    prediction: str
    unit: str
    per_atom: bool
    shape: Optional[Tuple[Union[int, str], ...]] = ()
    derivative: Optional[str] = None

    def frame_shape(self, n_atoms: int) -> Optional[Tuple[int, ...]]:
        """The shape of one frame's value with ``n_atoms`` atoms (None: not fixed)."""
        if self.shape is None:
            return None
        return tuple(n_atoms if d == ATOMS else int(d) for d in self.shape)


TARGETS: Dict[str, Target] = {
    t.name: t
    for t in (
        Target("energy", keys.REF_ENERGY, keys.ENERGY, "eV/atom", False, ()),
        Target("forces", keys.REF_FORCES, keys.FORCES, "eV/Å", True, (ATOMS, 3), "forces"),
        Target("stress", keys.REF_STRESS, keys.STRESS, "eV/Å³", False, None, "stress"),
        Target("dipole", keys.REF_DIPOLE, keys.POLARIZATION, "e·Å", False, (3,)),
        Target("polarization", keys.REF_POLARIZATION, keys.POLARIZATION, "e·Å", False, (3,)),
        Target("bec", keys.REF_BEC, keys.BEC, "e", True, (ATOMS, 3, 3), "bec"),
        Target("charges", keys.REF_CHARGES, keys.CHARGES, "e", True, (ATOMS,)),
        Target(
            "polarizability",
            keys.REF_POLARIZABILITY,
            keys.POLARIZABILITY,
            "e·Å²/V",
            False,
            (3, 3),
            "polarizability",
        ),
    )
}


def frame_mask(batch: Dict[str, torch.Tensor], target: Target) -> Optional[torch.Tensor]:
    """(B,) bool: the frames of ``batch`` that have ``target``; None when all have it."""
    return batch.get(keys.TARGET_MASK_PREFIX + target.name)


def select(batch: Dict[str, torch.Tensor], target: Target, values: torch.Tensor) -> torch.Tensor:
    """The rows of ``values`` (per atom or per frame, like the target) that belong to frames
    with a reference value of ``target``."""
    mask = frame_mask(batch, target)
    if mask is None:
        return values
    if target.per_atom:
        mask = mask[batch[keys.BATCH]]
    return values[mask]


def pairs(
    batch: Dict[str, torch.Tensor], out: Dict[str, torch.Tensor], target: Target
) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """(reference, prediction) of ``target`` for the frames that have it, energy per atom;
    None if the batch has no reference or the model no prediction."""
    if target.reference not in batch or target.prediction not in out:
        return None
    ref, pred = batch[target.reference], out[target.prediction]
    if target.name == "energy":
        n = batch[keys.NUM_ATOMS].to(pred.dtype)
        ref, pred = ref / n, pred / n
    return select(batch, target, ref), select(batch, target, pred)


def derivatives_wanted(
    batch: Dict[str, torch.Tensor], weights: Optional[Dict[str, float]] = None
) -> Dict[str, bool]:
    """The model's derivative switches (``forces``, ``stress``, ``bec``, ``polarizability``)
    that the targets of ``batch`` need: a target's derivative is wanted when the batch has its
    reference and (with ``weights``) its weight is positive. Forces are wanted whenever the
    batch has reference forces."""
    wanted: Dict[str, bool] = {}
    for target in TARGETS.values():
        if target.derivative is None:
            continue
        have = target.reference in batch
        if weights is not None and target.name != "forces":
            have = have and weights.get(target.name, 0.0) > 0
        wanted[target.derivative] = wanted.get(target.derivative, False) or have
    return wanted
