"""Training: exact resume, strict configs, missing data keys, CLI help."""

import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch

from polmlip.errors import InputError
from polmlip.train.config import parse_config
from polmlip.train.trainer import Trainer

from model_helpers import water_cluster


def _toy_data(path, n=6):
    frames = []
    for k in range(n):
        atoms = water_cluster(2, seed=k)
        pos = atoms.get_positions()
        # a smooth toy reference: harmonic pair energy, exact forces
        d = pos[:, None] - pos[None]
        r2 = (d * d).sum(-1)
        energy = 0.05 * float(np.triu(r2, 1).sum())
        forces = -0.1 * d.sum(1)
        atoms.info["energy"] = energy
        atoms.arrays["forces"] = forces
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")


def _config(tmp_path, out):
    return parse_config(
        {
            "model": {"elements": ["H", "O"], "channels": 4, "cutoff": 3.0, "num_layers": 1},
            "data": {"train": str(tmp_path / "data.xyz"), "val_fraction": 0.34},
            "training": {"output": str(tmp_path / out), "epochs": 4, "batch_size": 2, "seed": 3},
        }
    )


def test_resume_gives_identical_weights(tmp_path):
    _toy_data(tmp_path / "data.xyz")
    full = Trainer(_config(tmp_path, "full"), progress=False)
    full.train()
    part = Trainer(_config(tmp_path, "part"), progress=False)
    part.train(epochs=2)
    resumed = Trainer(_config(tmp_path, "part"), progress=False)
    assert resumed.resume_if_possible() and resumed.epoch == 2
    resumed.train()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    untimed = [
        [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in run.history]
        for run in (full, resumed)
    ]
    assert untimed[0] == untimed[1]


def test_config_typos_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"unknown key\(s\) \['epochz'\]"):
        parse_config(
            {"model": {"elements": ["H"]}, "data": {"train": "x.xyz"}, "training": {"epochz": 3}}
        )
    with pytest.raises(InputError, match="unknown model setting"):
        parse_config({"model": {"elements": ["H"], "chanels": 3}, "data": {"train": "x"}})
    with pytest.raises(InputError, match="unknown chemical element"):
        parse_config({"model": {"elements": ["Xx"]}, "data": {"train": "x"}})


def test_missing_keys_in_data(tmp_path):
    frames = [water_cluster(2, seed=k) for k in range(4)]
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    with pytest.raises(InputError, match="has no \\['energy'\\]"):
        Trainer(_config(tmp_path, "x"), progress=False)


