"""GFN2-xTB reference data: units and field convention against finite differences, BEC sum
rule, structures, atomic writing and the ``polmlip datagen`` command."""

import argparse
import re

import numpy as np
import pytest
from ase import Atoms

pytest.importorskip("tblite", reason="tblite (GFN2-xTB) is not installed")

from polmlip.cli import datagen as datagen_cli  # noqa: E402
from polmlip.data.dataset import DataKeys, build_dataset, read_frames  # noqa: E402
from polmlip.errors import InputError  # noqa: E402
from polmlip.qmdata import datagen  # noqa: E402
from polmlip.qmdata.xtb import XtbLabeller  # noqa: E402
from polmlip.units import ATOMIC_FIELD_TO_V_PER_ANGSTROM  # noqa: E402


def _water():
    return Atoms("OH2", positions=[[0.0, 0.0, 0.0], [0.97, 0.05, 0.0], [-0.25, 0.93, 0.1]])


def test_forces_are_minus_gradient_under_field():
    lab = XtbLabeller()
    atoms = _water()
    field = np.array([0.1, -0.2, 0.3])  # V/Å
    res = lab.label(atoms, field=field)
    h = 1e-3
    for i, g in [(0, 0), (1, 1), (2, 2)]:
        e = []
        for s in (1, -1):
            a = atoms.copy()
            a.positions[i, g] += s * h
            e.append(lab.label(a, field=field).energy)
        assert -(e[0] - e[1]) / (2 * h) == pytest.approx(res.forces[i, g], rel=2e-3, abs=2e-4)


def test_field_energy_is_minus_dipole_times_field():
    """dU/dE_ext = −μ: checks the field sign and the au ↔ V/Å, e·Å conversions together."""
    lab = XtbLabeller()
    atoms = _water()
    mu = lab.label(atoms).dipole
    h = 0.02  # V/Å
    for k in range(3):
        f = np.zeros(3)
        f[k] = h
        de = (lab.label(atoms, field=f).energy - lab.label(atoms, field=-f).energy) / (2 * h)
        assert de == pytest.approx(-mu[k], rel=1e-3, abs=1e-4)


def test_bec_sum_rule_and_linear_dipole_change():
    lab = XtbLabeller()
    atoms = _water()
    res = lab.label(atoms, bec=True)
    assert np.abs(res.bec.sum(0)).max() < 2e-3  # acoustic sum rule of a neutral molecule
    rng = np.random.default_rng(0)
    d = 0.004 * rng.standard_normal((3, 3))
    moved = atoms.copy()
    moved.positions += d
    change = lab.label(moved).dipole - res.dipole
    assert change == pytest.approx(np.einsum("iab,ib->a", res.bec, d), abs=2e-4)
    assert np.abs(res.bec[0].trace() / 3) > 0.2  # O carries a sizeable negative charge


def test_polarizability_is_minus_second_field_derivative_of_the_energy():
    """α from the dipoles' field derivative equals −∂²U/∂E² from energies alone (an
    independent route through the same tblite runs) and is symmetric positive definite.
    (GFN2-xTB's minimal basis gives water a polarizability volume k_e tr α/3 of about
    0.37 Å³, a quarter of the experimental 1.45 Å³: fine for validating the model's response
    against the method it learns from, not for absolute ε∞.)"""
    lab = XtbLabeller()
    atoms = _water()
    res = lab.label(atoms, bec=True, polarizability=True)
    alpha = res.polarizability
    assert res.bec is not None and np.allclose(alpha, alpha.T)
    u0 = lab.label(atoms).energy
    h = 0.2  # V/Å: ½ α h² ≈ 2 meV, far above the SCC noise, still linear response
    for k in range(3):
        f = np.zeros(3)
        f[k] = h
        second = lab.label(atoms, field=f).energy - 2 * u0 + lab.label(atoms, field=-f).energy
        assert -second / h**2 == pytest.approx(alpha[k, k], rel=0.03)
    assert np.linalg.eigvalsh(alpha).min() > 0
    z_only = lab.label(atoms, bec=True)
    assert np.allclose(z_only.bec, res.bec) and z_only.polarizability is None


def test_periodic_field_and_bad_elements_are_refused():
    lab = XtbLabeller()
    box = datagen.water_box_frame(2, np.random.default_rng(0))
    with pytest.raises(InputError, match="periodic"):
        lab.label(box, field=(0, 0, 0.1))
    with pytest.raises(InputError, match="NaN"):
        bad = _water()
        bad.positions[0, 0] = np.nan
        lab.label(bad)


def test_structures():
    rng = np.random.default_rng(3)
    for n in (1, 5, 12):
        atoms = datagen.water_cluster(n, rng)
        o = atoms.positions[::3]
        d = np.linalg.norm(o[:, None] - o[None], axis=-1)[np.triu_indices(n, 1)]
        assert len(atoms) == 3 * n and (d > 2.4).all()
        oh = np.linalg.norm(atoms.positions[1::3] - o, axis=1)
        assert (np.abs(oh - 0.96) < 0.2).all()
    nacl = datagen.nacl_cluster(rng)
    syms = nacl.get_chemical_symbols()
    assert syms.count("Na") == syms.count("Cl")
    box = datagen.water_box_frame(4, rng)
    assert box.pbc.all() and len(box) == 12


