"""Applied fields in periodic cells, through ASE, LAMMPS (1, 2, 4 ranks) and OpenMM.

* acoustic sum rule: Σ_i Z*_i = Q I and Σ_i F_i = Q E to 1e-9 in float64, neutral and
  charged, water, rock salt and a triclinic cell;
* a reference nobody here wrote: a fixed-charge model under a field gives the forces of
  LAMMPS' own ``fix efield`` with the same charges (1 and 2 ranks);
* dynamics: under a static field the centre of mass keeps its velocity and NVE conserves the
  electric enthalpy as well as at zero field; under an AC field the enthalpy changes by the
  work −∫ (dE/dt)·P dt.

Models use the Ewald sum (translation-invariant to rounding); PME breaks translation
invariance at the level of its mesh accuracy, as in every PME code (docs/conventions.md).
"""

import numpy as np
import pytest
import torch
from ase import units as ase_units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

import polmlip.errors as polmlip_errors
from polmlip.ase import PolMLIPCalculator
from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP
from polmlip.workflows.md import run_md

from helpers import energy_drift
from lammps_helpers import lammps_available, read_forces, read_thermo, run_lammps, write_inputs
from model_helpers import rocksalt, triclinic_water, water_cluster

pytestmark = pytest.mark.engine

ALL_HEADS = dict(quadrupoles=True, induced_charges=True, induced_dipoles=True)
FIELD = (0.03, -0.05, 0.1)


def _model(path, elements, **kw):
    """An untrained float64 Ewald model (the invariants hold for any weights)."""
    torch.manual_seed(0)
    cfg = dict(elements=elements, channels=6, cutoff=3.5, kspace_method="ewald")
    cfg.update(kspace_accuracy=1e-9)
    cfg.update(kw)
    export_model(PolMLIP(ModelConfig(**cfg)).double(), path)
    return str(path)


CELLS = {
    "water": (lambda: water_cluster(8, seed=2, box=9.0), ["H", "O"]),
    "rocksalt": (rocksalt, ["Na", "Cl"]),
    "triclinic_water": (triclinic_water, ["H", "O"]),
}


@pytest.mark.parametrize("total_charge", [0.0, 1.0])
@pytest.mark.parametrize("cell", list(CELLS))
def test_sum_rule_through_ase(tmp_path, cell, total_charge):
    build, elements = CELLS[cell]
    atoms = build()
    atoms.wrap()
    model = _model(tmp_path / "m.pt", elements, **ALL_HEADS)
    atoms.calc = PolMLIPCalculator(model, external_field=FIELD, total_charge=total_charge)
    z = atoms.calc.get_property("bec", atoms)
    forces = atoms.get_forces()
    assert np.abs(z.sum(0) - total_charge * np.eye(3)).max() <= 1e-9
    assert np.abs(forces.sum(0) - total_charge * np.array(FIELD)).max() <= 1e-9
    assert np.abs(z - z.mean(0)).max() > 0.05  # Born charges are not trivially uniform
    assert abs(atoms.calc.results["charges"].sum() - total_charge) <= 1e-12


def test_field_force_is_born_charges_times_field_in_a_periodic_cell(tmp_path):
    atoms = triclinic_water()
    atoms.wrap()
    model = _model(tmp_path / "m.pt", ["H", "O"], **ALL_HEADS)
    atoms.calc = PolMLIPCalculator(model)
    f0 = atoms.get_forces()
    z = atoms.calc.get_property("bec", atoms)
    small = 1e-4 * np.array(FIELD)
    atoms.calc = PolMLIPCalculator(model, external_field=small)
    df = atoms.get_forces() - f0
    # to first order in E; the induced parts add O(E²)
    assert np.abs(df - np.einsum("nbg,b->ng", z, small)).max() <= 1e-4 * np.abs(df).max()


needs_lammps = pytest.mark.skipif(
    not lammps_available(), reason="LAMMPS plugin not built or lmp missing (bootstrap.sh)"
)


def _bec_run():
    cols = " ".join(f"f_z[{k + 1}]" for k in range(9))
    return (
        f"fix z all pair 1 polmlip bec 0\ndump b all custom 1 bec.dump id {cols}\n"
        "dump_modify b sort id format float %.15g\nrun 0"
    )


def _read_bec(workdir, n):
    lines = (workdir / "bec.dump").read_text().splitlines()[9 : 9 + n]
    data = np.array([[float(v) for v in line.split()] for line in lines])
    return data[np.argsort(data[:, 0]), 1:].reshape(n, 3, 3)


