"""The declared engine contract against what each engine returns.

One model with every head is exported; its metadata declares its outputs
(polmlip.export.contract). Then:

* the exported module returns exactly the declared outputs with the declared shapes;
* the ASE calculator reports every declared output under its declared name;
* LAMMPS exposes every declared per-atom output through `fix pair` by that name, equal to
  the ASE values at 1 and 2 ranks, and logs the list; an undeclared name is refused;
* the OpenMM force returns the declared energy and forces, equal to ASE;
* export refuses a model whose outputs do not match the declaration.
"""

import numpy as np
import pytest
import torch
from openmm_helpers import openmm_plugin_built

from polmlip import keys
from polmlip.ase import PolMLIPCalculator
from polmlip.data import atoms_to_graph
from polmlip.export import contract, export_model, load_exported
from polmlip.export.adapter import engine_inputs
from polmlip.model import PolMLIP
from polmlip.model.config import LADDER

from lammps_helpers import lammps_available, read_forces, read_thermo, run_lammps, write_inputs
from model_helpers import all_heads_config, water_cluster

pytestmark = pytest.mark.engine

FIELD = (0.02, 0.0, -0.03)
TOTAL_CHARGE = 1.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("contract") / "model.pt"
    meta = export_model(PolMLIP(all_heads_config()).double(), path)
    return path, meta


@pytest.fixture(scope="module")
def frame():
    atoms = water_cluster(6, seed=3, box=8.0)
    atoms.wrap()
    return atoms


def _ase(exported, frame, split):
    atoms = frame.copy()
    atoms.calc = PolMLIPCalculator(
        str(exported[0]), external_field=FIELD, total_charge=TOTAL_CHARGE, ewald_split=split
    )
    atoms.calc.get_property("bec", atoms)
    atoms.calc.get_property("atomic_polarizability", atoms)  # adds α and its per-atom parts
    return atoms.calc.results


@pytest.fixture(scope="module")
def ase_results(exported, frame):
    """One process (OpenMM's and ASE's default): everything in k-space."""
    return _ase(exported, frame, False)


@pytest.fixture(scope="module")
def ase_split_results(exported, frame):
    """As LAMMPS sums it: Ewald-split."""
    return _ase(exported, frame, True)


def _declared(meta):
    return {port["name"]: port for port in meta["outputs"]}


def test_metadata_declares_the_contract(exported):
    _, meta = exported
    cfg = meta["config"]
    assert [p["name"] for p in meta["outputs"]] == [p.name for p in contract.declared_outputs(cfg)]
    assert [p["name"] for p in meta["inputs"]] == [p.name for p in contract.ENGINE_INPUTS]
    assert meta["requestable"] == [
        keys.FORCES,
        keys.VIRIAL,
        keys.STRESS,
        keys.BEC,
        keys.POLARIZABILITY,
        keys.ATOMIC_POLARIZABILITY,
    ]
    assert meta["features"]["width"] > 0
    names = set(_declared(meta))
    for name in (keys.CHARGES, keys.PERMANENT_CHARGES, keys.INDUCED_CHARGES, keys.QUADRUPOLES):
        assert name in names
    short_range = contract.declared_outputs(
        all_heads_config(**LADDER["SR"], anisotropic_alpha=False).to_dict()
    )
    assert [p.name for p in short_range] == [
        keys.ENERGY,
        keys.ATOMIC_ENERGY,
        keys.FORCES,
        keys.VIRIAL,
        keys.STRESS,
    ]


def test_module_returns_exactly_the_declaration(exported, frame):
    path, meta = exported
    module, _ = load_exported(path)
    g = atoms_to_graph(frame, meta["elements"], meta["cutoff"], FIELD, TOTAL_CHARGE)
    n = len(frame)
    for requested in ([], [keys.FORCES], list(meta["requestable"])):
        out = module(engine_inputs(g), requested)
        contract.check_outputs(out, meta["config"], n, n, requested, periodic=True)
    with pytest.raises(Exception, match="cannot be requested"):
        module(engine_inputs(g), ["charges"])
    with pytest.raises(Exception, match="unknown input 'positons'"):
        inputs = engine_inputs(g)
        inputs["positons"] = inputs.pop(keys.POSITIONS)
        module(inputs, [])


def test_ase_reports_every_declared_output(exported, frame, ase_results):
    _, meta = exported
    n = len(frame)
    for name, port in _declared(meta).items():
        assert name in ase_results, name
        value = np.asarray(ase_results[name])
        if name == keys.STRESS:
            assert value.shape == (6,)  # ASE's Voigt order
            continue
        shape = [n if d == contract.ATOMS else d for d in port["shape"]]
        assert list(value.shape) == shape, name
    q = ase_results[keys.PERMANENT_CHARGES] + ase_results[keys.INDUCED_CHARGES]
    np.testing.assert_allclose(ase_results[keys.CHARGES], q, atol=1e-14)
    assert ase_results[keys.CHARGES].sum() == pytest.approx(TOTAL_CHARGE, abs=1e-10)
    mu = ase_results[keys.PERMANENT_DIPOLES] + ase_results[keys.INDUCED_DIPOLES]
    np.testing.assert_allclose(ase_results[keys.DIPOLES], mu, atol=1e-14)


def _per_atom_names(meta):
    return [p["name"] for p in meta["outputs"] if p["per_atom"] and p["name"] != keys.FORCES]