def test_cli_help_explains_commands():
    out = subprocess.run(
        [sys.executable, "-m", "polmlip.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in ("train", "evaluate", "export"):
        assert word in out
    bad = subprocess.run(
        [sys.executable, "-m", "polmlip.cli.main", "train", "nope.yaml"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_nan_in_reference_data_is_refused(tmp_path):
    frames = [water_cluster(2, seed=k) for k in range(4)]
    for a in frames:
        a.info["energy"] = 1.0
        a.arrays["forces"] = np.zeros((len(a), 3))
    frames[2].arrays["forces"][1, 0] = np.nan
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    with pytest.raises(InputError, match="frame .*forces contains NaN"):
        Trainer(_config(tmp_path, "x"), progress=False)


def test_float32_training_and_dipole_targets(tmp_path):
    """float32 end to end, with a dipole target (which also fixes the charge sign)."""
    frames = []
    for k in range(6):
        a = water_cluster(2, seed=k)
        a.info["energy"] = float(k)
        a.arrays["forces"] = np.zeros((len(a), 3))
        a.info["dipole"] = np.array([0.1 * k, 0.0, 0.0])
        frames.append(a)
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    run = _config(tmp_path, "f32")
    run.training.dtype = "float32"
    run.training.dipole_weight = 1.0
    run.training.epochs = 2
    trainer = Trainer(run, progress=False)
    trainer.train()
    assert next(trainer.model.parameters()).dtype == torch.float32
    assert all(np.isfinite(h["val_loss"]) for h in trainer.history)


def test_sign_is_fixed_only_by_targets_in_the_loss():
    """Dipoles present in a file but weighted 0 give no sign information: the charges must
    still be oriented by the electronegativity convention."""
    from polmlip.data import atoms_to_graph
    from polmlip.train.orient import sign_is_determined

    g = atoms_to_graph(water_cluster(2), ["H", "O"], 3.5)
    assert not sign_is_determined([g])
    g["ref_dipole"] = torch.zeros(1, 3, dtype=torch.float64)
    assert sign_is_determined([g])  # no weights given: any target counts
    assert not sign_is_determined([g], {"dipole": 0.0, "energy": 1.0})
    assert sign_is_determined([g], {"dipole": 1.0})
    field = atoms_to_graph(water_cluster(2), ["H", "O"], 3.5, external_field=(0, 0, 0.1))
    assert sign_is_determined([field], {"dipole": 0.0})


def test_atomic_charge_targets_are_learned_and_fix_the_sign(tmp_path):
    """charges_weight fits the model's atomic charges (permanent + induced) to per-atom
    reference charges read under a configured name (the SPICE files' mbi_charges)."""
    from polmlip import keys
    from polmlip.data.graph import collate
    from polmlip.train.orient import sign_is_determined

    frames = []
    rng = np.random.default_rng(0)
    for k in range(6):
        a = water_cluster(2, seed=k)
        a.info["energy"] = 0.0
        a.arrays["forces"] = np.zeros((len(a), 3))
        q = np.where(a.numbers == 8, -0.7, 0.35) + 0.02 * rng.standard_normal(len(a))
        a.arrays["mbi_charges"] = q - q.mean()
        frames.append(a)
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    run = _config(tmp_path, "charges")
    run.data.keys = {"charges": "mbi_charges"}
    run.training.charges_weight = 10.0
    run.training.energy_weight = 0.0
    run.training.forces_weight = 0.0
    run.training.epochs = 30
    run.training.lr = 0.02
    run.training.ema_decay = 0.5
    trainer = Trainer(run, progress=False)
    assert sign_is_determined(trainer.train_set, trainer.weights)

    def charge_error():
        batch = collate(trainer.val_set)
        out = trainer.model(batch, False, False, False, False)
        return float((out[keys.CHARGES] - batch[keys.REF_CHARGES]).abs().mean().detach())

    before = charge_error()
    trainer.train()
    after = charge_error()
    assert before > 0.2 and after < 0.3 * before


def test_polarizability_targets_are_learned(tmp_path):
    """polarizability_weight fits the model's ∂P/∂E (through the induced charges and dipoles,
    a double backward) to per-frame 3×3 labels; ``polmlip evaluate``'s table reports it."""
    from polmlip import keys
    from polmlip.data.graph import collate
    from polmlip.train.evaluate import collect, metrics_table

    frames = []
    for k in range(6):
        a = water_cluster(2, seed=k)
        a.info["energy"] = 0.0
        a.arrays["forces"] = np.zeros((len(a), 3))
        a.info["polarizability"] = np.diag([0.05, 0.06, 0.055]) * 2  # e·Å²/V, two waters
        frames.append(a)
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    run = _config(tmp_path, "alpha")
    run.model.induced_charges = True
    run.model.induced_dipoles = True
    run.training.polarizability_weight = 1000.0
    run.training.energy_weight = 0.0
    run.training.forces_weight = 0.0
    run.training.epochs = 25
    run.training.lr = 0.02
    run.training.ema_decay = 0.5
    trainer = Trainer(run, progress=False)

    def alpha_error():
        batch = collate(trainer.val_set)
        out = trainer.model(batch, False, False, False, False, True)
        return float((out[keys.POLARIZABILITY] - batch[keys.REF_POLARIZABILITY]).abs().mean())

    before = alpha_error()
    trainer.train()
    after = alpha_error()
    assert after < 0.5 * before, (before, after)  # only the α term drives training here
    rows = metrics_table(collect(trainer.model, trainer.val_set))
    assert "polarizability" in {r["property"] for r in rows}


def test_reference_energies_fitted_or_given(tmp_path):
    """Fitted E0s are the data's per-element energies (the frames here are built from known
    ones, -13.6 and -432.1 eV, plus under 0.1 eV per frame): the untrained network's own
    offset is not fitted into them. Given E0s are used as they are; both reach the exported
    file's metadata."""
    from polmlip.export.io import export_model, load_exported

    frames = []
    for k in range(8):
        atoms = water_cluster(1 + k % 3, seed=k)
        if k % 2:  # an OH radical among the waters: two compositions fix both E0s
            del atoms[int(np.flatnonzero(atoms.numbers == 1)[0])]
        n_h = int((atoms.numbers == 1).sum())
        atoms.info["energy"] = -13.6 * n_h - 432.1 * (len(atoms) - n_h) + 0.01 * k
        atoms.arrays["forces"] = np.zeros((len(atoms), 3))
        frames.append(atoms)
    ase.io.write(tmp_path / "data.xyz", frames, format="extxyz")
    run = _config(tmp_path, "e0")
    trainer = Trainer(run, progress=False)
    shifts = trainer.model.energy_sum.energy_shift.tolist()
    assert np.allclose(shifts, [-13.6, -432.1], atol=0.03), shifts
    meta = export_model(trainer.model, tmp_path / "m.pt")
    fitted = meta["reference_energies"]
    assert set(fitted) == {"H", "O"}
    _, loaded = load_exported(tmp_path / "m.pt")
    assert loaded["reference_energies"] == fitted

    run = _config(tmp_path, "e0_given")
    run.model.reference_energies = {"H": -13.6, "O": -432.1}
    given = Trainer(run, progress=False)
    assert given.model.energy_sum.energy_shift.tolist() == [-13.6, -432.1]
    with pytest.raises(InputError, match="reference_energies"):
        parse_config(
            {
                "model": {"elements": ["H", "O"], "reference_energies": {"H": -13.6}},
                "data": {"train": str(tmp_path / "data.xyz")},
            }
        )
