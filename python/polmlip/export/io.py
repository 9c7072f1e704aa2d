"""Writing and reading exported model files (TorchScript + metadata in ``_extra_files``)."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import zipfile
from typing import Any, Dict, Optional, Tuple

import torch
from e3nn.util.jit import compile as e3nn_compile

from .. import __version__, keys
from ..devices import resolve_device
from ..errors import InputError
from ..fileio import atomic_save, check_role
from ..keys import FORMAT_VERSION, METADATA_FILE
from ..model.polmlip import PolMLIP
from ..nn.radial_table import TABLE_START, TABLE_TOLERANCE
from .contract import REQUESTABLE, check_outputs, declaration
from .engine_model import EngineModel
from .metadata import check_metadata, strict_json

#: precisions of the network in an export (the rest is float64 then)
NETWORK_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _six_digits(buffer: torch.Tensor) -> float:
    """A scalar buffer for the metadata, without float32 noise (0.1, not 0.10000000149)."""
    return float(f"{float(buffer):.6g}")


def metadata_for(model: PolMLIP) -> Dict[str, Any]:
    """The contract stored next to the weights: what an engine needs to know."""
    cfg = model.config_dict
    # the interface (positions, cell, long range, sums) and the network may differ: a
    # mixed-precision export runs the network in float32 and the rest in float64
    dtype = str(model.field_limit.dtype).replace("torch.", "")
    network = str(model.body.embedding.weight.dtype).replace("torch.", "")
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
        # per-element E0 in every atom's energy (eV): fitted by the trainer or from the config
        "reference_energies": {
            e: float(v) for e, v in zip(cfg["elements"], model.energy_sum.energy_shift.tolist())
        },
        "units": {"length": "angstrom", "energy": "eV", "charge": "e", "field": "V/angstrom"},
        "dtype": dtype,
        "network_dtype": network,
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
                "real_space_cutoff",
            )
        },
        # what the halo exchange between ranks carries per atom and layer (polmlip::halo)
        "features": {
            "width": int(model.body.irreps_out.dim),
            "layers": int(cfg["num_layers"]),
            "halo_exchange": True,
        },
        **declaration(cfg),
        "config": _shareable(cfg),
    }


def _shareable(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The model settings for a file that may be shared: a MACE body is named by its file
    name, not by the path it had on the machine that trained the model."""
    out = dict(cfg)
    if out.get("mace_body"):
        out["mace_body"] = pathlib.PurePath(out["mace_body"]).name
    return out


def _probe_frames(model: PolMLIP) -> list:
    """Two small frames with every element of ``model``: a periodic cell larger than twice
    the cutoff, and the same atoms with open boundaries (graph dicts of one frame)."""
    import numpy as np
    from ase import Atoms

    from ..data.graph import atoms_to_graph

    elements = list(model.config_dict["elements"])
    cutoff = float(model.config_dict["cutoff"])
    symbols = (elements * 2)[: max(3, len(elements))]
    spacing = max(1.2, 2.0 * float(model.min_distance))
    positions = np.array(
        [[spacing * k, 0.37 * spacing * k * k, 0.2 * k] for k in range(len(symbols))]
    )
    side = 2.0 * cutoff + float(np.ptp(positions, axis=0).max()) + 2.0
    # the interface's dtype (positions, cell, long range), which a mixed-precision model's
    # network does not share: the engines pass float64 positions to a float32 network
    dtype = model.field_limit.dtype
    periodic = Atoms(symbols, positions=positions + 1.0, cell=np.eye(3) * side, pbc=True)
    open_frame = Atoms(symbols, positions=positions)
    frames = []
    for atoms in (periodic, open_frame):
        g = atoms_to_graph(atoms, elements, cutoff, dtype=dtype, min_distance=0.0)
        frames.append((g, bool(atoms.pbc.all())))
    return frames


def check_declared_outputs(scripted: Any, model: PolMLIP) -> None:
    """Run ``scripted`` (the engine module) on probe frames and raise ValueError unless its
    outputs match the declaration, with everything requestable asked for and nothing."""
    cfg = model.config_dict
    for g, periodic in _probe_frames(model):
        inputs = {
            keys.SPECIES: g[keys.SPECIES],
            keys.POSITIONS: g[keys.POSITIONS],
            keys.EDGE_INDEX: g[keys.EDGE_INDEX],
            keys.EDGE_SHIFT: g[keys.EDGE_SHIFT],
            keys.CELL: g[keys.CELL][0],
            keys.PBC: torch.tensor(periodic),
        }
        n = int(g[keys.SPECIES].shape[0])
        for requested in (list(REQUESTABLE), []):
            with torch.jit.optimized_execution(False):
                out = scripted(inputs, requested)
            check_outputs(out, cfg, n, n, requested, periodic)


def export_model(
    model: PolMLIP,
    path: str | os.PathLike,
    compress: bool = True,
    network_dtype: Optional[str] = None,
) -> Dict[str, Any]:
    """Script ``model`` behind the engine interface and write it atomically to ``path``.

    With ``compress`` (default) each layer's radial network is also stored as a table of the
    edge length (:mod:`polmlip.nn.radial_table`), which the file uses by default; the
    networks stay in the file (``set_radial_table(False)`` switches back).

    ``network_dtype`` ``"float32"`` makes a mixed-precision file: the network (body and
    heads) runs in float32; positions, cell, long range and sums in float64 (the engines'
    inputs stay float64). ``"float64"``: all float64. None: as the model is.
    """
    # scripting replaces submodules in place: work on a copy, so that the caller's model
    # stays a Python module (and can be exported again)
    model = copy.deepcopy(model).eval()
    if network_dtype is not None:
        if network_dtype not in NETWORK_DTYPES:
            raise InputError(
                f"network dtype must be one of {sorted(NETWORK_DTYPES)}, got {network_dtype!r}"
            )
        model = model.double()
        model.body.to(NETWORK_DTYPES[network_dtype])
        model.heads.to(NETWORK_DTYPES[network_dtype])
    if compress:
        r_lo = TABLE_START * float(model.min_distance)
        model.body.compress(r_lo, TABLE_TOLERANCE)
    meta = metadata_for(model)
    scripted = e3nn_compile(EngineModel(model))
    check_declared_outputs(scripted, model)
    scripted.retune_long_range()  # the probe frames chose settings: the file starts fresh
    save_scripted(scripted, meta, path)
    return meta


def save_scripted(scripted: Any, meta: Dict[str, Any], path: str | os.PathLike) -> None:
    """Write a scripted module with its metadata atomically (a temporary file, then rename)."""
    extra = {METADATA_FILE: json.dumps(meta, indent=1)}
    atomic_save(path, lambda buffer: torch.jit.save(scripted, buffer, _extra_files=extra))


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
        meta = strict_json(extra[METADATA_FILE])
    except ValueError as exc:
        raise InputError(
            f"{str(path)!r} has corrupted polmlip metadata: not JSON ({exc})"
        ) from None
    check_metadata(meta, str(path))
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