def test_generate_with_field_and_bec_reads_back(tmp_path):
    frames = datagen.generate(
        "water-clusters",
        3,
        molecules=(1, 2),
        field_au=(0.005, 0.01),
        bec=True,
        polarizability=True,
        progress=False,
    )
    path = datagen.write_extxyz_atomic(frames, tmp_path / "d.xyz")
    back = read_frames(path)
    required = ("energy", "forces", "bec", "polarizability")
    graphs = build_dataset(back, ["H", "O"], 3.0, DataKeys(), required)
    for a, g in zip(frames, graphs):
        assert g["ref_polarizability"].shape == (1, 3, 3)
        assert np.allclose(g["ref_polarizability"][0].numpy(), a.info["polarizability"])
    for a, g in zip(frames, graphs):
        fmag = np.linalg.norm(a.info["external_field"]) / ATOMIC_FIELD_TO_V_PER_ANGSTROM
        assert 0.005 - 1e-9 <= fmag <= 0.01 + 1e-9
        assert np.allclose(g["external_field"][0].numpy(), a.info["external_field"])
        assert g["ref_bec"].shape == (len(a), 3, 3)
        assert np.allclose(g["ref_dipole"][0].numpy(), a.info["dipole"])


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    import ase.io

    path = tmp_path / "data.xyz"
    path.write_text("old contents")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ase.io, "write", boom)
    with pytest.raises(KeyboardInterrupt):
        datagen.write_extxyz_atomic([_water()], path)
    assert path.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.xyz"]
    monkeypatch.undo()
    import os

    datagen.write_extxyz_atomic([_water()], path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask  # not mkstemp's 0600


def _cli(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    datagen_cli.add_parser(sub)
    return p.parse_args(argv)


def test_cli_writes_file_and_refuses_bad_requests(tmp_path, capsys):
    from polmlip.cli.main import main

    out = tmp_path / "nacl.xyz"
    assert main(["datagen", "nacl-clusters", "-n", "1", "-o", str(out), "--quiet"]) == 0
    assert read_frames(out)[0].info["method"] == "GFN2-xTB"
    assert main(["datagen", "water-box", "-n", "1", "--field", "0.01", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "periodic" in err and "Traceback" not in err
    assert main(["datagen", "water-clusters", "--field", "0.2", "-o", str(out)]) == 2
    assert "linear-response" in capsys.readouterr().err
    args = _cli(["datagen", "water-clusters", "-o", "x.xyz", "--field", "0.005", "0.01"])
    assert args.field == [0.005, 0.01]


def test_bec_from_field_derivative_of_forces_equals_dipole_differences():
    """The Maxwell relation ∂μ_β/∂r_γ = ∂F_γ/∂E_β, both sides from tblite (6 vs 6N points)."""
    lab = XtbLabeller()
    atoms = datagen.water_cluster(2, np.random.default_rng(3))
    by_field = lab.born_charges(atoms, method="field")
    by_dipole = lab.born_charges(atoms, method="dipole")
    assert np.abs(by_field - by_dipole).max() < 3e-3
    assert np.abs(by_field).max() > 0.3
    with pytest.raises(InputError, match="field' or 'dipole"):
        lab.born_charges(atoms, method="spline")


def test_file_labelling_keeps_labels_and_a_transposed_layout_is_caught(tmp_path, capsys):
    from polmlip.cli.main import main

    frames = datagen.generate("water-clusters", 3, molecules=(2, 3), bec=True, progress=False)
    src = datagen.write_extxyz_atomic(frames, tmp_path / "src.xyz")
    out = tmp_path / "labelled.xyz"
    assert main(["datagen", "file", "--input", str(src), "--bec", "-o", str(out), "--quiet"]) == 0
    # the file's own dipoles are GFN2-xTB's: the calibration ratio it prints is 1
    printed = re.search(r"this file's / GFN2-xTB: ([0-9.]+)", capsys.readouterr().out)
    assert printed and float(printed.group(1)) == pytest.approx(1.0, abs=0.002)
    back = read_frames(out)
    for a, b in zip(frames, back):
        assert b.get_potential_energy() == pytest.approx(a.info["energy"])  # kept
        assert b.info["xtb_energy"] == pytest.approx(a.info["energy"], abs=1e-5)
        assert np.allclose(b.arrays["xtb_forces"], a.arrays["forces"], atol=1e-4)
        assert np.allclose(b.arrays["xtb_bec"], a.arrays["bec"], atol=3e-3)
    # the same Born charges stored transposed: refused as read, right with the layout
    for a in back:
        a.arrays["bec"] = a.arrays["bec"].reshape(-1, 3, 3).transpose(0, 2, 1).reshape(-1, 9)
    flipped = datagen.write_extxyz_atomic(back, tmp_path / "flipped.xyz")
    with pytest.raises(InputError, match="bec_layout"):
        build_dataset(read_frames(flipped), ["H", "O"], 3.0, DataKeys(), ("energy",))
    graphs = build_dataset(
        read_frames(flipped),
        ["H", "O"],
        3.0,
        DataKeys(),
        ("energy",),
        bec_layout="displacement-major",
    )
    for a, g in zip(frames, graphs):
        assert np.allclose(g["ref_bec"].numpy(), a.arrays["bec"].reshape(-1, 3, 3))
    assert main(["datagen", "file", "-o", str(tmp_path / "x.xyz")]) == 2
    assert "--input" in capsys.readouterr().err
    box = datagen.generate("water-box", 1, molecules=(4, 4), progress=False)
    periodic = datagen.write_extxyz_atomic(box, tmp_path / "box.xyz")
    assert main(["datagen", "file", "--input", str(periodic), "-o", str(tmp_path / "y.xyz")]) == 2
    assert "periodic" in capsys.readouterr().err
