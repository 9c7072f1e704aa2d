"""Training on Born charges: the projected Z* loss, teacher calibration by dipole changes."""

import ase.io
import numpy as np
import pytest
import torch

from polmlip import keys
from polmlip.data.graph import atoms_to_graph, collate
from polmlip.errors import InputError
from polmlip.model.config import ModelConfig
from polmlip.model.polmlip import PolMLIP
from polmlip.qmdata.calibration import dipole_change_ratio, teacher_dipole_ratio
from polmlip.train.config import parse_config
from polmlip.train.loss import random_directions, residuals
from polmlip.train.trainer import Trainer

from model_helpers import water_cluster


def _batch(n=3):
    graphs = [atoms_to_graph(water_cluster(2 + k % 2, seed=k), ["H", "O"], 3.0) for k in range(n)]
    return collate(graphs)


def _model():
    cfg = dict(elements=["H", "O"], cutoff=3.0, channels=4, lmax=1, num_layers=1, ladder="+imu")
    cfg["quadrupoles"] = False
    torch.manual_seed(0)
    return PolMLIP(ModelConfig.from_dict(cfg)).double()


def test_projected_born_charges_are_the_contraction_of_the_full_ones():
    model, batch = _model(), _batch()
    full = model(batch, True, False, True, False)[keys.BEC]
    v = random_directions(3, torch.Generator().manual_seed(1), torch.float64)
    projected = model(dict(batch, **{keys.BEC_PROJECTION: v}), True, False, True, False)
    want = torch.einsum("nb,nbg->ng", v[batch[keys.BATCH]], full)
    assert keys.BEC not in projected
    assert torch.allclose(projected[keys.PROJECTED_BEC], want, atol=1e-12)


def test_projected_loss_estimates_the_full_mean_square():
    """Over the three axes scaled by √3 (E[v vᵀ] = I exactly) the projected residual's mean
    square is the full 9-component one; random directions have E[v vᵀ] = I."""
    batch = _batch()
    n = batch[keys.POSITIONS].shape[0]
    rng = torch.Generator().manual_seed(2)
    pred = torch.randn((n, 3, 3), generator=rng, dtype=torch.float64)
    batch[keys.REF_BEC] = torch.randn((n, 3, 3), generator=rng, dtype=torch.float64)
    full = (residuals(batch, {keys.BEC: pred})["bec"] ** 2).mean()
    mean = 0.0
    for axis in range(3):
        v = torch.zeros((3, 3), dtype=torch.float64)
        v[:, axis] = 3.0**0.5
        proj = torch.einsum("nb,nbg->ng", v[batch[keys.BATCH]], pred)
        out = residuals(dict(batch, **{keys.BEC_PROJECTION: v}), {keys.PROJECTED_BEC: proj})
        mean = mean + (out["bec"] ** 2).mean() / 3
    assert float(mean) == pytest.approx(float(full), rel=1e-12)
    v = random_directions(20000, torch.Generator().manual_seed(3), torch.float64)
    second = torch.einsum("bi,bj->ij", v, v) / v.shape[0]
    assert torch.allclose(second, torch.eye(3, dtype=torch.float64), atol=0.03)


def _bec_data(path, n=6):
    frames = []
    for k in range(n):
        a = water_cluster(2, seed=k)
        a.info["energy"] = 0.1 * k
        a.arrays["forces"] = np.zeros((len(a), 3))
        q = np.where(a.numbers == 8, -0.8, 0.4)
        a.arrays["teacher_bec"] = (q[:, None, None] * np.eye(3)).reshape(len(a), 9)
        frames.append(a)
    ase.io.write(path, frames, format="extxyz")


def _bec_config(tmp_path, out, **training):
    return parse_config(
        {
            "model": {"elements": ["H", "O"], "channels": 4, "cutoff": 3.0, "num_layers": 1},
            "data": {
                "train": str(tmp_path / "data.xyz"),
                "val_fraction": 0.34,
                "keys": {"bec": "teacher_bec"},
                "bec_scale": 0.9,
            },
            "training": dict(
                output=str(tmp_path / out),
                epochs=4,
                batch_size=2,
                seed=3,
                bec_weight=5.0,
                bec_loss="projected",
                **training,
            ),
        }
    )


