"""The files a new user has when things go wrong: data, a config, a checkpoint and a model.

:func:`make_workspace` builds them once (EMT labels on small water clusters, a one-epoch tiny
model); every robustness case then runs in a fresh copy, so a case that changes a file it
must not touch is caught by comparing :func:`snapshot` before and after.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import sys

import ase.io
import yaml
from ase import Atoms
from ase.calculators.emt import EMT

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "model"))

from model_helpers import water_cluster  # noqa: E402

CONFIG = {
    "model": {
        "elements": ["H", "O"],
        "cutoff": 3.5,
        "channels": 4,
        "lmax": 1,
        "num_layers": 1,
        "kspace_method": "ewald",
    },
    "data": {"train": "train.xyz", "val_fraction": 0.25},
    "training": {"output": "run", "epochs": 1, "batch_size": 4, "seed": 0},
}


def labelled_clusters(n: int = 8) -> list:
    frames = []
    for k in range(n):
        atoms = water_cluster(2 + k % 2, seed=k)
        atoms.calc = EMT()
        atoms.info["energy"] = atoms.get_potential_energy()
        atoms.arrays["forces"] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    return frames


def make_workspace(root: pathlib.Path) -> pathlib.Path:
    """Write train.xyz, nacl.xyz, cfg.yaml, run/{checkpoint.pt,model.pt}, tf.pt, water.pdb."""
    from polmlip.export.io import export_model
    from polmlip.export.torchforce import export_torchforce
    from polmlip.train.config import load_config
    from polmlip.train.trainer import Trainer

    root.mkdir(parents=True, exist_ok=True)
    ase.io.write(root / "train.xyz", labelled_clusters(), format="extxyz")
    nacl = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]])
    nacl.info["energy"] = -1.0
    ase.io.write(root / "nacl.xyz", nacl, format="extxyz")
    (root / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    run = load_config(root / "cfg.yaml")
    run.training.output = str(root / "run")  # the CLI rows resolve "run" in their copy
    trainer = Trainer(run, progress=False)
    trainer.train()
    export_model(trainer.best_model().eval(), root / "run" / "model.pt")
    box = water_cluster(4, seed=3, box=8.0)
    ase.io.write(root / "water.pdb", box)
    export_torchforce(root / "run" / "model.pt", box.get_chemical_symbols(), root / "tf.pt", True)
    (root / "notes.txt").write_text("a file the user owns\n")
    return root


def copy_workspace(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


def snapshot(root: pathlib.Path, ignore=()) -> dict:
    """{relative path: sha256} of every file under ``root`` (minus ``ignore`` names)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in ignore:
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
