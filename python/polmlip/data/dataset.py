"""extxyz datasets with configurable property names.

ASE puts ``energy`` and ``dipole`` of extxyz files in ``atoms.calc.results`` and
keeps per-atom arrays under their file key (``forces`` or ``force``...), so every
property is looked up in ``atoms.info``, ``atoms.arrays`` and the calculator
results, under each of its configured names.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..keys import BEC_LAYOUTS, REFERENCE_PREFIX
from .graph import atoms_to_graph
from .targets import TARGETS


def _data_keys_from_dict(cls, data: Dict[str, Any]) -> DataKeys:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown data key setting(s) {unknown}; valid: {sorted(names)}")
    return cls(**{k: (v,) if isinstance(v, str) else tuple(v) for k, v in data.items()})


#: the per-frame inputs read from data files besides the targets, with their default names
FRAME_INPUT_NAMES = {
    "total_charge": ("total_charge", "charge"),
    "external_field": ("external_field", "efield"),
}

#: Names of the properties in the data files (first name found wins): one field per target
#: of :data:`TARGETS` (its ``file_names``) and per frame input (:data:`FRAME_INPUT_NAMES`).
DataKeys = dataclasses.make_dataclass(
    "DataKeys",
    [
        (name, Sequence[str], dataclasses.field(default=names))
        for name, names in [(t.name, t.file_names) for t in TARGETS.values()]
        + list(FRAME_INPUT_NAMES.items())
    ],
    namespace={
        "__doc__": "Names of the properties in the data files (first name found wins); "
        "one field per training target and frame input.",
        "from_dict": classmethod(_data_keys_from_dict),
        "__module__": __name__,
    },
)


def _lookup(atoms, names: Sequence[str]) -> Optional[np.ndarray]:
    results = atoms.calc.results if atoms.calc is not None else {}
    for name in names:
        for store in (atoms.info, atoms.arrays, results):
            if name in store:
                return np.asarray(store[name], dtype=np.float64)
    return None


def read_frames(path: str | pathlib.Path, index: str = ":") -> list:
    """Read frames with ASE, with a clear error for missing or unreadable files."""
    import ase.io

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"data file {str(path)!r} does not exist")
    try:
        frames = ase.io.read(str(path), index=index)
    except Exception as exc:
        raise InputError(f"cannot read {str(path)!r}: {_where_reading_fails(path, exc)}") from None
    return frames if isinstance(frames, list) else [frames]


def _where_reading_fails(path: pathlib.Path, exc: Exception) -> str:
    """The first frame ASE cannot read, as the file counts them, and ASE's reason."""
    import ase.io

    good = 0
    try:
        for _ in ase.io.iread(str(path)):
            good += 1
    except Exception:
        return (
            f"frame {good} (counting from 0) is truncated or malformed, after {good} good "
            f"frame(s) (ASE: {exc})"
        )
    return str(exc)


def frame_targets(atoms, keys: DataKeys, bec_layout: str = BEC_LAYOUTS[0]) -> Dict[str, np.ndarray]:
    """Reference properties of one frame; NaN or wrong shapes raise InputError.

    Born charges come back as (N, 3, 3) Z*_βγ = ∂P_β/∂r_γ whatever ``bec_layout`` the
    file uses (:data:`BEC_LAYOUTS`). Shapes are the targets' (:data:`TARGETS`); a
    polarizability is read as a 3×3 tensor (9 numbers; symmetric, so their order does not
    matter)."""
    n = len(atoms)
    out: Dict[str, np.ndarray] = {}
    for prop, target in TARGETS.items():
        shape = target.frame_shape(n)
        value = _lookup(atoms, getattr(keys, prop))
        if value is None:
            continue
        if prop == "stress":
            value = _voigt_to_matrix(value)
        elif prop == "bec" and value.size == 9 * n:
            value = value.reshape(n, 3, 3)
            if bec_layout == "displacement-major":
                value = value.transpose(0, 2, 1).copy()
        elif shape is not None and not target.per_atom and value.size == int(np.prod(shape)):
            value = value.reshape(shape)
        if shape is not None and value.shape != shape:
            raise InputError(f"{prop} has shape {value.shape}, expected {shape}")
        if not np.isfinite(value).all():
            raise InputError(f"{prop} contains NaN or inf")
        out[prop] = value
    return out


def rotation_sum_rule_residual(positions: np.ndarray, bec: np.ndarray, dipole: np.ndarray) -> float:
    """How far Born charges are from the rotation sum rule of a neutral open frame, in e·Å.

    A rigid rotation δr_i = ω × (r_i − c) turns the dipole, δP = ω × P, so
    Σ_i Z*_i (ω × (r_i − c)) = ω × P for each axis ω; returns the norm of the
    difference summed over the three axes (zero for exact Z*_βγ = ∂P_β/∂r_γ; the
    transposed tensor misses by about |P| when the atoms' Z* are anisotropic).
    """
    r = positions - positions.mean(0)
    total = 0.0
    for axis in np.eye(3):
        dp = np.einsum("ibg,ig->b", bec, np.cross(axis, r))
        total += float(np.linalg.norm(dp - np.cross(axis, dipole)))
    return total


