"""On-disk frame sets (``polmlip preprocess``): the same graphs, statistics and training as
the extxyz they came from, lazily, and every rule of the extxyz path where the data enters."""

import json
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch
import yaml

from polmlip.data.dataset import DataKeys, build_dataset, read_frames
from polmlip.data.preprocess import preprocess
from polmlip.data.store import MANIFEST, FrameStore, StoredGraphs
from polmlip.errors import InputError
from polmlip.train import prepare
from polmlip.train.config import load_config
from polmlip.train.orient import sign_is_determined
from polmlip.train.trainer import Trainer

from model_helpers import water_cluster

ELEMENTS = ["H", "O"]


def _frames():
    """Open and periodic clusters of 1-3 waters; dipoles on odd frames, a field on every
    third, Born charges on all, a stress on the periodic ones."""
    frames, rng = [], np.random.default_rng(0)
    for k in range(14):
        atoms = water_cluster(1 + k % 3, seed=k, box=6.0 if k % 5 == 4 else None)
        pos = atoms.get_positions()
        d = pos[:, None] - pos[None]
        atoms.info["energy"] = 0.05 * float(np.triu((d * d).sum(-1), 1).sum()) - 3.0 * len(atoms)
        atoms.arrays["forces"] = -0.1 * d.sum(1)
        if k % 2:
            atoms.info["dipole"] = 0.1 * rng.standard_normal(3)
        if k % 3 == 0:
            atoms.info["external_field"] = [0.0, 0.0, 0.05]
        if atoms.pbc.all():
            atoms.info["stress"] = 0.001 * rng.standard_normal(6)
        atoms.arrays["bec"] = (
            np.tile(np.eye(3).reshape(1, 9), (len(atoms), 1))
            * np.where(atoms.numbers == 1, 0.4, -0.8)[:, None]
        )
        frames.append(atoms)
    return frames


@pytest.fixture
def data(tmp_path):
    ase.io.write(tmp_path / "data.xyz", _frames(), format="extxyz")
    preprocess(tmp_path / "data.xyz", tmp_path / "data.frames", 3.0, progress=False)
    return tmp_path


def test_graphs_are_those_of_the_extxyz(data):
    """Every stored frame gives the graph build_dataset gives, key for key, exactly."""
    expected = build_dataset(read_frames(data / "data.xyz"), ELEMENTS, 3.0, DataKeys())
    store = FrameStore(data / "data.frames")
    lazy = StoredGraphs(store, range(store.frames), ELEMENTS, 3.0)
    assert len(lazy) == len(expected) == 14
    for got, want in zip(lazy, expected):
        assert set(got) == set(want)
        for k in want:
            assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    assert [len(g["species"]) for g in lazy[2:5]] == [len(g["species"]) for g in expected[2:5]]


@pytest.mark.parametrize("cutoff", [3.0, 2.5])
def test_statistics_are_those_of_the_graphs(data, cutoff):
    """What training derives from all frames is the same from the arrays (and, at another
    cutoff than the stored one, from the recomputed neighbour statistics)."""
    graphs = build_dataset(read_frames(data / "data.xyz"), ELEMENTS, cutoff, DataKeys())
    store = FrameStore(data / "data.frames")
    picked = [9, 1, 4, 12, 0, 7]
    lazy = StoredGraphs(store, picked, ELEMENTS, cutoff)
    mem = [graphs[i] for i in picked]
    assert prepare.force_rms(lazy) == pytest.approx(prepare.force_rms(mem), rel=1e-14)
    assert prepare.average_neighbors(lazy) == pytest.approx(prepare.average_neighbors(mem))
    assert prepare.training_field_limit(lazy) == prepare.training_field_limit(mem)
    assert prepare.closest_pairs(lazy) == pytest.approx(prepare.closest_pairs(mem), rel=1e-15)
    np.testing.assert_allclose(
        prepare.fit_energy_shifts(lazy, 2), prepare.fit_energy_shifts(mem, 2), rtol=1e-12
    )
    values = np.arange(len(picked), dtype=float)
    np.testing.assert_allclose(
        prepare.fit_energy_shifts(lazy, 2, values),
        prepare.fit_energy_shifts(mem, 2, values),
        rtol=1e-12,
    )
    for name in ("energy", "dipole", "bec", "stress", "charges"):
        assert prepare.has_target(lazy, name).tolist() == prepare.has_target(mem, name).tolist()
    for w in (None, {"dipole": 0.0}, {"dipole": 1.0}):
        assert sign_is_determined(lazy, w) == sign_is_determined(mem, w)


