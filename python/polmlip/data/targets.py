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
    """One training target: everything polmlip knows about it is declared here, and the data
    keys (:class:`~polmlip.data.dataset.DataKeys`), the loss weights of the training
    configuration (``training.<name>_weight``), the loss, the metrics, the label summary and
    the multipole orientation are derived from it.

    name: the property (data-file setting ``data.keys.<name>``, weight ``<name>_weight``);
        its reference values are stored under ``keys.REFERENCE_PREFIX + name``.
    prediction: the batch key of the model output it is compared with.
    unit: the unit of the residual (energy per atom).
    per_atom: rows per atom (forces, Born charges, charges) or per frame.
    shape: the shape of one frame's value (``"atoms"`` for the number of atoms); None: as
        read (the stress, 6 Voigt or 9 components).
    derivative: the model's switch that computes the prediction (``compute_<derivative>``),
        or None when every evaluation gives it.
    file_names: the names looked up in data files by default (first found wins).
    default_weight: the loss weight when the configuration gives none.
    weight_doc: what the weight weighs, for the configuration's documentation (its unit
        1/unit² is appended).
    fixes_sign: whether a weighted label of it fixes the sign of the latent multipoles (an
        odd function of the charges: dipoles, polarization, Born charges, charges).
    progress: (label, scale, unit) of its validation MAE on the training progress bar, or
        None to leave it off the bar.
    """

    name: str
    prediction: str
    unit: str
    per_atom: bool
    shape: Optional[Tuple[Union[int, str], ...]] = ()
    derivative: Optional[str] = None
    file_names: Tuple[str, ...] = ()
    default_weight: float = 0.0
    weight_doc: str = ""
    fixes_sign: bool = False
    progress: Optional[Tuple[str, float, str]] = None

    @property
    def reference(self) -> str:
        """The batch key of the reference values."""
        return keys.REFERENCE_PREFIX + self.name

    @property
    def weight_setting(self) -> str:
        """The training configuration's loss-weight key."""
        return self.name + "_weight"

    def frame_shape(self, n_atoms: int) -> Optional[Tuple[int, ...]]:
        """The shape of one frame's value with ``n_atoms`` atoms (None: not fixed)."""
        if self.shape is None:
            return None
        return tuple(n_atoms if d == ATOMS else int(d) for d in self.shape)


TARGETS: Dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "energy",
            keys.ENERGY,
            "eV/atom",
            False,
            (),
            file_names=("energy", "REF_energy"),
            default_weight=1.0,
            weight_doc="the energy per atom",
            progress=("E", 1000.0, "meV/at"),
        ),
        Target(
            "forces",
            keys.FORCES,
            "eV/Å",
            True,
            (ATOMS, 3),
            "forces",
            file_names=("forces", "force", "REF_forces"),
            default_weight=10.0,
            weight_doc="the forces",
            progress=("F", 1000.0, "meV/Å"),
        ),
        Target(
            "stress",
            keys.STRESS,
            "eV/Å³",
            False,
            None,
            "stress",
            file_names=("stress", "REF_stress"),
            weight_doc="the stress",
        ),
        Target(
            "dipole",
            keys.POLARIZATION,
            "e·Å",
            False,
            (3,),
            file_names=("dipole", "REF_dipole"),
            weight_doc="the dipole of open frames",
            fixes_sign=True,
            progress=("μ", 1.0, "eÅ"),
        ),
        Target(
            "polarization",
            keys.POLARIZATION,
            "e·Å",
            False,
            (3,),
            file_names=("polarization", "REF_polarization"),
            weight_doc="the polarization",
            fixes_sign=True,
        ),
        Target(
            "bec",
            keys.BEC,
            "e",
            True,
            (ATOMS, 3, 3),
            "bec",
            file_names=("bec", "BEC"),
            weight_doc="the Born charges",
            fixes_sign=True,
            progress=("Z*", 1.0, "e"),
        ),
        Target(
            "charges",
            keys.CHARGES,
            "e",
            True,
            (ATOMS,),
            file_names=("charges",),
            weight_doc="reference atomic charges",
            fixes_sign=True,
        ),
        Target(
            "polarizability",
            keys.POLARIZABILITY,
            "e·Å²/V",
            False,
            (3, 3),
            "polarizability",
            file_names=("polarizability", "REF_polarizability"),
            weight_doc="the polarizability α = ∂μ/∂E at fixed nuclei (open frames; "
            "``polmlip datagen --polarizability``)",
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