class BecLayoutCheck:
    """Refuses Born charges that were read in the wrong :data:`BEC_LAYOUTS` order, frame by
    frame (:meth:`add`, then :meth:`check`), so that a set read in a stream is checked too.

    Uses the neutral, zero-field open frames that also have a dipole: if the transposed
    tensors satisfy the rotation sum rule far better than the tensors as read, the file
    stores the other layout, and training on it would fit the wrong physics silently.
    """

    def __init__(self) -> None:
        self.as_read = 0.0
        self.transposed = 0.0
        self.frames = 0

    def add(self, targets: Dict[str, np.ndarray], positions: np.ndarray) -> None:
        """One frame that can check the layout (neutral, no field, open, with Born charges)."""
        self.frames += 1
        if "bec" not in targets or "dipole" not in targets:
            return
        bec, dipole = targets["bec"], targets["dipole"]
        self.as_read += rotation_sum_rule_residual(positions, bec, dipole)
        self.transposed += rotation_sum_rule_residual(positions, bec.transpose(0, 2, 1), dipole)

    def check(self) -> None:
        """InputError if the frames added so far say the layout is the other one."""
        as_read, transposed = self.as_read, self.transposed
        if as_read > 3.0 * transposed and as_read > 0.05 * self.frames:
            raise InputError(
                "the Born charges in this file break the rotation sum rule as read "
                f"(residual {as_read:.3g} e·Å over the frames) and satisfy it transposed "
                f"({transposed:.3g} e·Å): the file stores them in the other order; set "
                "data.bec_layout (or --bec-layout) to the one it uses, one of "
                f"{list(BEC_LAYOUTS)}"
            )


def check_bec_layout(targets: List[Dict[str, np.ndarray]], positions: List[np.ndarray]) -> None:
    """:class:`BecLayoutCheck` over the checkable frames' ``targets`` and ``positions``."""
    check = BecLayoutCheck()
    for t, pos in zip(targets, positions):
        check.add(t, pos)
    check.check()


def _voigt_to_matrix(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    if s.size == 9:
        return s.reshape(3, 3)
    if s.size == 6:
        xx, yy, zz, yz, xz, xy = s
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise InputError(f"stress must have 6 (Voigt) or 9 components, got {s.size}")


def build_dataset(
    frames: list,
    elements: Sequence[str],
    cutoff: float,
    keys: DataKeys,
    required: Sequence[str] = ("energy",),
    dtype: torch.dtype = torch.float64,
    bec_layout: str = BEC_LAYOUTS[0],
    source: str = "the data",
    numbers: Optional[Sequence[int]] = None,
) -> List[Dict[str, torch.Tensor]]:
    """Graphs with reference targets attached under ``ref_<property>`` keys.

    ``bec_layout``: the order of the Born charges in the file (:data:`BEC_LAYOUTS`);
    checked against the rotation sum rule where the frames allow (:func:`check_bec_layout`).
    ``source`` (the file) and ``numbers`` (each frame's index in it; default its position
    here) name the frame in every error: "'train.xyz', frame 7 (counting from 0): ...".
    """
    if bec_layout not in BEC_LAYOUTS:
        raise InputError(f"bec_layout must be one of {list(BEC_LAYOUTS)}, got {bec_layout!r}")
    numbers = list(numbers) if numbers is not None else list(range(len(frames)))
    out = []
    checked: List[Dict[str, np.ndarray]] = []
    checked_positions: List[np.ndarray] = []
    for idx, atoms in enumerate(frames):
        try:
            graph, targets, checkable = frame_graph(
                atoms, elements, cutoff, keys, required, dtype, bec_layout
            )
        except InputError as exc:
            raise InputError(f"{source}, frame {numbers[idx]} (counting from 0): {exc}") from None
        if checkable:
            checked.append(targets)
            checked_positions.append(np.asarray(atoms.positions, dtype=np.float64))
        out.append(graph)
    check_bec_layout(checked, checked_positions)
    return out


def frame_graph(atoms, elements, cutoff, keys, required, dtype, bec_layout):
    """One frame read with ``keys``: (its graph with the ``ref_`` targets attached, the targets
    as read (:func:`frame_targets`), whether the frame can check the Born charges' layout:
    neutral, no field, open, with Born charges). InputError for a frame that breaks a rule
    of :func:`frame_targets` or :func:`~polmlip.data.graph.atoms_to_graph`, or lacks one of
    ``required``."""
    targets = frame_targets(atoms, keys, bec_layout)
    missing = [r for r in required if r not in targets]
    if missing:
        raise InputError(
            f"the frame has no {missing}; looked for names "
            f"{[list(getattr(keys, m)) for m in missing]} in info, arrays and results"
        )
    field = _lookup(atoms, keys.external_field)
    charge = _lookup(atoms, keys.total_charge)
    neutral = charge is None or abs(float(charge)) < 1e-8
    no_field = field is None or not np.any(field)
    checkable = "bec" in targets and neutral and no_field and not atoms.pbc.any()
    g = atoms_to_graph(
        atoms,
        elements,
        cutoff,
        external_field=field if field is not None else (0.0, 0.0, 0.0),
        total_charge=float(charge) if charge is not None else 0.0,
        dtype=dtype,
    )
    for k, v in targets.items():
        t = torch.tensor(v, dtype=dtype)
        g[REFERENCE_PREFIX + k] = t if TARGETS[k].per_atom else t[None]
    return g, targets, checkable