def _config(tmp_path, train, **training):
    cfg = {
        "model": {"elements": ELEMENTS, "channels": 4, "cutoff": 3.0, "num_layers": 1},
        "data": {"train": train, "val_fraction": 0.3, "bec_scale": 0.9},
        "training": {
            "epochs": 2,
            "batch_size": 3,
            "seed": 5,
            "dtype": "float64",
            "dipole_weight": 1.0,
            "bec_weight": 1.0,
            "stress_weight": 1.0,
            "output": str(tmp_path / f"run-{train}"),
            **training,
        },
    }
    path = tmp_path / f"{train}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(path)


def test_training_from_the_set_is_training_from_the_extxyz(data, capsys):
    """Same split, initialisation, losses and per-property errors, to 1e-12, in float64."""
    histories, summaries = [], []
    for train in ("data.xyz", "data.frames"):
        trainer = Trainer(_config(data, train), progress=True)
        summaries.append(capsys.readouterr().out)
        assert isinstance(trainer.train_set, StoredGraphs) == (train == "data.frames")
        trainer.train()
        histories.append(trainer.history)
        trainer.close()
    assert summaries[0] == summaries[1]  # the label summary
    for a, b in zip(*histories):
        for k in a:
            if k != "epoch_time_s":
                assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-300), k


def test_a_frame_set_as_validation_file_and_max_frames(data):
    cfg = _config(data, "data.xyz", max_frames=9)
    cfg.data.validation = "data.frames"
    trainer = Trainer(cfg, progress=False)
    assert len(trainer.train_set) == 9 and len(trainer.val_set) == 14
    assert isinstance(trainer.val_set, StoredGraphs)
    trainer.train(1)
    assert np.isfinite(trainer.history[-1]["val_loss"])
    trainer.close()


def _spoil(path, frame, how):
    frames = _frames()
    if how == "nan-force":
        frames[frame].arrays["forces"][1, 2] = np.nan
    elif how == "overlap":
        frames[frame].positions[1] = frames[frame].positions[0] + [0.01, 0.0, 0.0]
    elif how == "no-energy":
        frames[frame].info.pop("energy")
    elif how == "bec-shape":
        frames[frame].arrays["bec"] = frames[frame].arrays["bec"][:, :6]
    ase.io.write(path, frames, format="extxyz")


