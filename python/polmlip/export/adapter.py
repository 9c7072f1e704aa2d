"""Run an exported engine module on training-style batches (polmlip evaluate, the demo)."""

from __future__ import annotations

from typing import Dict, List

import torch

from .. import keys
from .contract import PER_FRAME


def engine_inputs(graph: Dict[str, torch.Tensor], frame: int = 0) -> Dict[str, torch.Tensor]:
    """The engine inputs (:data:`polmlip.export.contract.ENGINE_INPUTS`) of one frame of a
    graph dict (training-style batch or a single frame), without ghost atoms."""
    idx = torch.nonzero(graph[keys.BATCH] == frame).flatten()
    first = int(idx[0]) if idx.numel() else 0
    emask = graph[keys.BATCH][graph[keys.EDGE_INDEX][0]] == frame
    return {
        keys.SPECIES: graph[keys.SPECIES][idx],
        keys.POSITIONS: graph[keys.POSITIONS][idx],
        keys.EDGE_INDEX: graph[keys.EDGE_INDEX][:, emask] - first,
        keys.EDGE_SHIFT: graph[keys.EDGE_SHIFT][emask],
        keys.CELL: graph[keys.CELL][frame],
        keys.PBC: graph[keys.PBC][frame].reshape(()),
        keys.EXTERNAL_FIELD: graph[keys.EXTERNAL_FIELD][frame],
        keys.TOTAL_CHARGE: graph[keys.TOTAL_CHARGE][frame].reshape(()),
    }


def requested_outputs(
    forces: bool, stress: bool, bec: bool, polarizability: bool = False
) -> List[str]:
    """The ``requested`` list of an engine call from derivative switches."""
    names = []
    if forces:
        names.append(keys.FORCES)
    if stress:
        names += [keys.VIRIAL, keys.STRESS]
    if bec:
        names.append(keys.BEC)
    if polarizability:
        names += [keys.POLARIZABILITY, keys.ATOMIC_POLARIZABILITY]
    return names


class ExportedAsModel:
    """Calls an exported file frame by frame and stacks outputs like :class:`PolMLIP`.

    Frames are independent systems (a data set, a batch): the long-range settings, which an
    exported file keeps through a run, are chosen again for each frame."""

    def __init__(self, module) -> None:
        self.module = module

    def __call__(
        self,
        batch: Dict[str, torch.Tensor],
        forces: bool,
        stress: bool,
        bec: bool,
        create_graph: bool,
        polarizability: bool = False,
    ) -> Dict[str, torch.Tensor]:
        outs = []
        requested = requested_outputs(forces, stress, bec, polarizability)
        retune = hasattr(self.module, "retune_long_range")  # files before fixed tuning: no
        for b in range(batch[keys.CELL].shape[0]):
            if retune:
                self.module.retune_long_range()
            with torch.jit.optimized_execution(False):  # see integrations/ase.py
                outs.append(self.module(engine_inputs(batch, b), requested))
        merged: Dict[str, torch.Tensor] = {}
        for k in outs[0]:
            vals = [o[k] for o in outs if k in o]
            if len(vals) != len(outs):
                continue
            if k in PER_FRAME:
                merged[k] = torch.stack(vals)
            else:
                merged[k] = torch.cat(vals)
        return merged
