"""The plan of ``polmlip::tp_conv``, the fused message-passing convolution, read from an e3nn
depthwise tensor product.

:func:`conv_plan` turns an ``o3.TensorProduct`` with ``uvu`` instructions (features ×
edge harmonics of multiplicity one, per-edge weights) into the operator's flat plan
(``cpp/ops/tp_conv.cpp``, reference :mod:`polmlip.conv_reference`): the same sums, with the
Clebsch–Gordan tensors stored as their non-zero entries and the path normalisations of e3nn
folded into the coefficients. Features enter and leave component-major: ``perm_in`` reorders
e3nn's channel-major input, ``perm_out`` restores e3nn's layout of the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from e3nn import o3

#: Clebsch–Gordan values below this are e3nn's numerical zeros (its tensors are exact to ~1e-16)
CG_ZERO = 1e-13


@dataclass
class ConvPlan:
    """Flat plan of ``polmlip::tp_conv`` (see :mod:`polmlip.conv_reference` for the layout)."""

    paths: List[int]
    entries: List[int]
    coeffs: List[float]
    out_dim: int
    perm_in: torch.Tensor  # (Dx,) int64: x_component_major = x[:, perm_in]
    perm_out: torch.Tensor  # (D_out,) int64: out_e3nn = out_component_major[:, perm_out]


def _component_major(irreps: o3.Irreps) -> torch.Tensor:
    """perm with x_cm = x[:, perm]: element (u, m) of each block moves from u·d + m to
    m·mul + u."""
    perm = []
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        d = ir.dim
        perm += [sl.start + u * d + m for m in range(d) for u in range(mul)]
    return torch.tensor(perm, dtype=torch.long)


def conv_plan(tp: o3.TensorProduct) -> ConvPlan:
    """The plan of ``tp`` (uvu paths with per-edge weights, second input of multiplicity 1)."""
    in1, in2, out = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
    s1, s2, s3 = in1.slices(), in2.slices(), out.slices()
    paths: List[int] = []
    entries: List[int] = []
    coeffs: List[float] = []
    w_off = 0
    for p, ins in enumerate(tp.instructions):
        if ins.connection_mode != "uvu" or not ins.has_weight:
            raise ValueError("polmlip: the fused convolution takes weighted uvu paths only")
        (mul, ir1), (mul2, ir2), (mul3, ir3) = in1[ins.i_in1], in2[ins.i_in2], out[ins.i_out]
        if mul2 != 1 or mul3 != mul:
            raise ValueError(
                "polmlip: the fused convolution needs edge harmonics of "
                "multiplicity 1 and uvu outputs"
            )
        paths += [
            s1[ins.i_in1].start,
            ir1.dim,
            s2[ins.i_in2].start,
            ir2.dim,
            s3[ins.i_out].start,
            ir3.dim,
            w_off,
            mul,
        ]
        w3j = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64)
        for m1, m2, m3 in (w3j.abs() > CG_ZERO).nonzero().tolist():
            entries += [p, m1, m2, m3]
            coeffs.append(float(ins.path_weight) * float(w3j[m1, m2, m3]))
        w_off += mul
    if w_off != tp.weight_numel:
        raise ValueError("polmlip: the tensor product's weights do not match its paths")
    perm_out = torch.argsort(_component_major(out))
    return ConvPlan(paths, entries, coeffs, out.dim, _component_major(in1), perm_out)
