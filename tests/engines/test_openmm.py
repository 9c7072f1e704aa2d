"""PolMLIPForce in OpenMM against the ASE calculator on the same exported model.

Reference and CPU platforms, double precision (Reference is double; CPU computes this
force on the host in float64 too), open boundaries and a periodic water box, field on
and off; field changes through context parameters and a CustomIntegrator; XML round trip;
the TorchForce-convention file through the same plugin; openmm-ml; bad input.
"""

import pathlib

import numpy as np
import pytest
import torch
from openmm_helpers import OPENMM_MARKS  # noqa: E402

from polmlip.ase import PolMLIPCalculator
from polmlip.errors import InputError
from polmlip.export import export_model
from polmlip.export.torchforce import export_torchforce
from polmlip.model import PolMLIP
from polmlip.units import EV_TO_KJ_PER_MOL
from polmlip.workflows.openmm_md import (
    field_verlet_integrator,
    system_from_atoms,
    topology_from_atoms,
)

from helpers import energy_drift
from model_helpers import all_heads_config, mace_body_model, water_cluster

openmm = pytest.importorskip("openmm", reason="OpenMM is not installed (pip install openmm)")
u = pytest.importorskip("openmm.unit")


pytestmark = OPENMM_MARKS

KJ = u.kilojoule_per_mole
F_UNIT = KJ / u.nanometer
FORCE_SCALE = EV_TO_KJ_PER_MOL * 10.0  # eV/Å -> kJ/mol/nm
FIELD = (0.03, -0.02, 0.04)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = all_heads_config()
    path = tmp_path_factory.mktemp("omm") / "model.pt"
    export_model(PolMLIP(cfg).double(), path)
    return path


def _frames():
    box = water_cluster(8, seed=2, box=9.0)
    box.wrap()
    return {"open_molecule": water_cluster(4, seed=5), "periodic_water": box}


def _evaluate(system, atoms, platform="Reference", params=None, groups=-1):
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName(platform)
    )
    ctx.setPositions(atoms.positions / 10.0)
    for k, v in (params or {}).items():
        ctx.setParameter(k, v)
    state = ctx.getState(getEnergy=True, getForces=True, groups=groups)
    again = ctx.getState(getEnergy=True, getForces=True, groups=groups)  # no accumulation
    assert np.array_equal(
        state.getForces(asNumpy=True)._value, again.getForces(asNumpy=True)._value
    )
    return (
        state.getPotentialEnergy().value_in_unit(KJ),
        state.getForces(asNumpy=True).value_in_unit(F_UNIT),
    )


def _ase(atoms, model_file, field):
    atoms = atoms.copy()
    atoms.calc = PolMLIPCalculator(str(model_file), external_field=field)
    return atoms.get_potential_energy() * EV_TO_KJ_PER_MOL, atoms.get_forces() * FORCE_SCALE


def _assert_close(e, f, e_ref, f_ref, tol=1e-6):
    assert abs(e - e_ref) <= tol * abs(e_ref), (e, e_ref)
    assert np.abs(f - f_ref).max() <= tol * np.abs(f_ref).max(), np.abs(f - f_ref).max()


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("case", ["open_molecule", "periodic_water"])
@pytest.mark.parametrize("field", [(0.0, 0.0, 0.0), FIELD])
def test_openmm_matches_ase(model_file, case, platform, field):
    atoms = _frames()[case]
    system, _ = system_from_atoms(atoms, str(model_file), field=field)
    e, f = _evaluate(system, atoms, platform)
    e_ref, f_ref = _ase(atoms, model_file, field)
    print(f"{case} {platform} field={field}: dE/E {abs(e - e_ref) / abs(e_ref):.1e}")
    _assert_close(e, f, e_ref, f_ref)
    # acoustic sum rule of the field force: no net force on a neutral system, in any cell
    assert np.abs(f.sum(0)).max() <= 1e-9 * FORCE_SCALE