@pytest.mark.parametrize(
    "how, match",
    [
        ("nan-force", r"frame 6 \(counting from 0\): forces contains NaN"),
        ("overlap", r"frame 6 \(counting from 0\): atoms 0 and 1 overlap"),
        ("bec-shape", r"frame 6 \(counting from 0\): bec has shape"),
    ],
)
def test_a_bad_frame_stops_preprocess_and_leaves_nothing(tmp_path, how, match):
    _spoil(tmp_path / "bad.xyz", 6, how)
    with pytest.raises(InputError, match=match):
        preprocess(tmp_path / "bad.xyz", tmp_path / "bad.frames", 3.0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xyz"]


def test_truncated_file_names_its_frame(tmp_path):
    ase.io.write(tmp_path / "data.xyz", _frames(), format="extxyz")
    lines = (tmp_path / "data.xyz").read_text().splitlines()
    (tmp_path / "cut.xyz").write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(InputError, match=r"frame 13 \(counting from 0\) is truncated"):
        preprocess(tmp_path / "cut.xyz", tmp_path / "cut.frames", 3.0, progress=False)
    assert not (tmp_path / "cut.frames").exists()


def _cross_matrix(b):
    """[b]_x: the matrix with [b]_x v = b x v."""
    return np.array([[0, -b[2], b[1]], [b[2], 0, -b[0]], [-b[1], b[0], 0]])


def test_transposed_born_charges_are_refused(tmp_path):
    """Waters whose dipole is P = sum q_i r_i + sum_mol (b1 x b2) (b: the O-H bonds), so the
    exact Born charges Z*_bg = dP_b/dr_g have antisymmetric parts; stored transposed, the
    rotation sum rule finds it while streaming, as build_dataset does in memory, and the
    right layout is accepted."""
    frames = []
    for k in range(4):
        atoms = water_cluster(2, seed=k)
        r = atoms.positions
        q = np.where(atoms.numbers == 1, 0.4, -0.8)
        z = q[:, None, None] * np.eye(3)[None].repeat(len(atoms), 0)
        dipole = (q[:, None] * r).sum(0)
        for o in range(0, len(atoms), 3):
            b1, b2 = r[o + 1] - r[o], r[o + 2] - r[o]
            dipole = dipole + np.cross(b1, b2)
            z[o + 1] -= _cross_matrix(b2)
            z[o + 2] += _cross_matrix(b1)
            z[o] += _cross_matrix(b2) - _cross_matrix(b1)
        atoms.info["energy"] = -1.0
        atoms.info["dipole"] = dipole
        atoms.arrays["bec"] = z.transpose(0, 2, 1).reshape(len(atoms), 9)
        frames.append(atoms)
    ase.io.write(tmp_path / "t.xyz", frames, format="extxyz")
    with pytest.raises(InputError, match="rotation sum rule"):
        build_dataset(read_frames(tmp_path / "t.xyz"), ELEMENTS, 3.0, DataKeys())
    with pytest.raises(InputError, match="rotation sum rule"):
        preprocess(tmp_path / "t.xyz", tmp_path / "t.frames", 3.0, progress=False)
    assert not (tmp_path / "t.frames").exists()
    layout = "displacement-major"
    preprocess(tmp_path / "t.xyz", tmp_path / "t.frames", 3.0, bec_layout=layout, progress=False)
    lazy = StoredGraphs(FrameStore(tmp_path / "t.frames"), range(4), ELEMENTS, 3.0)
    want = build_dataset(
        read_frames(tmp_path / "t.xyz"), ELEMENTS, 3.0, DataKeys(), bec_layout=layout
    )
    assert all(torch.equal(a["ref_bec"], b["ref_bec"]) for a, b in zip(lazy, want))


def test_reading_settings_and_damage_are_refused(data):
    """Keys or a layout other than the set was made with; a frame without energy; an element
    the model lacks; an array that does not match the manifest; another format version."""
    store = FrameStore(data / "data.frames")
    with pytest.raises(InputError, match=r"keys\.forces: made with .* asked \['force'\]"):
        store.check_read_settings({"forces": "force"}, None, "x")
    with pytest.raises(InputError, match="bec_layout: made with 'polarization-major'"):
        store.check_read_settings({}, "displacement-major", "x")
    store.check_read_settings({}, None, "x")  # nothing given: the set's own settings
    store.check_read_settings({"forces": ["forces", "force", "REF_forces"]}, None, "x")
    with pytest.raises(InputError, match=r"element\(s\) \['O'\] are not known"):
        StoredGraphs(store, range(14), ["H"], 3.0)
    _spoil(data / "noe.xyz", 5, "no-energy")
    preprocess(data / "noe.xyz", data / "noe.frames", 3.0, progress=False)
    with pytest.raises(InputError, match=r"noe.frames', frame 5 \(counting from 0\): the frame"):
        StoredGraphs(FrameStore(data / "noe.frames"), range(14), ELEMENTS, 3.0)
    manifest = json.loads((data / "data.frames" / MANIFEST).read_text())
    np.save(data / "data.frames" / "energy.npy", np.zeros(3))
    with pytest.raises(InputError, match="the set is damaged"):
        FrameStore(data / "data.frames")
    manifest["version"] = 99
    (data / "data.frames" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="version 99"):
        FrameStore(data / "data.frames")
    manifest["version"] = 1
    for damage in ("arrays", "keys"):
        broken = {k: v for k, v in manifest.items() if k != damage}
        (data / "data.frames" / MANIFEST).write_text(json.dumps(broken))
        with pytest.raises(InputError, match=rf"is damaged \(missing or wrong: \['{damage}'\]"):
            FrameStore(data / "data.frames")
    (data / "data.frames" / MANIFEST).write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="not a frame-set manifest"):
        FrameStore(data / "data.frames")
    with pytest.raises(InputError, match="exists; give a new name"):
        preprocess(data / "data.xyz", data / "data.frames", 3.0, progress=False)