@pytest.mark.skipif(not lammps_available(), reason="LAMMPS plugin not built or lmp missing")
@pytest.mark.parametrize("ranks", [1, 2])
def test_lammps_fix_pair_exposes_every_declared_per_atom_output(
    exported, frame, ase_split_results, tmp_path, ranks
):
    path, meta = exported
    names = _per_atom_names(meta)
    declared = _declared(meta)
    columns = {n: int(np.prod([d for d in declared[n]["shape"][1:]] or [1])) for n in names}
    fields = " ".join(f"{n} 0" for n in names)
    total = sum(columns.values())
    dump_cols = " ".join(f"f_p[{k + 1}]" for k in range(total))
    run = (
        f"fix p all pair 1 polmlip {fields}\n"
        f"dump q all custom 1 peratom.dump id {dump_cols}\n"
        "dump_modify q sort id format float %.15g\nrun 0"
    )
    (tmp_path / "model.pt").symlink_to(path)
    write_inputs(
        tmp_path,
        frame,
        "model.pt",
        ["H", "O"],
        field=FIELD,
        run=run,
        pair_extra=f"total_charge {TOTAL_CHARGE} bec yes polarizability yes ewald_split yes",
    )
    proc = run_lammps(tmp_path, ranks)
    assert proc.returncode == 0, proc.stdout[-3000:]
    log = (tmp_path / "log.lammps").read_text()
    assert "per-atom outputs for fix pair: " + " ".join(names) in log
    lines = (tmp_path / "peratom.dump").read_text().splitlines()[9 : 9 + len(frame)]
    data = np.array([[float(v) for v in line.split()] for line in lines])
    data = data[np.argsort(data[:, 0]), 1:]
    start = 0
    for name in names:
        ref = np.asarray(ase_split_results[name]).reshape(len(frame), -1)
        got = data[:, start : start + columns[name]]
        start += columns[name]
        scale = max(np.abs(ref).max(), 1e-3)
        assert np.abs(got - ref).max() <= 1e-7 * scale, name
    energy = read_thermo(tmp_path)[0][1]
    assert energy == pytest.approx(ase_split_results["energy"], rel=1e-9, abs=1e-9)
    forces = read_forces(tmp_path)[0]
    ref_f = ase_split_results["forces"]
    assert np.abs(forces - ref_f).max() <= 1e-7 * np.abs(ref_f).max()


@pytest.mark.skipif(not lammps_available(), reason="LAMMPS plugin not built or lmp missing")
def test_lammps_refuses_an_undeclared_or_unrequested_output(exported, frame, tmp_path):
    path, _ = exported
    (tmp_path / "model.pt").symlink_to(path)
    write_inputs(
        tmp_path, frame, "model.pt", ["H", "O"], run="fix p all pair 1 polmlip charge 0\nrun 0"
    )
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode != 0
    assert "this model has no per-atom output 'charge'; it declares:" in proc.stdout
    write_inputs(
        tmp_path, frame, "model.pt", ["H", "O"], run="fix p all pair 1 polmlip bec 0\nrun 0"
    )
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode != 0 and "per-atom bec needs `bec yes`" in proc.stdout


@pytest.mark.skipif(not openmm_plugin_built(), reason="OpenMM plugin not built")
def test_openmm_returns_the_declared_energy_and_forces(exported, frame, ase_results):
    import openmm
    import openmm.unit as u

    from polmlip.units import EV_TO_KJ_PER_MOL
    from polmlip.workflows.openmm_md import system_from_atoms

    path, meta = exported
    assert {keys.ENERGY, keys.FORCES} <= set(_declared(meta))
    system, _ = system_from_atoms(frame, str(path), total_charge=TOTAL_CHARGE)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(frame.positions / 10.0)
    for name, value in zip(("polmlip_Ex", "polmlip_Ey", "polmlip_Ez"), FIELD):
        ctx.setParameter(name, value)
    state = ctx.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole) / EV_TO_KJ_PER_MOL
    forces = state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
    forces = np.asarray(forces) / (EV_TO_KJ_PER_MOL * 10.0)
    assert energy == pytest.approx(ase_results["energy"], rel=1e-9)
    ref_f = ase_results["forces"]
    assert np.abs(forces - ref_f).max() <= 1e-8 * np.abs(ref_f).max()


def test_export_refuses_outputs_that_differ_from_the_declaration(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = PolMLIP(all_heads_config(quadrupoles=False, anisotropic_alpha=False)).double()
    extra = contract.Port("made_up", (contract.ATOMS,), "float", "e", "not computed")
    monkeypatch.setattr(contract, "ENGINE_OUTPUTS", contract.ENGINE_OUTPUTS + (extra,))
    with pytest.raises(ValueError, match=r"declared but not returned: \['made_up'\]"):
        export_model(model, tmp_path / "a.pt")
    assert not (tmp_path / "a.pt").exists()
    monkeypatch.undo()
    wrong = tuple(
        contract.Port(p.name, (contract.ATOMS, 4), p.dtype, p.unit, p.description, p.needs)
        if p.name == keys.FIELD
        else p
        for p in contract.ENGINE_OUTPUTS
    )
    monkeypatch.setattr(contract, "ENGINE_OUTPUTS", wrong)
    with pytest.raises(ValueError, match=r"field has shape \[\d+, 3\], declared \[\d+, 4\]"):
        export_model(model, tmp_path / "b.pt")
