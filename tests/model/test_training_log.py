"""The live training log: metrics.csv and history.json after every epoch, complete after a
kill -9, with per-property errors in their units."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest
import yaml

from polmlip.train.config import parse_config
from polmlip.train.metrics import LEADING_COLUMNS
from polmlip.train.trainer import Trainer

from model_helpers import water_cluster


def _data(path, n=8):
    frames = []
    rng = np.random.default_rng(0)
    for k in range(n):
        atoms = water_cluster(2, seed=k)
        atoms.info["energy"] = float(rng.normal())
        atoms.arrays["forces"] = 0.1 * rng.standard_normal((len(atoms), 3))
        atoms.info["dipole"] = 0.1 * rng.standard_normal(3)
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")


def _settings(tmp_path, epochs):
    return {
        "model": {"elements": ["H", "O"], "channels": 4, "cutoff": 3.0, "num_layers": 1},
        "data": {"train": str(tmp_path / "data.xyz"), "val_fraction": 0.25},
        "training": {
            "output": str(tmp_path / "run"),
            "epochs": epochs,
            "batch_size": 2,
            "seed": 1,
            "dipole_weight": 1.0,
        },
    }


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_metrics_csv_has_every_epoch_and_property(tmp_path):
    _data(tmp_path / "data.xyz")
    trainer = Trainer(parse_config(_settings(tmp_path, 3)), progress=False)
    trainer.train()
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for split in ("train", "val"):
        for name in ("energy", "forces", "dipole"):
            for stat in ("mae", "rmse"):
                assert f"{split}_{name}_{stat}" in rows[0], sorted(rows[0])
    assert list(rows[0])[: len(LEADING_COLUMNS)] == list(LEADING_COLUMNS)
    for row, hist in zip(rows, trainer.history):
        assert float(row["val_loss"]) == np.float64(f"{hist['val_loss']:.8g}")
        assert float(row["epoch_time_s"]) > 0
        assert float(row["val_forces_rmse"]) >= float(row["val_forces_mae"]) > 0
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 3 and history[-1]["val_energy_mae"] > 0


def test_metrics_csv_survives_kill_9(tmp_path):
    """A run killed with SIGKILL leaves metrics.csv and history.json complete up to its last
    finished epoch (both are replaced atomically after every epoch)."""
    _data(tmp_path / "data.xyz", n=16)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_settings(tmp_path, 500)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "polmlip", "train", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    path = tmp_path / "run" / "metrics.csv"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if path.is_file() and len(_rows(path)) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the training ended before it could be killed"
        time.sleep(0.13)  # somewhere inside an epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = _rows(path)
    assert len(rows) >= 3
    epochs = [int(r["epoch"]) for r in rows]
    assert epochs == list(range(1, len(rows) + 1))
    for row in rows:
        assert all(row[c] != "" for c in row), row
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) in (len(rows), len(rows) + 1)


def test_tensorboard_scalars_or_a_clear_error(tmp_path):
    """training.tensorboard writes the epoch rows as scalars when tensorboard is installed;
    without it, training is refused before any file is written."""
    import importlib.util

    from polmlip.errors import InputError

    _data(tmp_path / "data.xyz")
    settings = _settings(tmp_path, 1)
    settings["training"]["tensorboard"] = True
    run = parse_config(settings)
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(InputError, match="pip install tensorboard"):
            Trainer(run, progress=False)
        assert not (tmp_path / "run").exists()
        return
    trainer = Trainer(run, progress=False)
    trainer.train()
    trainer.close()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
