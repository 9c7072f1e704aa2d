"""PyTorch references of the distributed-mesh operators (``cpp/ops/mesh_comm.h``) in one
process, where the x-slab and the y-slab are the whole mesh: ``polmlip::dist_rfftn`` is
``torch.fft.rfftn``, ``dist_irfftn`` is ``torch.fft.irfftn`` and ``mesh_to_slabs`` /
``slabs_to_mesh`` are a periodic wrap-sum / wrap-gather of a brick of cells lo + [0, b)."""

from __future__ import annotations

from typing import List

import torch


def _check(op: str, what: str, expected: List[int], got: List[int]) -> None:
    if list(expected) != list(got):
        shapes = f"{tuple(expected)}, got {tuple(got)}"
        raise RuntimeError(f"polmlip: {op} needs {what} of shape {shapes}")


def mesh_layout(mesh_shape: List[int]) -> List[int]:
    """``[x_lo, x_hi, y_lo, y_hi, rank, size]`` of the only process."""
    return [0, int(mesh_shape[0]), 0, int(mesh_shape[1]), 0, 1]


def dist_rfftn(slab: torch.Tensor, mesh_shape: List[int]) -> torch.Tensor:
    _check("dist_rfftn", "the mesh", mesh_shape, slab.shape)
    return torch.fft.rfftn(slab)


def dist_irfftn(kslab: torch.Tensor, mesh_shape: List[int]) -> torch.Tensor:
    half = [mesh_shape[0], mesh_shape[1], mesh_shape[2] // 2 + 1]
    _check("dist_irfftn", "the half spectrum", half, kslab.shape)
    return torch.fft.irfftn(kslab, s=list(mesh_shape))


def _wrapped_index(lo: List[int], shape: List[int], mesh_shape: List[int], device) -> torch.Tensor:
    """Flattened index in the mesh of every cell lo + [0, shape), wrapped periodically."""
    k0, k1, k2 = (int(k) for k in mesh_shape)
    i0, i1, i2 = (
        torch.remainder(torch.arange(lo[d], lo[d] + shape[d], device=device), mesh_shape[d])
        for d in range(3)
    )
    return (i0[:, None, None] * (k1 * k2) + i1[None, :, None] * k2 + i2[None, None, :]).reshape(-1)


def mesh_to_slabs(brick: torch.Tensor, lo: List[int], mesh_shape: List[int]) -> torch.Tensor:
    """Every brick cell added at its index modulo the mesh (the wrap-sum)."""
    index = _wrapped_index(lo, list(brick.shape), mesh_shape, brick.device)
    flat = brick.new_zeros(int(mesh_shape[0]) * int(mesh_shape[1]) * int(mesh_shape[2]))
    return flat.index_add(0, index, brick.reshape(-1)).view(list(mesh_shape))


def slabs_to_mesh(
    slab: torch.Tensor, lo: List[int], brick_shape: List[int], mesh_shape: List[int]
) -> torch.Tensor:
    """Every brick cell gets the value of its wrapped mesh cell (the wrap-gather)."""
    _check("slabs_to_mesh", "the mesh", mesh_shape, slab.shape)
    index = _wrapped_index(lo, list(brick_shape), mesh_shape, slab.device)
    return slab.reshape(-1).index_select(0, index).view(list(brick_shape))