@needs_lammps
@pytest.mark.parametrize("split", ["no", "yes"])
@pytest.mark.parametrize("cell", ["water", "triclinic_water"])
def test_sum_rule_through_lammps_at_1_2_4_ranks(tmp_path, cell, split):
    """Σ F = 0 and Σ Z* = 0 for neutral cells under a field, all in k-space and Ewald-split."""
    build, elements = CELLS[cell]
    atoms = build()
    atoms.wrap()
    _model(tmp_path / "model.pt", elements, **ALL_HEADS)
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        elements,
        field=FIELD,
        run=_bec_run(),
        pair_extra=f"bec yes ewald_split {split}",
    )
    for ranks in (1, 2, 4):
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        forces = read_forces(tmp_path)[0]
        z = _read_bec(tmp_path, len(atoms))
        assert np.abs(forces.sum(0)).max() <= 1e-9, (ranks, forces.sum(0))
        assert np.abs(z.sum(0)).max() <= 1e-9, (ranks, z.sum(0))


def _write_efield_reference(workdir, atoms, charges, field):
    """LAMMPS input: polmlip without field + fix efield with the model's fixed charges."""
    import ase.io

    atoms = atoms.copy()
    atoms.set_initial_charges([charges[s] for s in atoms.get_chemical_symbols()])
    ase.io.write(
        workdir / "data.lmp",
        atoms,
        format="lammps-data",
        specorder=["H", "O"],
        masses=True,
        atom_style="charge",
    )
    (workdir / "in.lmp").write_text(f"""units metal
atom_style charge
boundary p p p
read_data data.lmp
pair_style polmlip model.pt
pair_coeff * * H O
fix f all efield {field[0]} {field[1]} {field[2]}
thermo_style custom step pe
dump d all custom 1 forces.dump id fx fy fz
dump_modify d sort id format float %.15g
run 0
""")


@needs_lammps
@pytest.mark.parametrize("ranks", [1, 2])
def test_fixed_charges_match_lammps_fix_efield(tmp_path, ranks):
    """Z* = q I for charges that do not depend on geometry, so the model's field force is
    LAMMPS' own `fix efield` force q E on the same charges."""
    charges = {"H": 0.41, "O": -0.82}
    atoms = water_cluster(8, seed=2, box=9.0)
    atoms.wrap()
    _model(
        tmp_path / "model.pt",
        ["H", "O"],
        fixed_charges=charges,
        charge_conservation="none",
        dipoles=False,
        induced_charges=False,
        induced_dipoles=False,
    )
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], field=FIELD)
    proc = run_lammps(tmp_path, ranks)
    assert proc.returncode == 0, proc.stdout[-2000:]
    f_model = read_forces(tmp_path)[0]
    _write_efield_reference(tmp_path, atoms, charges, FIELD)
    proc = run_lammps(tmp_path, ranks)
    assert proc.returncode == 0, proc.stdout[-2000:]
    f_lammps = read_forces(tmp_path)[0]
    assert np.abs(f_model - f_lammps).max() <= 1e-9 * np.abs(f_lammps).max(), np.abs(
        f_model - f_lammps
    ).max()
    # and the field really acts
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"])
    run_lammps(tmp_path, ranks)
    assert np.abs(f_model - read_forces(tmp_path)[0]).max() > 0.01


# ---------------------------------------------------------------- dynamics (ASE, LAMMPS)


def _ase_nve(model, atoms, field, steps, dt_fs=0.25, seed=4):
    atoms = atoms.copy()
    atoms.calc = PolMLIPCalculator(model, external_field=field)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(seed))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=dt_fs * ase_units.fs)
    masses = atoms.get_masses()[:, None]
    rows = []

    def record():
        v = atoms.get_velocities() / (ase_units.Ang / ase_units.fs) * 1000.0  # Å/ps
        vcm = (masses * v).sum(0) / masses.sum()
        rows.append([atoms.get_total_energy(), *vcm])

    record()
    for _ in range(steps):
        dyn.run(1)
        record()
    return np.array(rows)


def _compare_drifts(label, t_zero, e_zero, t_field, e_field):
    """Enthalpy drift under the field within 2× of the zero-field drift, up to what the
    integrator's oscillation explains (3 standard errors), and no larger fluctuation."""
    d0, s0, r0 = energy_drift(t_zero, e_zero)
    d1, s1, r1 = energy_drift(t_field, e_field)
    print(
        f"{label}: drift {d1:.2e} ± {s1:.1e} eV/ps under 0.1 V/A vs {d0:.2e} ± {s0:.1e} "
        f"at zero field; RMS fluctuation {r1:.1e} vs {r0:.1e} eV"
    )
    assert abs(d1) <= 2.0 * abs(d0) + 3.0 * (s0 + s1)
    assert r1 <= 2.0 * r0