@pytest.fixture(scope="module", params=["mace", "mace_torch_body"])
def mace_model_file(tmp_path_factory, request):
    """Every head on the MACE backbone (correlation 3), or on the body of the mace-torch
    model of tests/references/mace (max_ell 3, its plain first layer, its settings)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("omm_mace") / "model.pt"
    if request.param == "mace":
        export_model(PolMLIP(all_heads_config(backbone="mace")).double(), path)
        return path
    heads = dict(quadrupoles=True, induced_charges=True, induced_dipoles=True,
                 anisotropic_alpha=True)  # fmt: skip
    export_model(mace_body_model(**heads, kspace_method="ewald", kspace_accuracy=1e-9), path)
    return path


@pytest.mark.parametrize("platform, tol", [("Reference", 1e-10), ("CPU", 1e-6)])
@pytest.mark.parametrize("case", ["open_molecule", "periodic_water"])
@pytest.mark.parametrize("field", [(0.0, 0.0, 0.0), FIELD])
def test_openmm_matches_ase_mace_backbone(mace_model_file, case, field, platform, tol):
    """The MACE-backbone model through the same plugin: to 1e-10 on the Reference platform
    (double precision throughout); the CPU platform holds positions and forces in single
    precision, as for the built-in body."""
    atoms = _frames()[case]
    system, _ = system_from_atoms(atoms, str(mace_model_file), field=field)
    e, f = _evaluate(system, atoms, platform)
    e_ref, f_ref = _ase(atoms, mace_model_file, field)
    _assert_close(e, f, e_ref, f_ref, tol=tol)
    assert np.abs(f.sum(0)).max() <= 1e-9 * FORCE_SCALE


@pytest.mark.parametrize("case", ["open_molecule", "periodic_water"])
def test_set_parameter_changes_field(model_file, case):
    atoms = _frames()[case]
    system, _ = system_from_atoms(atoms, str(model_file))
    params = dict(zip(("polmlip_Ex", "polmlip_Ey", "polmlip_Ez"), FIELD))
    e, f = _evaluate(system, atoms, params=params)
    e_ref, f_ref = _ase(atoms, model_file, FIELD)
    _assert_close(e, f, e_ref, f_ref)
    e0, f0 = _evaluate(system, atoms)
    assert np.abs(f - f0).max() > 1e-3 * np.abs(f0).max()  # the field really acts


def test_field_units_are_checked(model_file):
    atoms = _frames()["open_molecule"]
    top = topology_from_atoms(atoms)
    from polmlip.openmm import PolMLIPForce

    with pytest.raises(InputError, match="not an electric field"):
        PolMLIPForce(model_file, top, field=(1.0 * u.nanometer, 0, 0))
    force = PolMLIPForce(model_file, top, field=(0.5 * u.volt / u.nanometer, 0, 0))
    system = openmm.System()
    for m in atoms.get_masses():
        system.addParticle(m)
    system.addForce(force)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001))
    assert ctx.getParameter("polmlip_Ex") == pytest.approx(0.05)


def test_force_groups(model_file):
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file))
    system.getForce(0).setForceGroup(3)
    harmonic = openmm.HarmonicBondForce()
    harmonic.addBond(0, 1, 0.1, 1000.0)
    system.addForce(harmonic)
    e_all, _ = _evaluate(system, atoms)
    e3, f3 = _evaluate(system, atoms, groups={3})
    e_ref, f_ref = _ase(atoms, model_file, (0, 0, 0))
    _assert_close(e3, f3, e_ref, f_ref)
    assert abs(e_all - e3) > 1e-6


def test_xml_round_trip(model_file):
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file), field=FIELD)
    system.getForce(0).setForceGroup(2)
    xml = openmm.XmlSerializer.serialize(system)
    assert 'type="PolMLIPForce"' in xml
    copy = openmm.XmlSerializer.deserialize(xml)
    assert copy.getForce(0).getForceGroup() == 2
    e1, f1 = _evaluate(system, atoms)
    e2, f2 = _evaluate(copy, atoms)
    assert e1 == e2
    assert np.array_equal(f1, f2)
    assert openmm.XmlSerializer.serialize(copy) == xml


@pytest.mark.parametrize("case", ["open_molecule", "periodic_water"])
def test_torchforce_file_gives_same_forces(model_file, case, tmp_path):
    from polmlip.openmm import PolMLIPForce

    atoms = _frames()[case]
    periodic = bool(atoms.pbc.all())
    tf = tmp_path / "torchforce.pt"
    export_torchforce(model_file, atoms.get_chemical_symbols(), tf, periodic=periodic)
    system, top = system_from_atoms(atoms, str(model_file))
    e1, f1 = _evaluate(system, atoms, params={"polmlip_Ez": 0.05})
    system.removeForce(0)
    system.addForce(PolMLIPForce(tf, top))
    e2, f2 = _evaluate(system, atoms, params={"polmlip_Ez": 0.05})
    _assert_close(e2, f2, e1, f1, tol=1e-9)
    # and the file follows the convention when called directly, as openmm-torch would
    module = torch.jit.load(str(tf))
    pos = torch.tensor(atoms.positions / 10.0, requires_grad=True)
    args = [pos] + ([torch.tensor(atoms.cell.array / 10.0)] if periodic else [])
    energy = module(*args, torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.05))
    energy.backward()
    assert float(energy.detach()) == pytest.approx(e1, rel=1e-9)
    np.testing.assert_allclose(-pos.grad.numpy(), f1, atol=1e-8 * np.abs(f1).max())


def test_torchforce_mismatch_is_refused(model_file, tmp_path):
    from polmlip.openmm import PolMLIPForce

    atoms = _frames()["open_molecule"]
    tf = tmp_path / "tf.pt"
    export_torchforce(model_file, atoms.get_chemical_symbols()[:-3], tf, periodic=False)
    with pytest.raises(InputError, match="different particle list"):
        PolMLIPForce(tf, topology_from_atoms(atoms))


def _openmm_nve(model, atoms, field):
    """Total energy (eV) and centre-of-mass velocity (Å/ps) every 20 steps of 0.25 fs."""
    system, _ = system_from_atoms(atoms, str(model), field=field)
    integ = openmm.VerletIntegrator(0.25e-3)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(atoms.positions / 10.0)
    ctx.setVelocitiesToTemperature(300 * u.kelvin, 7)
    masses = atoms.get_masses()[:, None]
    times, etot, vcm = [], [], []
    for block in range(21):
        if block:
            integ.step(20)
        s = ctx.getState(getEnergy=True, getVelocities=True)
        etot.append((s.getPotentialEnergy() + s.getKineticEnergy()).value_in_unit(KJ))
        v = s.getVelocities(asNumpy=True).value_in_unit(u.angstrom / u.picosecond)
        vcm.append((masses * v).sum(0) / masses.sum())
        times.append(block * 20 * 0.25e-3)
    return np.array(times), np.array(etot) / EV_TO_KJ_PER_MOL, np.array(vcm)


def test_nve_energy_conservation_with_and_without_field(trained_water_model):
    """Periodic water box, VerletIntegrator 0.25 fs, trained model: the enthalpy drift under a
    static 0.1 V/Å field is within 2× of the zero-field drift, and the centre of mass keeps its
    velocity (the field force obeys the acoustic sum rule)."""
    atoms = _frames()["periodic_water"]
    stats = {}
    for name, field in (("zero", (0.0, 0.0, 0.0)), ("field", (0.0, 0.0, 0.1))):
        times, etot, vcm = _openmm_nve(trained_water_model, atoms, field)
        stats[name] = energy_drift(times, etot)
        dv = float(np.abs(vcm - vcm[0]).max())
        print(
            f"OpenMM NVE {name}: drift {stats[name][0]:.3e} ± {stats[name][1]:.1e} eV/ps, "
            f"fluctuation {stats[name][2]:.2e} eV, |dv_cm| {dv:.1e} A/ps"
        )
        assert stats[name][2] < 1e-3 * len(atoms)
        assert dv <= 1e-6 * times[-1]
    (d0, s0, r0), (d1, s1, r1) = stats["zero"], stats["field"]
    assert abs(d1) <= 2.0 * abs(d0) + 3.0 * (s0 + s1)
    assert r1 <= 2.0 * r0


def test_ac_field_custom_integrator(model_file):
    """The CustomIntegrator drives polmlip_Ex = A sin(ωt); forces match ASE at that field."""
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file))
    amp, period = (0.3, 0.0, -0.1), 20.0
    integ = field_verlet_integrator(0.5, amp, period)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(atoms.positions / 10.0)
    ctx.setVelocitiesToTemperature(300 * u.kelvin, 3)
    for n in (7, 13):
        integ.step(n)
        t = integ.getGlobalVariableByName("t") * 1e3  # fs
        expect = [a * np.sin(2 * np.pi * t / period) for a in amp]
        field = [ctx.getParameter(f"polmlip_E{c}") for c in "xyz"]
        np.testing.assert_allclose(field, expect, atol=1e-12)
        state = ctx.getState(getPositions=True, getForces=True, getEnergy=True)
        frame = atoms.copy()
        frame.positions = state.getPositions(asNumpy=True).value_in_unit(u.nanometer) * 10
        e_ref, f_ref = _ase(frame, model_file, field)
        _assert_close(
            state.getPotentialEnergy().value_in_unit(KJ),
            state.getForces(asNumpy=True).value_in_unit(F_UNIT),
            e_ref,
            f_ref,
        )


def test_openmmml_entry_point(model_file):
    openmmml = pytest.importorskip("openmmml")
    atoms = _frames()["periodic_water"]
    top = topology_from_atoms(atoms)
    potential = openmmml.MLPotential("polmlip", modelPath=str(model_file))
    system = potential.createSystem(top, field=FIELD)
    names = [f.getName() for f in system.getForces()]
    assert "PolMLIPForce" in names
    e, f = _evaluate(system, atoms)
    e_ref, f_ref = _ase(atoms, model_file, FIELD)
    _assert_close(e, f, e_ref, f_ref)


# ---- the System and the model agree (docs/openmm.md, "What the force checks") -----------


def test_box_set_on_the_context(model_file):
    """A System left at OpenMM's default box is fine when the box is set on the Context
    before the first evaluation (as a state or checkpoint would): same energy as ASE."""
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file))
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(2, 0, 0), openmm.Vec3(0, 2, 0), openmm.Vec3(0, 0, 2)
    )
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPeriodicBoxVectors(*(openmm.Vec3(*v) for v in atoms.cell.array / 10.0))
    ctx.setPositions(atoms.positions / 10.0)
    e = ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
    e_ref, _ = _ase(atoms, model_file, (0.0, 0.0, 0.0))
    assert abs(e - e_ref) <= 1e-6 * abs(e_ref)


def test_declared_subset_and_masses(model_file):
    """A force on part of the System works when declared (atoms=[...], the ML/MM route),
    and equals the model on those atoms alone; heavy water (D, 2.014 amu) and repartitioned
    hydrogen masses (4 amu) pass the mass check; a heavy atom lightened below half its mass
    needs check_masses=False."""
    from polmlip.openmm import PolMLIPForce

    molecule = _frames()["open_molecule"]
    n = len(molecule)
    both = molecule + molecule.copy()
    both.positions[n:] += 30.0  # a second copy far away, left to "MM" (no force here)
    system = openmm.System()
    for mass in both.get_masses():
        system.addParticle(float(mass))
    top = topology_from_atoms(both)
    system.addForce(PolMLIPForce(model_file, top, atoms=range(n), periodic=False))
    e, f = _evaluate(system, both)
    e_ref, f_ref = _ase(molecule, model_file, (0.0, 0.0, 0.0))
    _assert_close(e, f[:n], e_ref, f_ref)
    assert np.all(f[n:] == 0.0)

    def energy(masses, **kwargs):
        system = openmm.System()
        for mass in masses:
            system.addParticle(float(mass))
        system.addForce(PolMLIPForce(model_file, topology_from_atoms(molecule), **kwargs))
        return _evaluate(system, molecule)[0]

    symbols = np.array(molecule.get_chemical_symbols())
    deuterated = np.where(symbols == "H", 2.014, molecule.get_masses())
    assert energy(deuterated) == pytest.approx(e_ref, rel=1e-6)
    repartitioned = np.where(symbols == "H", 4.0, molecule.get_masses() - 6.0)
    assert energy(repartitioned) == pytest.approx(e_ref, rel=1e-6)
    lightened = np.where(symbols == "O", 3.0, 1.008)
    with pytest.raises(openmm.OpenMMException, match="has mass 3 amu.*fits H.*check_masses"):
        energy(lightened)
    assert energy(lightened, check_masses=False) == pytest.approx(e_ref, rel=1e-6)


# ---- bad input: clear Python exceptions, no crash --------------------------------------


def test_bad_input(model_file, tmp_path):
    from polmlip.openmm import PolMLIPForce

    atoms = _frames()["open_molecule"]
    top = topology_from_atoms(atoms)
    with pytest.raises(InputError, match=r"\['Na'\].*not known"):
        PolMLIPForce(model_file, elements=["Na"] + atoms.get_chemical_symbols()[1:])
    with pytest.raises(InputError, match="does not exist"):
        PolMLIPForce(tmp_path / "missing.pt", top)
    (tmp_path / "trunc.pt").write_bytes(model_file.read_bytes()[:4000])
    with pytest.raises(InputError, match="not a polmlip model file|corrupted"):
        PolMLIPForce(tmp_path / "trunc.pt", top)
    with pytest.raises(InputError, match="cuda"):
        PolMLIPForce(model_file, top, device="gpu")


def test_nan_and_overlapping_positions(model_file):
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file))
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001))
    pos = atoms.positions / 10.0
    pos[1] = pos[0] + 0.001
    ctx.setPositions(pos)
    with pytest.raises(openmm.OpenMMException, match="overlap"):
        ctx.getState(getForces=True)
    pos[1] = np.nan
    ctx.setPositions(pos)
    with pytest.raises(openmm.OpenMMException, match="NaN"):
        ctx.getState(getForces=True)


def test_model_removed_before_context(model_file, tmp_path):
    """A file that disappears between force creation and Context gets an OpenMMException."""
    import shutil

    atoms = _frames()["open_molecule"]
    copy = tmp_path / "gone.pt"
    shutil.copy(model_file, copy)
    system, _ = system_from_atoms(atoms, str(copy))
    copy.unlink()
    with pytest.raises(openmm.OpenMMException, match="cannot be opened"):
        openmm.Context(system, openmm.VerletIntegrator(0.001))


def test_missing_plugin_build(monkeypatch, tmp_path):
    import polmlip.integrations.openmm as omm

    monkeypatch.setattr(omm, "_loaded", {})
    monkeypatch.setenv("POLMLIP_OPENMM_LIBRARY", str(tmp_path / "libpolmlip_openmm.so"))
    with pytest.raises(InputError, match="OpenMM plugin is not built"):
        omm.load_plugin()


def test_field_md_example(model_file, tmp_path):
    """examples/openmm_field_md.py in reduced form: static and AC runs, CSVs and the PNG."""
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            str(root / "examples" / "openmm_field_md.py"),
            "--model",
            str(model_file),
            "--molecules",
            "8",
            "--steps",
            "10",
            "--dt",
            "0.25",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for run in ("static", "ac"):
        data = np.loadtxt(tmp_path / run / "openmm_md.csv", delimiter=",")
        # every step is a row: the field work -∫(dE/dt)·P dt needs each step's P
        assert data.shape == (11, 10) and np.isfinite(data).all()
    static = np.loadtxt(tmp_path / "static" / "openmm_md.csv", delimiter=",")
    assert np.all(static[:, 9] == 0.0)  # a constant field does no work
    ac = np.loadtxt(tmp_path / "ac" / "openmm_md.csv", delimiter=",")
    assert ac[-1, 3] == pytest.approx(0.1 * np.sin(2 * np.pi * 2.5 / 20.0))
    assert (tmp_path / "field_md.png").stat().st_size > 1000


@pytest.mark.parametrize("value, message", [(5.0, "field limit"), (float("nan"), "NaN")])
def test_bad_field_parameter_is_refused(model_file, value, message):
    """A field beyond the model's range, or a non-finite one, is an OpenMM error, not a NaN."""
    atoms = _frames()["periodic_water"]
    system, _ = system_from_atoms(atoms, str(model_file))
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(atoms.positions / 10.0)
    ctx.setParameter("polmlip_Ez", value)
    with pytest.raises(openmm.OpenMMException, match=message):
        ctx.getState(getEnergy=True)
