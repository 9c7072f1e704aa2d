"""A label that some frames of a batch lack is masked per frame (data/targets.py), never
dropped for the whole batch: the residuals are those of the frames that have it."""

import numpy as np
import torch

from polmlip import keys
from polmlip.data.dataset import DataKeys, build_dataset
from polmlip.data.graph import collate
from polmlip.data.targets import TARGETS, pairs
from polmlip.train.loss import residuals, weighted_loss

from model_helpers import water_cluster


def _frames():
    out = []
    for k, n in enumerate((2, 3, 2)):
        atoms = water_cluster(n, seed=k)
        atoms.info["energy"] = -1.0 - k
        if k != 1:  # the middle frame has no forces and no dipole
            atoms.arrays["forces"] = np.full((len(atoms), 3), 0.1 * (k + 1))
            atoms.info["dipole"] = np.array([0.0, 0.0, 0.5 * (k + 1)])
        out.append(atoms)
    return out


def test_partial_labels_are_masked_per_frame():
    frames = _frames()
    graphs = build_dataset(frames, ["H", "O"], 3.5, DataKeys())
    batch = collate(graphs)
    assert batch[keys.TARGET_MASK_PREFIX + "forces"].tolist() == [True, False, True]
    assert batch[keys.TARGET_MASK_PREFIX + "dipole"].tolist() == [True, False, True]
    assert keys.TARGET_MASK_PREFIX + "energy" not in batch  # every frame has it
    n = [len(a) for a in frames]
    out = {
        keys.ENERGY: torch.zeros(3, dtype=torch.float64),
        keys.FORCES: torch.zeros(sum(n), 3, dtype=torch.float64),
        keys.POLARIZATION: torch.zeros(3, 3, dtype=torch.float64),
    }
    res = residuals(batch, out)
    # forces: the rows of frames 0 and 2 only; dipole: their two rows
    assert res["forces"].shape == (n[0] + n[2], 3)
    expected = -np.concatenate([np.full((n[0], 3), 0.1), np.full((n[2], 3), 0.3)])
    assert np.allclose(res["forces"].numpy(), expected)
    assert res["dipole"].shape == (2, 3)
    assert res["energy"].shape == (3,)
    _, parts = weighted_loss(res, {"energy": 1.0, "forces": 1.0, "dipole": 1.0})
    assert np.isclose(parts["forces"], float((torch.tensor(expected) ** 2).mean()))
    ref, pred = pairs(batch, out, TARGETS["dipole"])
    assert ref[:, 2].tolist() == [0.5, 1.5]


def test_complete_labels_carry_no_mask():
    graphs = build_dataset([_frames()[0], _frames()[2]], ["H", "O"], 3.5, DataKeys())
    batch = collate(graphs)
    assert not any(k.startswith(keys.TARGET_MASK_PREFIX) for k in batch)


def test_every_target_is_declared_once():
    """The data keys, the loss weights and their rules, the progress bar and the reference
    keys all come from TARGETS: a target there is everywhere, and the reference constants
    of keys.py are the declared ones."""
    import dataclasses

    from polmlip import keys
    from polmlip.data.dataset import FRAME_INPUT_NAMES, DataKeys
    from polmlip.data.targets import TARGETS
    from polmlip.train.config import _TRAINING_RULES, TrainingConfig

    assert [f.name for f in dataclasses.fields(DataKeys)] == list(TARGETS) + list(FRAME_INPUT_NAMES)
    weights = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}
    for name, target in TARGETS.items():
        assert getattr(DataKeys(), name) == target.file_names
        assert weights[target.weight_setting] == target.default_weight
        assert target.weight_setting in _TRAINING_RULES
        assert target.weight_setting + ":" in TrainingConfig.__doc__
        assert getattr(keys, "REF_" + name.upper()) == target.reference