def test_cli_preprocess_and_evaluate(data):
    """``polmlip preprocess`` and ``polmlip evaluate`` on the set give the extxyz's table."""
    cfg = _config(data, "data.xyz", epochs=1)
    run = [sys.executable, "-m", "polmlip"]
    subprocess.run(
        run + ["train", str(data / "data.xyz.yaml"), "--quiet"], check=True, capture_output=True
    )
    model = cfg.training.output + "/model.pt"
    out = subprocess.run(
        run + ["preprocess", str(data / "data.xyz"), "-o", str(data / "cli.frames"), "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "wrote" in out and "14 frames" in out
    tables = []
    for name in ("data.xyz", "cli.frames"):
        folder = data / f"eval-{name}"
        subprocess.run(
            run + ["evaluate", model, str(data / name), "--output", str(folder)],
            check=True,
            capture_output=True,
        )
        tables.append(json.loads((folder / "metrics.json").read_text()))
    assert tables[0] == tables[1]


def test_stress_of_mixed_open_and_periodic_batches_has_finite_gradients(data):
    """The stress of open frames is undefined (NaN) without putting NaN into the gradient of
    a batch whose loss masks them out; a non-finite step stops training with its place."""
    from polmlip.errors import TrainingDiverged

    trainer = Trainer(_config(data, "data.xyz"), progress=False)
    from polmlip.data.graph import collate

    batch = collate([trainer.train_set[k] for k in range(len(trainer.train_set))])
    assert batch["pbc"].any() and not batch["pbc"].all()
    loss, _ = trainer._batch_loss(batch, create_graph=True)
    loss.backward()
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    out = trainer.model(batch, compute_stress=True)
    assert torch.isnan(out["stress"][~batch["pbc"]]).all()
    assert torch.isfinite(out["stress"][batch["pbc"]]).all()
    trainer._check_finite(loss, 0)  # finite: passes
    with pytest.raises(TrainingDiverged, match="epoch 1, step 4: the loss is not finite"):
        trainer._check_finite(loss * float("nan"), 3)
    grads[0][0] = float("inf")
    with pytest.raises(TrainingDiverged, match="the gradient is not finite"):
        trainer._check_finite(loss, 3)
    trainer.close()


@pytest.mark.parametrize("train", ["data.xyz", "data.frames"])
def test_worker_processes_give_the_same_training(data, train):
    """training.num_workers builds the batches in other processes: the same losses."""
    histories = []
    for workers in (0, 2):
        cfg = _config(data, train, num_workers=workers)
        cfg.training.output += f"-{workers}"
        trainer = Trainer(cfg, progress=False)
        trainer.train()
        histories.append(trainer.history)
        trainer.close()
    for a, b in zip(*histories):
        for k in a:
            if k != "epoch_time_s":
                assert b[k] == a[k], k


def test_a_write_error_mid_set_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk while the arrays are written: an InputError naming the output, and no
    partial folder beside it."""
    import polmlip.data.preprocess as store_module

    ase.io.write(tmp_path / "data.xyz", _frames(), format="extxyz")

    def full(self, values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module._Column, "append", full)
    with pytest.raises(InputError, match="cannot write the frame set .*No space left on device"):
        preprocess(tmp_path / "data.xyz", tmp_path / "data.frames", 3.0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.xyz"]


def test_closest_pair_guard_names_the_source_frame(tmp_path):
    """A frame in a 1.5 Å periodic cube (images 0.15 Å apart) is refused from a frame set
    as from the extxyz, named by its number in the source file."""
    import ase

    frames = _frames()
    tiny = ase.Atoms("H2", positions=[[0.2, 0.2, 0.2], [0.2, 0.2, 1.55]], cell=[1.5] * 3)
    tiny.pbc = True
    tiny.info["energy"] = -1.0
    tiny.arrays["forces"] = np.zeros((2, 3))
    frames[9] = tiny
    ase.io.write(tmp_path / "tiny.xyz", frames, format="extxyz")
    preprocess(tmp_path / "tiny.xyz", tmp_path / "tiny.frames", 3.0, progress=False)
    for name in ("tiny.xyz", "tiny.frames"):
        cfg = _config(tmp_path, name)
        with pytest.raises(InputError, match=r"frame 9 \(counting from 0\): two atoms are 0\.15"):
            Trainer(cfg, progress=False)


def test_a_pickled_frame_set_opens_its_arrays_again(data):
    """Worker processes that are not forked get the set by pickling: its path, memory-mapped
    again there, not a copy of the arrays."""
    import pickle

    store = FrameStore(data / "data.frames")
    blob = pickle.dumps(store)
    assert len(blob) < 1000
    again = pickle.loads(blob)
    assert isinstance(again.arrays["positions"], np.memmap)
    assert np.array_equal(again.arrays["positions"], store.arrays["positions"])


def test_a_set_made_with_keys_is_read_without_them(tmp_path):
    """Keys given to polmlip preprocess are not asked for again (training, evaluate)."""
    frames = _frames()
    for atoms in frames:
        atoms.arrays["xforce"] = atoms.arrays.pop("forces")
    ase.io.write(tmp_path / "x.xyz", frames, format="extxyz")
    preprocess(
        tmp_path / "x.xyz", tmp_path / "x.frames", 3.0, DataKeys(forces=("xforce",)), progress=False
    )
    trainer = Trainer(_config(tmp_path, "x.frames"), progress=False)
    assert "ref_forces" in trainer.train_set[0]
    trainer.close()
