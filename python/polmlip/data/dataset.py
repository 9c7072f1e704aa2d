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
from ..keys import REFERENCE_PREFIX
from .graph import atoms_to_graph


@dataclasses.dataclass
class DataKeys:
    """Names of the properties in the data files (first name found wins)."""

    energy: Sequence[str] = ("energy", "REF_energy")
    forces: Sequence[str] = ("forces", "force", "REF_forces")
    stress: Sequence[str] = ("stress", "REF_stress")
    dipole: Sequence[str] = ("dipole", "REF_dipole")
    polarization: Sequence[str] = ("polarization", "REF_polarization")
    bec: Sequence[str] = ("bec", "BEC")
    charges: Sequence[str] = ("charges",)
    total_charge: Sequence[str] = ("total_charge", "charge")
    external_field: Sequence[str] = ("external_field", "efield")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> DataKeys:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown data key setting(s) {unknown}; valid: {sorted(names)}")
        return cls(**{k: (v,) if isinstance(v, str) else tuple(v) for k, v in data.items()})


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
        raise InputError(f"cannot read {str(path)!r}: {exc}") from None
    return frames if isinstance(frames, list) else [frames]


def frame_targets(atoms, keys: DataKeys, index: int) -> Dict[str, np.ndarray]:
    """Reference properties of one frame; NaN or wrong shapes raise InputError."""
    n = len(atoms)
    shapes = {
        "energy": (),
        "forces": (n, 3),
        "stress": None,
        "dipole": (3,),
        "polarization": (3,),
        "bec": (n, 3, 3),
        "charges": (n,),
    }
    out: Dict[str, np.ndarray] = {}
    for prop, shape in shapes.items():
        value = _lookup(atoms, getattr(keys, prop))
        if value is None:
            continue
        if prop == "stress":
            value = _voigt_to_matrix(value)
        elif prop == "bec" and value.size == 9 * n:
            value = value.reshape(n, 3, 3)
        elif prop in ("dipole", "polarization", "energy") and value.size == int(np.prod(shape)):
            value = value.reshape(shape)
        if shape is not None and value.shape != shape:
            raise InputError(f"frame {index}: {prop} has shape {value.shape}, expected {shape}")
        if not np.isfinite(value).all():
            raise InputError(f"frame {index}: {prop} contains NaN or inf")
        out[prop] = value
    return out


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
) -> List[Dict[str, torch.Tensor]]:
    """Graphs with reference targets attached under ``ref_<property>`` keys."""
    out = []
    for idx, atoms in enumerate(frames):
        targets = frame_targets(atoms, keys, idx)
        missing = [r for r in required if r not in targets]
        if missing:
            raise InputError(
                f"frame {idx} has no {missing}; looked for names "
                f"{[list(getattr(keys, m)) for m in missing]} in info, arrays and results"
            )
        field = _lookup(atoms, keys.external_field)
        charge = _lookup(atoms, keys.total_charge)
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
            g[REFERENCE_PREFIX + k] = (
                t[None] if k in ("energy", "dipole", "polarization", "stress") else t
            )
        out.append(g)
    return out
