"""One rung of the ablation ladder SR → q → qmu → qmutheta → +iq → +imu, trained and tested.

Every rung uses the same small network and budget (energies and forces only), so the
rungs differ only in their long-range heads. Used by ``examples/ablation_ladder.py`` and
``benchmarks/ablation.py``.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any, Dict, List, Optional, Sequence

from ..data.dataset import DataKeys, build_dataset
from ..train.config import parse_config
from ..train.evaluate import collect, metrics_table
from ..train.trainer import Trainer


def train_rung(
    name: str,
    train_path: pathlib.Path,
    test_frames: List,
    elements: Sequence[str],
    epochs: int,
    workdir: pathlib.Path,
    extra_data: Optional[Dict] = None,
    progress: bool = False,
    model_settings: Optional[Dict] = None,
) -> Dict[str, Any]:
    """Train rung ``name`` (a key of :data:`polmlip.model.config.LADDER`) on ``train_path``.

    Returns the rung name, test energy MAE ``E`` (meV/atom), force MAE ``F`` (meV/Å),
    training time ``minutes`` and, when the test frames carry dipoles, ``dipole`` MAE (e·Å).
    ``model_settings`` override the rung's network (e.g. ``{"backbone": "mace"}``); the
    trained model (best weights, eval mode) is returned under ``model``.
    """
    cfg = parse_config(
        {
            "model": {
                "elements": list(elements),
                "ladder": name,
                "channels": 8,
                "lmax": 2,
                "cutoff": 4.5,
                "num_layers": 2,
                **(model_settings or {}),
            },
            "data": {"train": str(train_path), "val_fraction": 0.1, **(extra_data or {})},
            "training": {
                "output": str(workdir / name.replace("+", "plus")),
                "epochs": epochs,
                "batch_size": 2,
                "lr": 0.005,
                "ema_decay": 0.95,
                "seed": 0,
                "forces_weight": 10.0,
            },
        }
    )
    t0 = time.perf_counter()
    trainer = Trainer(cfg, progress=progress)
    trainer.train()
    model = trainer.best_model().eval()
    seconds = time.perf_counter() - t0
    # the test frames' labels are read as the training data's are (key names, Born-charge
    # layout); only energies are required
    graphs = build_dataset(
        test_frames,
        elements,
        4.5,
        DataKeys.from_dict(cfg.data.keys),
        ("energy",),
        bec_layout=cfg.data.bec_layout,
    )
    rows = {r["property"]: r for r in metrics_table(collect(model, graphs))}
    out = {
        "rung": name,
        "E": 1000 * rows["energy"]["mae"],
        "F": 1000 * rows["forces"]["mae"],
        "minutes": seconds / 60,
    }
    if "dipole" in rows:
        out["dipole"] = rows["dipole"]["mae"]
    out["model"] = model
    return out
