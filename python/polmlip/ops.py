"""Loading the native TorchScript operators, with a pure-PyTorch fallback.

``polmlip::spread``, ``polmlip::gather``, ``polmlip::allreduce`` and ``polmlip::neighbor_pairs``
always exist after importing polmlip (``allreduce`` is the identity in one process; an engine
that decomposes the domain installs an MPI sum into the native one):

* the C++ kernels of ``libpolmlip_ops`` (built by CMake into ``polmlip/lib``, or named by
  the environment variable ``POLMLIP_OPS_LIBRARY``) when they can be loaded;
* otherwise the PyTorch reference implementations, registered under the same schema.

Set ``POLMLIP_DISABLE_OPS=1`` to force the reference. :func:`backend` tells which is active.
"""

from __future__ import annotations

import os
import pathlib
from typing import List, Tuple

import numpy as np
import torch

_SCHEMAS = {
    "spread": "spread(Tensor u, Tensor coeff, int[] mesh_shape, int order) -> Tensor",
    "gather": "gather(Tensor mesh, Tensor u, int order, int nderiv) -> Tensor",
    "allreduce": "allreduce(Tensor x) -> Tensor",
    "neighbor_pairs": "neighbor_pairs(Tensor positions, Tensor cell, bool periodic, float cutoff)"
    " -> (Tensor, Tensor)",
}
_state = {"backend": None, "fallback": None}


def library_candidates() -> List[pathlib.Path]:
    """Where the native library is looked for, in order."""
    paths = []
    if os.environ.get("POLMLIP_OPS_LIBRARY"):
        paths.append(pathlib.Path(os.environ["POLMLIP_OPS_LIBRARY"]))
    paths.append(pathlib.Path(__file__).parent / "lib" / "libpolmlip_ops.so")
    return paths


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


def _neighbor_pairs(
    positions: torch.Tensor, cell: torch.Tensor, periodic: bool, cutoff: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference for ``polmlip::neighbor_pairs`` (vesin): r_ij = r_j − r_i + shift·cell."""
    from .data.graph import neighbor_list

    pos = positions.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(pos).all():
        raise RuntimeError("polmlip: positions contain NaN or inf")
    box = cell.detach().to("cpu", torch.float64).numpy().reshape(3, 3)
    i, j, s = neighbor_list(pos, box, periodic, cutoff)
    index = torch.from_numpy(np.stack([i, j])).to(positions.device)
    return index, torch.from_numpy(s.reshape(-1, 3)).to(positions.device)


def _register_fallback() -> None:
    from .electrostatics import mesh_ops

    lib = torch.library.Library("polmlip", "DEF")
    for schema in _SCHEMAS.values():
        lib.define(schema)
    lib.impl("spread", mesh_ops.spread_reference, "CompositeImplicitAutograd")
    lib.impl("gather", mesh_ops.gather_reference, "CompositeImplicitAutograd")
    lib.impl("allreduce", _identity, "CompositeImplicitAutograd")
    lib.impl("neighbor_pairs", _neighbor_pairs, "CompositeExplicitAutograd")
    _state["fallback"] = lib  # keep the registration alive


def load() -> str:
    """Make the operators available; returns ``"native"`` or ``"reference"``."""
    if _state["backend"] is not None:
        return _state["backend"]
    if all(hasattr(torch.ops.polmlip, name) for name in _SCHEMAS):
        _state["backend"] = "native"  # loaded by someone else (an engine) already
        return "native"
    if os.environ.get("POLMLIP_DISABLE_OPS", "") not in ("", "0"):
        _register_fallback()
        _state["backend"] = "reference"
        return "reference"
    for path in library_candidates():
        if path.is_file():
            try:
                torch.ops.load_library(str(path))
            except (OSError, RuntimeError):
                continue
            _state["backend"] = "native"
            return "native"
    _register_fallback()
    _state["backend"] = "reference"
    return "reference"


def backend() -> str:
    """``"native"`` (C++ kernels) or ``"reference"`` (PyTorch)."""
    return load()