@pytest.mark.parametrize("backbone", ["nequip", "mace"])
def test_ase_nve_under_static_field_keeps_momentum_and_enthalpy(backbone, request):
    name = "trained_water_model" if backbone == "nequip" else "trained_water_mace_model"
    trained_water_model = request.getfixturevalue(name)
    atoms = water_cluster(8, seed=2, box=9.0)
    atoms.wrap()
    steps, dt_ps = 400, 0.25e-3
    zero = _ase_nve(trained_water_model, atoms, (0, 0, 0), steps)
    field = _ase_nve(trained_water_model, atoms, (0.0, 0.0, 0.1), steps)
    dv = np.abs(field[:, 1:] - field[0, 1:]).max()
    print(f"ASE: |dv_cm| {dv:.2e} A/ps over {steps * dt_ps:.2f} ps")
    assert dv <= 1e-6 * steps * dt_ps
    t = np.arange(steps + 1) * dt_ps
    _compare_drifts("ASE", t, zero[:, 0], t, field[:, 0])


def test_ase_ac_field_energy_balance(trained_water_model):
    """dH/dt = −(dE/dt)·P: over a quarter period of an AC field (0 to its peak) the enthalpy
    changes by the work −∫ (dE/dt)·P dt. A relaxed, cold start (10 K) keeps Verlet's own
    energy error far below the work."""
    from ase.optimize import FIRE

    atoms = water_cluster(8, seed=2, box=9.0)
    atoms.wrap()
    atoms.calc = PolMLIPCalculator(trained_water_model)
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=200)
    dt_fs, steps, amp = 0.2, 100, np.array([0.0, 0.15, 0.3])
    period_fs = 4 * steps * dt_fs
    log = run_md(
        atoms,
        PolMLIPCalculator(trained_water_model),
        steps,
        timestep_fs=dt_fs,
        temperature_K=10.0,
        field=lambda t: amp * np.sin(2 * np.pi * t / period_fs),
        seed=1,
        progress=False,
    )
    work = log["field_work"][-1]
    change = log["energy"][-1] - log["energy"][0]
    print(
        f"AC: enthalpy change {change:.6f} eV, field work {work:.6f} eV, "
        f"mismatch {abs(change - work) / abs(work):.2%}"
    )
    assert abs(work) > 0.01
    assert abs(change - work) <= 0.01 * abs(work)


@needs_lammps
@pytest.mark.parametrize(
    "ranks, steps, split, backbone",
    [(1, 2000, "no", "nequip"), (2, 200, "no", "nequip"), (2, 200, "yes", "nequip")]
    + [(2, 200, "no", "mace")],
)
def test_lammps_nve_under_static_field(tmp_path, request, ranks, steps, split, backbone):
    """0.5 ps on one rank (images folded) for the drift, 50 fs on two (ghosts) for the
    centre of mass; the same velocities with and without the field; on two ranks also with
    the Ewald split (real-space pairs over ghosts), and with the MACE backbone."""
    import shutil

    name = "trained_water_model" if backbone == "nequip" else "trained_water_mace_model"
    trained_water_model = request.getfixturevalue(name)

    shutil.copy(trained_water_model, tmp_path / "model.pt")
    atoms = water_cluster(8, seed=2, box=9.0)
    atoms.wrap()
    results = {}
    for name, field in (("zero", (0, 0, 0)), ("field", (0, 0, 0.1))):
        write_inputs(
            tmp_path,
            atoms,
            "model.pt",
            ["H", "O"],
            field=field,
            extra="velocity all create 300 7 dist gaussian mom yes\nfix nve all nve\n"
            "timestep 0.00025\nthermo 10\nvariable vz equal vcm(all,z)\n"
            "variable vx equal vcm(all,x)",
            run="thermo_style custom step etotal v_vx v_vz\nthermo_modify format float %.15g\n"
            f"run {steps}",
            pair_extra=f"ewald_split {split}",
        )
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-2000:]
        results[name] = read_thermo(tmp_path)
    dt_ps = 0.25e-3
    rows = results["field"]
    dv = np.abs(rows[:, 2:4] - rows[0, 2:4]).max()
    print(f"LAMMPS {ranks} rank(s): |dv_cm| {dv:.2e} A/ps over {steps * dt_ps:.2f} ps")
    assert dv <= 1e-6 * steps * dt_ps
    zero = results["zero"]
    _compare_drifts(
        f"LAMMPS {ranks} rank(s)", zero[:, 0] * dt_ps, zero[:, 1], rows[:, 0] * dt_ps, rows[:, 1]
    )


# ---------------------------------------------------------------- the field guard rail


