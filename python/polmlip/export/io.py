"""Writing and reading exported model files (TorchScript + metadata in ``_extra_files``)."""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from typing import Any, Dict, Optional, Tuple

import torch
from e3nn.util.jit import compile as e3nn_compile

from .. import __version__
from ..devices import resolve_device
from ..errors import InputError
from ..fileio import atomic_write, check_role
from ..model.polmlip import PolMLIP
from .engine_model import EngineModel

FORMAT_VERSION = 1
METADATA_FILE = "polmlip_metadata.json"


def _six_digits(buffer: torch.Tensor) -> float:
    """A scalar buffer for the metadata, without float32 noise (0.1, not 0.10000000149)."""
    return float(f"{float(buffer):.6g}")


def metadata_for(model: PolMLIP) -> Dict[str, Any]:
    """The contract stored next to the weights: what an engine needs to know."""
    cfg = model.config_dict
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return {
        "format": "polmlip",
        "format_version": FORMAT_VERSION,
        "kind": "engine",
        "polmlip_version": __version__,
        "elements": list(cfg["elements"]),
        "cutoff": float(cfg["cutoff"]),
        "num_layers": int(cfg["num_layers"]),
        "ghost_cutoff": float(cfg["cutoff"]) * int(model.ghost_layers()),
        "field_limit": _six_digits(model.field_limit),
        "min_distance": _six_digits(model.min_distance),
        "units": {"length": "angstrom", "energy": "eV", "charge": "e", "field": "V/angstrom"},
        "dtype": dtype,
        "heads": {
            k: bool(cfg[k])
            for k in (
                "charges",
                "dipoles",
                "quadrupoles",
                "induced_charges",
                "induced_dipoles",
                "anisotropic_alpha",
            )
        },
        "long_range": {
            k: cfg[k]
            for k in (
                "sigma",
                "kspace_method",
                "kspace_accuracy",
                "spline_order",
                "charge_conservation",
            )
        },
        "outputs": [
            "energy",
            "forces",
            "virial",
            "charges",
            "dipoles",
            "induced_charges",
            "induced_dipoles",
            "polarization",
            "bec",
        ],
        "config": cfg,
    }


def export_model(model: PolMLIP, path: str | os.PathLike) -> Dict[str, Any]:
    """Script ``model`` behind the engine interface and write it atomically to ``path``."""
    model = model.eval()
    scripted = e3nn_compile(EngineModel(model))
    meta = metadata_for(model)
    save_scripted(scripted, meta, path)
    return meta


def save_scripted(scripted: Any, meta: Dict[str, Any], path: str | os.PathLike) -> None:
    """Write a scripted module with its metadata atomically (a temporary file, then rename)."""
    extra = {METADATA_FILE: json.dumps(meta, indent=1)}
    atomic_write(path, lambda tmp: torch.jit.save(scripted, tmp, _extra_files=extra))


def load_exported(
    path: str | os.PathLike, device: str = "cpu", kind: Optional[str] = "engine"
) -> Tuple[Any, Dict[str, Any]]:
    """Load an exported file; refuse missing, foreign, corrupted or newer-format files, a
    training checkpoint, a file of another ``kind`` and an unavailable ``device``.

    Args:
        path: file written by ``polmlip export``. device: "cpu", "cuda" or "cuda:N".
        kind: ``"engine"`` (the main export), ``"torchforce"`` (``export --torchforce``) or
            None (either).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"model file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{str(path)!r} is not a polmlip model file (not a TorchScript archive)")
    check_role(path, "model")
    torch_device = resolve_device(device, "device")
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=torch_device, _extra_files=extra)
    except Exception as exc:  # torch raises several types for damaged archives
        raise InputError(
            f"{str(path)!r} is corrupted or unreadable: {str(exc).splitlines()[0]}"
        ) from None
    if not extra[METADATA_FILE]:
        raise InputError(
            f"{str(path)!r} is a TorchScript file but not a polmlip model (no polmlip metadata)"
        )
    try:
        meta = json.loads(extra[METADATA_FILE])
    except json.JSONDecodeError:
        raise InputError(f"{str(path)!r} has corrupted polmlip metadata") from None
    if meta.get("format") != "polmlip":
        raise InputError(f"{str(path)!r} is not a polmlip model file")
    version = int(meta.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise InputError(
            f"{str(path)!r} was written in model format {version}, newer than this polmlip "
            f"({__version__}) reads (format {FORMAT_VERSION}); upgrade polmlip"
        )
    found = meta.get("kind", "engine")
    if kind is not None and found != kind:
        what = {
            "engine": "an engine model (polmlip export)",
            "torchforce": "a TorchForce-"
            "convention file (polmlip export --torchforce), tied to one particle order",
        }
        raise InputError(
            f"{str(path)!r} is {what.get(found, repr(found))}; this needs {what.get(kind, kind)}"
        )
    return module, meta
