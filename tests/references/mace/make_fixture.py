"""Make the MACE-body fixture: a small mace-torch model trained here, its body dumped, and
mace-torch's own per-layer node features on test frames, the reference that
``tests/model/test_mace_body.py`` loads the body against.

Runs in an environment with mace-torch (not polmlip's: mace-torch pins e3nn 0.4.4)::

    python -m venv mace-env && mace-env/bin/pip install torch==2.13.0 mace-torch==0.3.16
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 mace-env/bin/python tests/references/mace/make_fixture.py

The training data are made here: small water clusters and a periodic water box with a
random geometry, labelled by ASE's EMT (only so that the weights move away from their
initial values; the labels are not physical). Writes ``body.npz`` (the dump, through
``polmlip/model/mace_dump.py`` as a user would run it) and ``reference.npz`` (frames and
mace-torch's node features of each layer, float64) beside this file.
"""

import json
import pathlib
import runpy
import subprocess
import sys
import tempfile

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.io import write

HERE = pathlib.Path(__file__).resolve().parent
DUMP = HERE.parents[2] / "python" / "polmlip" / "model" / "mace_dump.py"
SETTINGS = {
    "hidden_irreps": "4x0e + 4x1o",
    "max_ell": 3,
    "correlation": 3,
    "num_interactions": 2,
    "r_max": 4.5,
    "num_radial_basis": 8,
    "num_cutoff_basis": 5,
    "radial_MLP": "[16, 16, 16]",
}


def water_frame(n_waters: int, rng, box=None) -> Atoms:
    """n_waters molecules at random orientations, no two oxygens closer than 2.6 Å."""
    atoms = Atoms()
    centres = []
    size = box if box is not None else 2.2 * n_waters ** (1 / 3) + 2.0
    while len(centres) < n_waters:
        c = rng.uniform(0, size, 3)
        if all(np.linalg.norm(c - o) > 2.6 for o in centres):
            centres.append(c)
            w = molecule("H2O")
            w.rotate(rng.uniform(0, 360), rng.normal(size=3))
            w.translate(c - w.positions[0])
            w.positions += rng.normal(scale=0.05, size=w.positions.shape)
            atoms += w
    if box is not None:
        atoms.cell = [box, box, box]
        atoms.pbc = True
    return atoms


def labelled(frames):
    for atoms in frames:
        atoms.calc = EMT()
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.calc = None
    return frames


def main() -> int:
    rng = np.random.default_rng(7)
    train = labelled([water_frame(int(rng.integers(2, 6)), rng) for _ in range(24)])
    test = [water_frame(3, rng), water_frame(5, rng), water_frame(8, rng, box=6.5)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        write(tmp / "train.xyz", train, format="extxyz")
        cmd = [
            sys.executable, "-m", "mace.cli.run_train", "--name", "fixture",
            "--train_file", str(tmp / "train.xyz"), "--valid_fraction", "0.2",
            "--E0s", "average", "--model", "MACE", "--batch_size", "4",
            "--max_num_epochs", "8", "--lr", "0.01", "--device", "cpu",
            "--default_dtype", "float64", "--seed", "3", "--energy_key", "REF_energy",
            "--forces_key", "REF_forces", "--work_dir", str(tmp), "--save_cpu",
        ] + [f"--{k}={v}" for k, v in SETTINGS.items()]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=tmp)
        model_path = tmp / "fixture.model"  # not fixture_compiled.model (TorchScript)
        dump = runpy.run_path(str(DUMP))
        if dump["main"]([str(model_path), str(HERE / "body.npz")]) != 0:
            return 1
        from mace.calculators import MACECalculator

        calc = MACECalculator(model_paths=str(model_path), device="cpu", default_dtype="float64")
        features = [calc.get_descriptors(a, invariants_only=False) for a in test]
    arrays = {"settings": np.array(json.dumps(SETTINGS))}
    for k, (atoms, feats) in enumerate(zip(test, features)):
        arrays[f"numbers_{k}"] = atoms.numbers
        arrays[f"positions_{k}"] = atoms.positions
        arrays[f"cell_{k}"] = np.array(atoms.cell)
        arrays[f"pbc_{k}"] = atoms.pbc
        arrays[f"node_feats_{k}"] = np.asarray(feats, dtype=np.float64)
    np.savez_compressed(HERE / "reference.npz", **arrays)
    print(f"wrote {HERE / 'body.npz'} and {HERE / 'reference.npz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
