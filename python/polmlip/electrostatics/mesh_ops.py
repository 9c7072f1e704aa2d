"""Spreading multipoles onto a periodic mesh and gathering derivatives back.

This is the operator boundary. :func:`spread` and :func:`gather` call the
TorchScript operators ``polmlip::spread`` and ``polmlip::gather``: the C++ kernels
of ``libpolmlip_ops`` when it is built (``cpp/ops``), otherwise the pure-PyTorch
reference (:func:`spread_reference`, :func:`gather_reference`, in
:mod:`polmlip.spread_reference`), registered under the same schema by :mod:`polmlip.ops`.
Both work in mesh coordinates u = K ⊙ s (s fractional), so they know nothing about the
cell.

Component layout of the (N, C) coefficient and result arrays, with ∂_d = ∂/∂u_d:
``[1, ∂0, ∂1, ∂2, ∂0∂0, ∂1∂1, ∂2∂2, ∂0∂1, ∂0∂2, ∂1∂2]``; C = 1 (charges), 4 (+dipoles)
or 10 (+quadrupoles).
"""

from typing import List

import torch

from ..spread_reference import components_for, gather_reference, spread_reference

__all__ = ["components_for", "gather", "gather_reference", "spread", "spread_reference"]


def spread(u: torch.Tensor, coeff: torch.Tensor, mesh_shape: List[int], order: int) -> torch.Tensor:
    """The ``polmlip::spread`` operator (same semantics as :func:`spread_reference`)."""
    return torch.ops.polmlip.spread(u, coeff, mesh_shape, order)


def gather(mesh: torch.Tensor, u: torch.Tensor, order: int, nderiv: int) -> torch.Tensor:
    """The ``polmlip::gather`` operator (same semantics as :func:`gather_reference`)."""
    return torch.ops.polmlip.gather(mesh, u, order, nderiv)
