"""Engine tests reuse the model-test helpers."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "model"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def trained_water_model(tmp_path_factory):
    """A small float64 Ewald model trained for 15 epochs on 40 GFN2-xTB water clusters
    (2–4 molecules, half under fields up to 0.004 au): enough for stable water dynamics in
    the field-MD tests (about a minute on 2 cores). Skips without tblite."""
    return _trained_water(tmp_path_factory, "trained")


@pytest.fixture(scope="session")
def trained_water_mace_model(tmp_path_factory):
    """:func:`trained_water_model` on the MACE backbone (correlation 3)."""
    return _trained_water(tmp_path_factory, "trained_mace", backbone="mace")


def _trained_water(tmp_path_factory, name, **model_settings):
    pytest.importorskip("tblite", reason="tblite (GFN2-xTB) is not installed")
    from polmlip.export.io import export_model
    from polmlip.qmdata.datagen import generate, write_extxyz_atomic
    from polmlip.train.config import parse_config
    from polmlip.train.trainer import Trainer

    out = tmp_path_factory.mktemp(name)
    frames = generate(
        "water-clusters", 40, molecules=(2, 4), field_au=(0.0, 0.004), field_fraction=0.5, seed=0
    )
    write_extxyz_atomic(frames, out / "train.xyz")
    model = {
        "elements": ["H", "O"],
        "channels": 6,
        "lmax": 1,
        "cutoff": 3.5,
        "num_layers": 2,
        "quadrupoles": False,
        "kspace_method": "ewald",
        "kspace_accuracy": 1e-9,
        **model_settings,
    }
    training = {"output": str(out / "run"), "epochs": 15, "batch_size": 4, "lr": 0.01}
    training.update(ema_decay=0.9, seed=0, dtype="float64")
    cfg = parse_config(
        {
            "model": model,
            "data": {"train": str(out / "train.xyz"), "val_fraction": 0.1},
            "training": training,
        }
    )
    trainer = Trainer(cfg, progress=False)
    trainer.train()
    export_model(trainer.best_model().eval(), out / "model.pt")
    return str(out / "model.pt")