def test_field_beyond_the_model_range_is_refused_in_ase(tmp_path):
    from polmlip.errors import InputError

    atoms = water_cluster(3, seed=1, box=8.0)
    model = _model(tmp_path / "m.pt", ["H", "O"])
    atoms.calc = PolMLIPCalculator(model, external_field=(0.0, 0.0, 5.0))
    with pytest.raises(
        InputError, match=r"\|E\| = 5 V/A exceeds this model's field limit of 1 V/A"
    ):
        atoms.get_potential_energy()
    atoms.calc = PolMLIPCalculator(model, external_field=(0.0, 0.0, 0.9))
    assert np.isfinite(atoms.get_potential_energy())
    # deliberately raised
    atoms.calc = PolMLIPCalculator(model, external_field=(0.0, 0.0, 5.0), field_limit=6.0)
    assert np.isfinite(atoms.get_potential_energy())


def test_training_sets_the_field_limit_from_the_data(trained_water_model):
    from polmlip.export.io import load_exported

    _, meta = load_exported(trained_water_model)
    # trained on fields up to 0.004 au = 0.21 V/Å: 1.5× that is below the 1 V/Å floor
    assert meta["field_limit"] == pytest.approx(1.0)


def test_training_field_limit_scales_with_the_largest_training_field():
    from polmlip.train.prepare import training_field_limit

    graphs = [{"external_field": torch.tensor([[0.0, 0.0, 2.0]])}]
    assert training_field_limit(graphs) == pytest.approx(3.0)
    assert training_field_limit([{"external_field": torch.zeros(1, 3)}]) == pytest.approx(1.0)


@needs_lammps
def test_field_beyond_the_model_range_is_a_lammps_error(tmp_path):
    atoms = water_cluster(3, seed=1, box=8.0)
    atoms.wrap()
    _model(tmp_path / "model.pt", ["H", "O"])
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], field=(0, 0, 5.0))
    proc = run_lammps(tmp_path, 1)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "5 V/A exceeds this model's field limit of 1 V/A" in out, out[
        -1500:
    ]
    write_inputs(
        tmp_path, atoms, "model.pt", ["H", "O"], field=(0, 0, 5.0), pair_extra="field_limit 6"
    )
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode == 0, proc.stdout[-1500:]


@pytest.mark.parametrize("cell", ["rocksalt", "triclinic_water"])
def test_born_charges_are_finite_differences_of_the_polarization(tmp_path, cell):
    """Z*_i = ∂P/∂r_i by central differences of the model's P, through ASE, in periodic
    rock salt and a triclinic water cell (open and periodic water: tests/model)."""
    build, elements = CELLS[cell]
    atoms = build()
    atoms.wrap()
    model = _model(tmp_path / "m.pt", elements, **ALL_HEADS)
    atoms.calc = PolMLIPCalculator(model, external_field=FIELD)
    z = atoms.calc.get_property("bec", atoms)
    h = 1e-5
    for i in (0, 3, 5):
        for g in range(3):
            pols = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.positions[i, g] += sign * h
                moved.calc = PolMLIPCalculator(model, external_field=FIELD)
                pols.append(moved.calc.get_property("polarization", moved))
            fd = (pols[0] - pols[1]) / (2 * h)
            assert np.allclose(z[i, :, g], fd, rtol=1e-6, atol=1e-8), (i, g, z[i, :, g], fd)


def test_ase_set_changes_field_and_charge(tmp_path):
    """calc.set(external_field=...) / set(total_charge=...) reset the cached results."""
    atoms = water_cluster(3, seed=1, box=8.0)
    atoms.calc = PolMLIPCalculator(_model(tmp_path / "m.pt", ["H", "O"]))
    e0 = atoms.get_potential_energy()
    atoms.calc.set(external_field=(0.0, 0.0, 0.1))
    e1 = atoms.get_potential_energy()
    fresh = atoms.copy()
    fresh.calc = PolMLIPCalculator(str(tmp_path / "m.pt"), external_field=(0.0, 0.0, 0.1))
    assert e1 == pytest.approx(fresh.get_potential_energy(), abs=1e-12)
    assert abs(e1 - e0) > 1e-4
    atoms.calc.set(total_charge=1.0)
    assert abs(atoms.get_potential_energy() - e1) > 1e-6
    assert atoms.calc.results["charges"].sum() == pytest.approx(1.0, abs=1e-12)
    # the field limit is a setting too: lowering it below the applied field refuses the next call
    atoms.calc.set(field_limit=0.05)
    with pytest.raises(polmlip_errors.InputError, match="field limit of 0.05"):
        atoms.get_potential_energy()
    atoms.calc.set(field_limit=1.0)
    assert np.isfinite(atoms.get_potential_energy())