def test_bec_scale_and_projected_training_resume_exactly(tmp_path):
    """Labels are scaled in training and validation frames; the random directions are
    seeded by epoch and step, so a resumed run is identical to an uninterrupted one."""
    _bec_data(tmp_path / "data.xyz")
    full = Trainer(_bec_config(tmp_path, "full"), progress=False)
    for g in full.train_set + full.val_set:
        z = g[keys.REF_BEC]
        q = torch.where(g[keys.SPECIES] == 1, -0.8, 0.4).to(z.dtype)
        assert torch.allclose(z, 0.9 * q[:, None, None] * torch.eye(3, dtype=z.dtype))
    full.train()
    part = Trainer(_bec_config(tmp_path, "part"), progress=False)
    part.train(epochs=2)
    resumed = Trainer(_bec_config(tmp_path, "part"), progress=False)
    assert resumed.resume_if_possible()
    resumed.train()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert all(np.isfinite(h["val_loss"]) for h in full.history)


@pytest.mark.parametrize(
    "section, key, value, match",
    [
        ("training", "bec_loss", "fast", "bec_loss"),
        ("data", "bec_scale", 0.0, "bec_scale"),
        ("data", "bec_scale", -1.0, "bec_scale"),
    ],
)
def test_bad_bec_settings_are_refused(tmp_path, section, key, value, match):
    raw = {
        "model": {"elements": ["H", "O"]},
        "data": {"train": "x.xyz"},
        "training": {},
    }
    raw[section][key] = value
    with pytest.raises(InputError, match=match):
        parse_config(raw).validate()


def test_dipole_change_ratio_recovers_a_scale_and_ignores_offsets():
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((12, 3))
    groups = np.repeat(["a", "b", "c"], 4)
    offsets = {"a": [1.0, 0, 0], "b": [0, -2.0, 0], "c": [0, 0, 0.5]}
    reference = 0.85 * teacher + np.array([offsets[g] for g in groups])
    assert dipole_change_ratio(reference, teacher, groups) == pytest.approx(0.85, rel=1e-12)
    with pytest.raises(ValueError, match="two frames"):
        dipole_change_ratio(reference[:3], teacher[:3], ["a", "b", "c"])
    frames = []
    for k in range(4):
        a = water_cluster(2, seed=k)
        a.info["dipole"] = reference[k]
        a.info["teacher_dipole"] = teacher[k]
        frames.append(a)
    found = teacher_dipole_ratio(frames, "teacher_dipole")
    assert found["ratio"] == pytest.approx(0.85, rel=1e-12) and found["molecules"] == 1
    assert teacher_dipole_ratio(frames, "missing_key") is None


def test_orientation_makes_born_charges_anticorrelate_with_electronegativity():
    """The sign convention of E/F-only models is stated on Z*: after orienting,
    Σ tr(Z*_i)/3 (χ_i − χ̄) < 0; a second call keeps it; energies and forces do not change."""
    from polmlip.train.orient import orient_multipoles

    model = _model()
    graphs = [atoms_to_graph(water_cluster(3, seed=k), ["H", "O"], 3.0) for k in range(4)]
    batch = collate(graphs)
    chi = torch.where(batch[keys.SPECIES] == 1, 3.44, 2.20).double()

    def score():
        z = model(batch, False, False, True, False)[keys.BEC].detach()
        return float((torch.diagonal(z, dim1=1, dim2=2).sum(-1) * (chi - chi.mean())).sum())

    before = model(batch, True, False, False, False)
    for sign in (1.0, -1.0):
        with torch.no_grad():
            model.heads.multipole_sign.fill_(sign)
        orient_multipoles(model, graphs, ["H", "O"])
        assert score() < 0
        assert not orient_multipoles(model, graphs, ["H", "O"])
        after = model(batch, True, False, False, False)
        assert torch.allclose(after[keys.ENERGY], before[keys.ENERGY], atol=1e-10)
        assert torch.allclose(after[keys.FORCES], before[keys.FORCES], atol=1e-10)
