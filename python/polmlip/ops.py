"""Loading the native TorchScript operators, with a pure-PyTorch fallback.

``polmlip::spread``, ``polmlip::gather``, ``polmlip::allreduce``, ``polmlip::halo`` (with
``polmlip::set_halo_owners``), ``polmlip::neighbor_pairs`` and the distributed-mesh operators
``polmlip::mesh_layout``, ``dist_rfftn``, ``dist_irfftn``, ``mesh_to_slabs`` and
``slabs_to_mesh`` (``cpp/ops/mesh_comm.h``) and the engines' fast path of the message
passing, ``polmlip::tp_conv``, ``polmlip::tp_conv_table`` and ``polmlip::radial_spline``
(``cpp/ops/tp_conv.cpp``, ``radial_spline.cpp``), always exist after importing polmlip
(``allreduce`` is the identity in one process and ``halo`` the identity on frames without
ghosts; in one process the mesh operators are ``torch.fft.rfftn``, ``irfftn`` and a periodic
wrap-sum / wrap-gather, see :mod:`polmlip.mesh_reference`; an engine that decomposes the domain
installs an MPI sum, a halo exchange and an MPI all-to-all into the native ones):

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
    "halo": "halo(Tensor x, int n_local) -> Tensor",
    "set_halo_owners": "set_halo_owners(Tensor owners) -> ()",
    "neighbor_pairs": "neighbor_pairs(Tensor positions, Tensor cell, bool periodic, float cutoff)"
    " -> (Tensor, Tensor)",
    "mesh_layout": "mesh_layout(int[] mesh_shape) -> int[]",
    "dist_rfftn": "dist_rfftn(Tensor slab, int[] mesh_shape) -> Tensor",
    "dist_irfftn": "dist_irfftn(Tensor kslab, int[] mesh_shape) -> Tensor",
    "mesh_to_slabs": "mesh_to_slabs(Tensor brick, int[] lo, int[] mesh_shape) -> Tensor",
    "slabs_to_mesh": "slabs_to_mesh(Tensor slab, int[] lo, int[] brick_shape, int[] mesh_shape)"
    " -> Tensor",
    "radial_spline": "radial_spline(Tensor r, Tensor coeffs, float r_lo, float inv_h) -> Tensor",
    "tp_conv": "tp_conv(Tensor x, Tensor sh, Tensor weight, Tensor edge_index, int n_out, "
    "int out_dim, int[] paths, int[] entries, float[] coeffs) -> Tensor",
    "tp_conv_table": "tp_conv_table(Tensor x, Tensor sh, Tensor length, Tensor table, float r_lo, "
    "float inv_h, Tensor edge_index, int n_out, int out_dim, int[] paths, int[] entries, "
    "float[] coeffs) -> Tensor",
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


_halo_owners = {"owners": None}


def _set_halo_owners(owners: torch.Tensor) -> None:
    """Reference for ``polmlip::set_halo_owners`` (``cpp/ops/halo.h``)."""
    _halo_owners["owners"] = None if owners.numel() == 0 else owners.detach().clone()


def _exchanged(x: torch.Tensor, n_local: int, reverse: bool) -> torch.Tensor:
    out = x.detach().clone()
    n = x.shape[0]
    if n == n_local:
        return out
    owners = _halo_owners["owners"]
    if owners is None:
        raise RuntimeError(
            "polmlip: this frame has ghost atoms but no halo exchange is installed: an engine "
            "with ghost atoms must install one (the LAMMPS plugin does), or map each ghost to "
            "its owner with polmlip::set_halo_owners"
        )
    ghost_owner = owners[n_local:].to(x.device)
    if reverse:
        out.index_add_(0, ghost_owner, x.detach()[n_local:])
        out[n_local:] = 0
    else:
        out[n_local:] = out[ghost_owner]
    return out


class _Halo(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, n_local, reverse):
        ctx.n_local, ctx.reverse = n_local, reverse
        return _exchanged(x, n_local, reverse)

    @staticmethod
    def backward(ctx, grad):
        return _Halo.apply(grad, ctx.n_local, not ctx.reverse), None, None


def _halo(x: torch.Tensor, n_local: int) -> torch.Tensor:
    """Reference for ``polmlip::halo``: ghost rows from their owners (``cpp/ops/halo.h``)."""
    return _Halo.apply(x, n_local, False)


def _neighbor_pairs(
    positions: torch.Tensor, cell: torch.Tensor, periodic: bool, cutoff: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference for ``polmlip::neighbor_pairs`` (vesin): r_ij = r_j − r_i + shift·cell."""
    from .neighbors import neighbor_list

    pos = positions.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(pos).all():
        raise RuntimeError("polmlip: positions contain NaN or inf")
    box = cell.detach().to("cpu", torch.float64).numpy().reshape(3, 3)
    i, j, s = neighbor_list(pos, box, periodic, cutoff)
    index = torch.from_numpy(np.stack([i, j])).to(positions.device)
    return index, torch.from_numpy(s.reshape(-1, 3)).to(positions.device)


def _register_fallback() -> None:
    _state["backend"] = "reference"
    from . import conv_reference, mesh_reference, spread_reference

    lib = torch.library.Library("polmlip", "DEF")
    for schema in _SCHEMAS.values():
        lib.define(schema)
    lib.impl("spread", spread_reference.spread_reference, "CompositeImplicitAutograd")
    lib.impl("gather", spread_reference.gather_reference, "CompositeImplicitAutograd")
    lib.impl("allreduce", _identity, "CompositeImplicitAutograd")
    lib.impl("halo", _halo, "CompositeImplicitAutograd")
    lib.impl("set_halo_owners", _set_halo_owners, "CompositeImplicitAutograd")
    lib.impl("neighbor_pairs", _neighbor_pairs, "CompositeExplicitAutograd")
    lib.impl("tp_conv", conv_reference.tp_conv, "CompositeImplicitAutograd")
    lib.impl("radial_spline", conv_reference.radial_spline, "CompositeImplicitAutograd")
    lib.impl("tp_conv_table", conv_reference.tp_conv_table, "CompositeImplicitAutograd")
    for name in ("mesh_layout", "dist_rfftn", "dist_irfftn", "mesh_to_slabs", "slabs_to_mesh"):
        lib.impl(name, getattr(mesh_reference, name), "CompositeImplicitAutograd")
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


class halo_owners:
    """``with halo_owners(owner):`` maps ghost row j to local row ``owner[j]`` for
    ``polmlip::halo`` in this process (explicit periodic images, tests); (N,) int64."""

    def __init__(self, owners: torch.Tensor) -> None:
        self.owners = owners.to(torch.long)

    def __enter__(self) -> halo_owners:
        load()
        torch.ops.polmlip.set_halo_owners(self.owners)
        return self

    def __exit__(self, *exc) -> None:
        torch.ops.polmlip.set_halo_owners(torch.zeros(0, dtype=torch.long))
