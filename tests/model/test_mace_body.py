"""Loading the body of a mace-torch model (``model.mace_body``) against mace-torch itself.

The reference, ``tests/references/mace``, is a small MACE model (4x0e + 4x1o, max_ell 3,
correlation 3, two layers, mace-torch's default plain first layer) trained by mace-torch
0.3.16 and dumped by ``polmlip/model/mace_dump.py``, with mace-torch's own node features of
each layer on three frames (two clusters and a periodic box); ``make_fixture.py`` beside it
makes both in a mace-torch environment. polmlip's edge vectors point the other way
(r_j − r_i against mace-torch's r_i − r_j), so its features of odd l are mace-torch's
times −1.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from polmlip import keys
from polmlip.data.graph import atoms_to_graph
from polmlip.errors import InputError
from polmlip.model import ModelConfig, PolMLIP
from polmlip.model.derivatives import strained_geometry
from polmlip.model.mace_body import load_mace_body, read_mace_body, with_mace_settings

from model_helpers import MACE_BODY, mace_body_model

BODY = MACE_BODY
FIXTURE = MACE_BODY.parent
ELEMENTS = ["H", "O"]
TOL = 1e-12


def _reference_frames():
    ref = np.load(FIXTURE / "reference.npz")
    frames = []
    for k in range(3):
        atoms = Atoms(
            numbers=ref[f"numbers_{k}"],
            positions=ref[f"positions_{k}"],
            cell=ref[f"cell_{k}"],
            pbc=ref[f"pbc_{k}"],
        )
        frames.append((atoms, torch.from_numpy(ref[f"node_feats_{k}"])))
    return frames


def layer_features(body, graph):
    """Each layer's node features of ``body`` (an EquivariantBody) on one graph."""
    data = strained_geometry(dict(graph), False, False)
    vectors = data[keys.EDGE_VECTORS]
    r = torch.linalg.norm(vectors, dim=-1)
    edge_sh = body.sh(vectors)
    basis = body.basis(r) * body.envelope(r)[:, None]
    species = data[keys.SPECIES]
    h = body.embedding(species)
    out = []
    with torch.no_grad():
        for layer in body.layers:
            h = layer(h, species, data[keys.EDGE_INDEX], edge_sh, basis, r, h.shape[0])
            out.append(h)
    return out


def mace_layout(features: torch.Tensor, ours: o3.Irreps, theirs: o3.Irreps) -> torch.Tensor:
    """polmlip's features of the irreps mace-torch has, in mace-torch's sign (odd l × −1)."""
    blocks = []
    for (_, ir), sl in zip(ours, ours.slices()):
        if ir in [i for _, i in theirs]:
            blocks.append(features[:, sl] * (-1.0) ** ir.l)
    return torch.cat(blocks, dim=1)


def check_features(body, frames, hyper):
    worst = 0.0
    for atoms, reference in frames:
        graph = atoms_to_graph(atoms, ELEMENTS, body.basis.cutoff)
        column = 0
        for k, (layer, feats) in enumerate(zip(body.layers, layer_features(body, graph))):
            theirs = o3.Irreps(hyper["products"][k]["irreps_out"])
            expected = reference[:, column : column + theirs.dim]
            column += theirs.dim
            got = mace_layout(feats, layer.irreps_out, theirs)
            assert got.shape == expected.shape
            err = float((got - expected).abs().max() / expected.abs().max())
            worst = max(worst, err)
        assert column == reference.shape[1]  # every layer of mace-torch's compared
    assert worst < TOL, worst
    return worst


@pytest.mark.parametrize(
    "settings",
    [
        {"lmax": 1, "quadrupoles": False},  # mace-torch's hidden irreps exactly
        {"quadrupoles": True},  # lmax 2: polmlip's extra 2e features leave them unchanged
    ],
)
def test_loaded_body_gives_mace_torchs_features(settings):
    """Every layer's node features equal mace-torch's to 1e-12 (float64), on open clusters
    and a periodic box."""
    model = mace_body_model(ELEMENTS, **settings)
    check_features(model.body, _reference_frames(), read_mace_body(BODY).hyper)


