"""Error metrics of a model on data, with parity plots."""

from __future__ import annotations

import pathlib
from typing import Dict, List

import numpy as np
import torch

from ..data.graph import collate
from ..data.targets import TARGETS, derivatives_wanted
from ..data.targets import pairs as target_pairs
from . import plots

#: the unit of each target's errors
UNITS = {name: target.unit for name, target in TARGETS.items()}


def collect(
    model, graphs: List[Dict[str, torch.Tensor]], batch_size: int = 8
) -> Dict[str, Dict[str, np.ndarray]]:
    """Reference and predicted arrays of every property the data has."""
    pairs: Dict[str, Dict[str, list]] = {}
    for s in range(0, len(graphs), batch_size):
        batch = collate(graphs[s : s + batch_size])
        w = derivatives_wanted(batch)
        out = model(batch, w["forces"], w["stress"], w["bec"], False, w["polarizability"])
        for prop, target in TARGETS.items():
            pair = target_pairs(batch, out, target)
            if pair is None:
                continue
            ref, pred = pair[0], pair[1].detach()
            d = pairs.setdefault(prop, {"ref": [], "pred": []})
            d["ref"].append(ref.numpy().reshape(-1))
            d["pred"].append(pred.numpy().reshape(-1))
    return {p: {k: np.concatenate(v) for k, v in d.items()} for p, d in pairs.items()}


def metrics_table(pairs: Dict[str, Dict[str, np.ndarray]]) -> List[Dict[str, object]]:
    rows = []
    for prop, d in pairs.items():
        err = d["pred"] - d["ref"]
        rows.append(
            {
                "property": prop,
                "unit": UNITS[prop],
                "count": int(err.size),
                "mae": float(np.abs(err).mean()),
                "rmse": float(np.sqrt((err**2).mean())),
            }
        )
    return rows


def format_table(rows: List[Dict[str, object]]) -> str:
    lines = [f"{'property':<14}{'unit':<10}{'count':>8}{'MAE':>12}{'RMSE':>12}"]
    for r in rows:
        lines.append(
            f"{r['property']:<14}{r['unit']:<10}{r['count']:>8}{r['mae']:>12.4g}{r['rmse']:>12.4g}"
        )
    return "\n".join(lines)


def parity_plots(
    pairs: Dict[str, Dict[str, np.ndarray]], outdir: pathlib.Path, prefix: str = "parity"
) -> List[pathlib.Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for prop, d in pairs.items():
        path = outdir / f"{prefix}_{prop}.png"
        plots.parity(d["ref"], d["pred"], prop, UNITS[prop], path)
        paths.append(path)
    return paths
