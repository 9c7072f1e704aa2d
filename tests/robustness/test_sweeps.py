"""Property-based sweeps of the rules behind the robustness table (issue: fix the rules, not
the cases).

* Every configuration key with a range rule, at the edges of its allowed range and just
  outside: every accepted value builds a model and trains one step on periodic water (the
  long range included); every rejected value is an InputError naming the key.
* Every keyword of the ASE calculator misspelt three ways (a letter dropped, two swapped, one
  doubled): an InputError that suggests the right keyword, in the constructor and in
  ``calc.set``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.calculators.emt import EMT

from polmlip.errors import InputError
from polmlip.model.config import _RULES as MODEL_RULES
from polmlip.model.config import FIRST_INTERACTIONS as FIRST
from polmlip.train.config import _DATA_RULES, _TRAINING_RULES, parse_config
from polmlip.train.trainer import Trainer

from .workspace import CONFIG
from model_helpers import water_cluster

#: keys not swept, and why
SKIPPED = {
    "device": "CUDA is not on this machine (its rule is tested in the robustness table)",
}
#: a small step inside or outside an open end of a float range
STEP = 1e-3
#: settings a value needs to be valid with the others (cross-field rules, each a clear
#: InputError otherwise): lmax 0 has no vector features for dipole heads; the correlation
#: order is a setting of the MACE backbone
COMPANIONS = {
    ("model", "lmax", 0): {"model": {"dipoles": False, "induced_dipoles": False}},
    **{("model", "correlation", v): {"model": {"backbone": "mace"}} for v in (1, 3)},
    **{("model", "first_interaction", v): {"model": {"backbone": "mace"}} for v in FIRST},
    ("model", "max_ell", 3): {"model": {"backbone": "mace"}},
    ("model", "max_ell", 0): {
        "model": {"backbone": "mace", "lmax": 0, "dipoles": False, "induced_dipoles": False}
    },
}
#: accepted values whose use depends on the data: a clear InputError on this small data set
#: (a validation share near 1 leaves no training frame)
DATA_DEPENDENT = {("data", "val_fraction"): "not enough frames to hold out a validation set"}


def _edges(text: str, is_int: bool):
    """(accepted, rejected) values at the edges of a rule from its text."""
    m = re.fullmatch(r"≥ (-?[\d.e+-]+)", text)
    if m:
        low = float(m.group(1))
        return [int(low) if is_int else low], [int(low) - 1 if is_int else low - STEP]
    if text == "> 0":
        return [1 if is_int else STEP], [0, -1 if is_int else -STEP]
    m = re.fullmatch(r"in ([\[(])(-?[\d.e+-]+), (-?[\d.e+-]+)([\])])", text)
    if m:
        lo, hi = float(m.group(2)), float(m.group(3))
        lo_in, hi_in = m.group(1) == "[", m.group(4) == "]"
        step = 1 if is_int else STEP * (hi - lo)
        accepted = [lo if lo_in else lo + step, hi if hi_in else hi - step]
        rejected = [lo - step if lo_in else lo, hi + step if hi_in else hi]
        if is_int:
            accepted, rejected = [int(v) for v in accepted], [int(v) for v in rejected]
        return accepted, rejected
    m = re.fullmatch(r"one of \[(.*)\]", text)
    if m:
        choices = [eval(v) for v in m.group(1).split(", ")]  # noqa: S307 (our own rule text)
        return choices, ["not-a-choice" if isinstance(choices[0], str) else -99]
    raise AssertionError(f"no sweep for rule text {text!r}")


def _cases():
    from polmlip.model.config import ModelConfig
    from polmlip.train.config import DataConfig, TrainingConfig

    out = []
    for section, cls, rules in (
        ("model", ModelConfig, MODEL_RULES),
        ("data", DataConfig, _DATA_RULES),
        ("training", TrainingConfig, _TRAINING_RULES),
    ):
        hints = {f.name: f.type for f in __import__("dataclasses").fields(cls)}
        for key, (_, text) in rules.items():
            if key in SKIPPED:
                continue
            is_int = "int" in str(hints[key]) and "float" not in str(hints[key])
            accepted, rejected = _edges(text, is_int)
            out += [(section, key, v, True) for v in accepted]
            out += [(section, key, v, False) for v in rejected]
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    import ase.io

    frames = []
    for k in range(4):
        atoms = water_cluster(4, seed=k, box=8.0)
        atoms.calc = EMT()
        atoms.info["energy"] = atoms.get_potential_energy()
        atoms.arrays["forces"] = atoms.get_forces()
        atoms.calc = None
        frames.append(atoms)
    path = tmp_path_factory.mktemp("sweep") / "train.xyz"
    ase.io.write(path, frames)
    return path


def _config(data_file, tmp_path, section, key, value):
    """The robustness workspace's configuration on periodic water (so the long range runs),
    with ``section.key = value``."""
    cfg = {k: dict(v) for k, v in CONFIG.items()}
    cfg["model"].update(kspace_method="pme", kspace_accuracy=1e-4)
    cfg["data"] = {"train": str(data_file), "val_fraction": 0.25}
    cfg["training"].update(output=str(tmp_path / "run"), batch_size=3)
    cfg[section][key] = value
    for part, settings in COMPANIONS.get((section, key, value), {}).items():
        cfg[part].update(settings)
    if (section, key) == ("training", "max_frames"):
        cfg["data"]["validation"] = str(data_file)  # one training frame, validated apart
    return cfg


def test_the_sweep_covers_every_rule():
    swept = {(s, k) for s, k, _, _ in CASES}
    rules = (
        [("model", k) for k in MODEL_RULES]
        + [("data", k) for k in _DATA_RULES]
        + [("training", k) for k in _TRAINING_RULES]
    )
    assert {r for r in rules if r[1] not in SKIPPED} <= swept
    print(f"{len(CASES)} sweep values over {len(swept)} keys")


@pytest.mark.parametrize(
    "section,key,value,accepted",
    CASES,
    ids=[f"{s}.{k}={v!r}-{'ok' if a else 'refused'}" for s, k, v, a in CASES],
)
def test_config_edges(section, key, value, accepted, data_file, tmp_path):
    cfg = _config(data_file, tmp_path, section, key, value)
    if not accepted:
        with pytest.raises(InputError, match=rf"{section}\.{key}|{key}"):
            run = parse_config(cfg)
            run.validate()
            Trainer(run, progress=False)
        return
    run = parse_config(cfg)
    if (section, key) in DATA_DEPENDENT and value > 0.5:
        with pytest.raises(InputError, match=DATA_DEPENDENT[(section, key)]):
            Trainer(run, progress=False)
        return
    trainer = Trainer(run, progress=False)
    trainer.train(epochs=1)
    loss = trainer.history[-1]
    assert all(np.isfinite(v) for v in loss.values() if isinstance(v, float)), loss
    trainer.close()


CALCULATOR_KEYWORDS = ("device", "ewald_split", "external_field", "field_limit", "total_charge")


def _misspellings(word: str):
    mid = len(word) // 2
    return (
        {
            word[:mid] + word[mid + 1 :],  # a letter dropped
            word[: mid - 1] + word[mid] + word[mid - 1] + word[mid + 1 :],  # two swapped
            word[:mid] + word[mid] + word[mid:],  # one doubled
        }
        - {word}
    )


MISSPELT = [(k, bad) for k in CALCULATOR_KEYWORDS for bad in sorted(_misspellings(k))]


@pytest.mark.parametrize("keyword,bad", MISSPELT, ids=[b for _, b in MISSPELT])
def test_misspelt_calculator_keyword(keyword, bad, workspace):
    from polmlip.ase import PolMLIPCalculator

    model = str(workspace / "run" / "model.pt")
    with pytest.raises(InputError, match=rf"'{keyword}' instead of '{bad}'"):
        PolMLIPCalculator(model, **{bad: 0.0})
    if keyword in ("external_field", "field_limit", "total_charge"):
        with pytest.raises(InputError, match=rf"'{keyword}' instead of '{bad}'"):
            PolMLIPCalculator(model).set(**{bad: 0.0})
