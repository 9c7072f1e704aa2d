"""Data-parallel training: 2 gloo processes (torchrun) follow 1 process's history, and a
checkpoint resumes exactly at another process count."""

import json
import os
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import yaml

from model_helpers import water_cluster

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo")


def _data(path):
    """Clusters of 1-3 waters (uneven shares of every batch), dipoles on some frames only
    (their per-property mean must count the frames of all processes), Born charges."""
    frames = []
    rng = np.random.default_rng(0)
    for k in range(11):
        atoms = water_cluster(1 + k % 3, seed=k)
        pos = atoms.get_positions()
        d = pos[:, None] - pos[None]
        atoms.info["energy"] = 0.05 * float(np.triu((d * d).sum(-1), 1).sum())
        atoms.arrays["forces"] = -0.1 * d.sum(1)
        if k % 2:
            atoms.info["dipole"] = 0.1 * rng.standard_normal(3)
        atoms.arrays["bec"] = (
            np.tile(np.eye(3).reshape(1, 9), (len(atoms), 1))
            * np.where(atoms.numbers == 1, 0.4, -0.8)[:, None]
        )
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")


def _config(tmp_path):
    cfg = {
        "model": {"elements": ["H", "O"], "channels": 4, "cutoff": 3.0, "num_layers": 1},
        "data": {"train": str(tmp_path / "data.xyz"), "val_fraction": 0.3},
        "training": {
            "epochs": 3,
            "batch_size": 3,
            "seed": 5,
            "dtype": "float64",
            "dipole_weight": 1.0,
            "bec_weight": 1.0,
            "bec_loss": "projected",
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(config, out, processes, epochs):
    cmd = [sys.executable, "-m", "polmlip", "train", str(config), "--output", str(out)]
    cmd += ["--epochs", str(epochs), "--quiet"]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += ["--nproc-per-node", str(processes), "-m", "polmlip", "train", str(config)]
        cmd += ["--output", str(out), "--epochs", str(epochs), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if sys.platform.startswith("linux"):
        # one host: gloo over the loopback, whatever the host name resolves to
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((out / "history.json").read_text())


def _same(a, b, rel=1e-10):
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        for key, value in row_a.items():
            if key == "epoch_time_s":
                continue
            assert row_b[key] == pytest.approx(value, rel=rel, abs=1e-300), (key, row_a, row_b)


def test_two_processes_follow_one_and_resume_across_counts(tmp_path):
    _data(tmp_path / "data.xyz")
    config = _config(tmp_path)
    one = _train(config, tmp_path / "one", 1, 3)
    two = _train(config, tmp_path / "two", 2, 3)
    assert {"train_dipole_mae", "train_bec_mae", "val_bec_mae", "val_forces_rmse"} <= set(one[0])
    _same(one, two)
    assert (tmp_path / "two" / "model.pt").is_file()
    # 2 epochs on 2 processes, the third on 1; and the other way round
    _train(config, tmp_path / "2then1", 2, 2)
    _same(one, _train(config, tmp_path / "2then1", 1, 3))
    _train(config, tmp_path / "1then2", 1, 2)
    _same(one, _train(config, tmp_path / "1then2", 2, 3))


@pytest.mark.parametrize(
    "env, message",
    [({"WORLD_SIZE": "2"}, "MASTER_ADDR and MASTER_PORT"), ({"WORLD_SIZE": "two"}, "WORLD_SIZE")],
)
def test_incomplete_launch_environment_is_refused(monkeypatch, env, message):
    """A process group the environment only half describes is an error, not a hang."""
    from polmlip.errors import InputError
    from polmlip.train.parallel import init_from_environment

    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=message):
        init_from_environment()
