"""Run an exported engine module on training-style batches (polmlip evaluate, the demo)."""

from __future__ import annotations

from typing import Dict

import torch

from .. import keys


class ExportedAsModel:
    """Calls an exported file frame by frame and stacks outputs like :class:`PolMLIP`."""

    def __init__(self, module) -> None:
        self.module = module

    def __call__(
        self,
        batch: Dict[str, torch.Tensor],
        forces: bool,
        stress: bool,
        bec: bool,
        create_graph: bool,
    ) -> Dict[str, torch.Tensor]:
        outs = []
        for b in range(batch[keys.CELL].shape[0]):
            idx = torch.nonzero(batch[keys.BATCH] == b).flatten()
            first = int(idx[0])
            emask = batch[keys.BATCH][batch[keys.EDGE_INDEX][0]] == b
            pbc = bool(batch[keys.PBC][b])
            with torch.jit.optimized_execution(False):  # see integrations/ase.py
                out = self.module(
                    batch[keys.SPECIES][idx],
                    batch[keys.POSITIONS][idx],
                    batch[keys.EDGE_INDEX][:, emask] - first,
                    batch[keys.EDGE_SHIFT][emask],
                    int(idx.numel()),
                    batch[keys.CELL][b],
                    pbc,
                    batch[keys.EXTERNAL_FIELD][b],
                    float(batch[keys.TOTAL_CHARGE][b]),
                    stress and pbc,
                    bec,
                )
            outs.append(out)
        merged: Dict[str, torch.Tensor] = {}
        for k in outs[0]:
            vals = [o[k] for o in outs if k in o]
            if len(vals) != len(outs):
                continue
            if vals[0].dim() == 0 or k in (
                keys.POLARIZATION,
                keys.VIRIAL,
                keys.STRESS,
                keys.POLARIZABILITY,
            ):
                merged[k] = torch.stack(vals)
            else:
                merged[k] = torch.cat(vals)
        return merged