def test_training_starts_from_the_body_and_the_model_runs(tmp_path):
    """polmlip train with model.mace_body (a path relative to the config): the trainer's
    model has mace-torch's features before the first step; after an epoch it exports and
    runs in ASE."""
    import ase.io
    import yaml

    from polmlip.ase import PolMLIPCalculator
    from polmlip.export.io import export_model
    from polmlip.train.config import load_config
    from polmlip.train.trainer import Trainer

    frames = []
    for atoms, _ in _reference_frames()[:2]:
        for k in range(3):
            a = atoms.copy()
            a.positions += np.random.default_rng(k).normal(scale=0.03, size=a.positions.shape)
            a.info["energy"] = -5.0 * len(a) + 0.1 * k
            a.arrays["forces"] = np.zeros((len(a), 3))
            frames.append(a)
    ase.io.write(tmp_path / "train.xyz", frames, format="extxyz")
    (tmp_path / "body.npz").write_bytes(BODY.read_bytes())
    config = {
        "model": {"elements": ELEMENTS, "mace_body": "body.npz", "ladder": "+imu"},
        "data": {"train": "train.xyz", "val_fraction": 0.34},
        "training": {"output": str(tmp_path / "run"), "epochs": 1, "batch_size": 2},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    run = load_config(tmp_path / "run.yaml")
    assert run.model.channels == 4 and run.model.max_ell == 3
    assert run.model.first_interaction == "plain" and run.model.envelope_exponent == 5
    trainer = Trainer(run, progress=False)
    assert trainer.dtype == torch.float64
    check_features(trainer.model.body, _reference_frames(), read_mace_body(BODY).hyper)
    trainer.train()
    meta = export_model(trainer.best_model(), tmp_path / "m.pt")
    assert meta["config"]["mace_body"] == "body.npz"  # no path of this machine in the file
    atoms = frames[0].copy()
    atoms.calc = PolMLIPCalculator(str(tmp_path / "m.pt"))
    forces = atoms.get_forces()
    assert np.isfinite(forces).all() and np.abs(forces.sum(0)).max() < 1e-8


def _write_body(path, hyper_change=None, drop=None):
    with np.load(BODY) as archive:
        arrays = {k: archive[k] for k in archive.files}
    hyper = json.loads(str(arrays["hyper"]))
    hyper.update(hyper_change or {})
    arrays["hyper"] = np.array(json.dumps(hyper))
    if drop:
        arrays.pop(drop)
    np.savez(path, **arrays)
    return path


def test_bad_bodies_and_settings_are_refused_with_the_reason(tmp_path):
    here = pathlib.Path(".")

    def refused(section, match):
        with pytest.raises(InputError, match=match):
            with_mace_settings({"elements": ELEMENTS, **section}, here)

    refused({"mace_body": str(tmp_path / "none.npz")}, "does not exist")
    (tmp_path / "text.npz").write_text("not an archive")
    refused({"mace_body": str(tmp_path / "text.npz")}, "not a MACE body file")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    refused({"mace_body": str(tmp_path / "other.npz")}, "not a MACE body file")
    old = _write_body(tmp_path / "v0.npz", {"version": 0})
    refused({"mace_body": str(old)}, "format version 0")
    refused({"mace_body": str(BODY), "channels": 8}, r"model.channels is 8 .* has 4")
    refused({"mace_body": str(BODY), "backbone": "nequip"}, "model.backbone")
    refused({"mace_body": str(BODY), "lmax": 0, "dipoles": False}, "below the MACE body")
    with pytest.raises(InputError, match=r"element C is not one of .*\['H', 'O'\]"):
        with_mace_settings({"elements": ["C", "H"], "mace_body": str(BODY)}, here)
    # a settings block that fits, then a body with an array missing: named at load
    section = with_mace_settings({"elements": ELEMENTS, "mace_body": str(BODY)}, here)
    model = PolMLIP(ModelConfig.from_dict(section))
    partial = _write_body(tmp_path / "partial.npz", drop="products.1.linear.weight")
    with pytest.raises(InputError, match="products.1.linear.weight"):
        load_mace_body(model, read_mace_body(partial))
    other = ModelConfig.from_dict({"elements": ELEMENTS, "backbone": "mace", "channels": 4})
    with pytest.raises(InputError, match="differ from the MACE body"):
        load_mace_body(PolMLIP(other), read_mace_body(BODY))


def test_import_mace_names_a_python_without_mace_torch(tmp_path):
    """polmlip import-mace runs the dump in the other environment; this one has no
    mace-torch, which the error says (the conversion itself is tested above)."""
    model = tmp_path / "my.model"
    model.write_bytes(b"\0")
    cmd = [sys.executable, "-m", "polmlip", "import-mace", str(model), str(tmp_path / "b.npz")]
    done = subprocess.run(cmd + ["--mace-python", sys.executable], capture_output=True, text=True)
    assert done.returncode == 2
    assert "has no mace-torch" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(cmd[:4] + ["missing.model", "b.npz", "--mace-python", sys.executable],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "does not exist" in done.stderr
