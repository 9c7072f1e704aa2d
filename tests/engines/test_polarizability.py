"""The polarizability α = ∂P/∂E at fixed nuclei, through ASE, LAMMPS (1 and 2 ranks) and OpenMM.

Every engine's ``polarizability`` is compared with the central difference of its own
polarization P in the applied field (P is linear in E for the non-self-consistent response,
so the difference is exact to rounding): 1e-6 relative, the target of the issue, with margin.
The model has both response channels (induced bond charges and induced dipoles), so α is
not the induced dipoles' Σ α_i alone; the engines also agree with each other, and the
per-atom parts ∂P/∂E_i sum to α.
"""

import shutil

import numpy as np
import pytest
import torch

from polmlip.ase import PolMLIPCalculator
from polmlip.export import export_model
from polmlip.model import PolMLIP

from lammps_helpers import lammps_available, read_thermo, run_lammps, write_inputs
from model_helpers import all_heads_config, water_cluster

pytestmark = pytest.mark.engine

FIELD = (0.02, -0.01, 0.03)
STEP = 1e-3  # V/Å
RTOL = 1e-6


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """An untrained float64 model with every response channel (the identities hold for any
    weights); Ewald, so that the engines agree to rounding."""
    torch.manual_seed(3)
    cfg = all_heads_config()
    path = tmp_path_factory.mktemp("alpha") / "model.pt"
    export_model(PolMLIP(cfg).double(), path)
    return str(path)


def _frames():
    box = water_cluster(8, seed=2, box=9.0)
    box.wrap()
    return {"open": water_cluster(4, seed=5), "periodic": box}


def _central(polarization, field=FIELD, step=STEP):
    """(3, 3) [β, γ] = (P_β(E + h ê_γ) − P_β(E − h ê_γ)) / 2h from ``polarization(field)``."""
    out = np.zeros((3, 3))
    for g in range(3):
        plus, minus = np.array(field, dtype=float), np.array(field, dtype=float)
        plus[g] += step
        minus[g] -= step
        out[:, g] = (polarization(plus) - polarization(minus)) / (2 * step)
    return out


def _assert_alpha(alpha, reference, what):
    scale = np.abs(reference).max()
    err = np.abs(np.asarray(alpha) - reference).max()
    assert err <= RTOL * scale, f"{what}: |Δα| {err:.3g} > {RTOL} × {scale:.3g}"


def _ase_alpha(model_file, atoms):
    """ASE's α (3, 3) and per-atom parts (N, 3, 3) at FIELD, e·Å²/V."""
    atoms = atoms.copy()
    atoms.calc = PolMLIPCalculator(model_file, external_field=FIELD)
    alpha = atoms.calc.get_property("polarizability", atoms)
    return alpha, atoms.calc.get_property("atomic_polarizability", atoms)


def _ase_output(model_file, atoms, name):
    """``name`` of the ASE calculator as a function of the applied field (V/Å)."""
    atoms = atoms.copy()
    atoms.calc = PolMLIPCalculator(model_file)

    def output(field):
        atoms.calc.set(external_field=field)
        return atoms.calc.get_property(name, atoms)

    return output


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_ase_polarizability_is_dP_dE(model_file, boundary):
    """ASE's ``polarizability`` is the field derivative of its polarization, includes the
    induced charges (it differs from the field derivative of Σ μ_ind), and is symmetric."""
    atoms = _frames()[boundary]
    alpha, parts = _ase_alpha(model_file, atoms)
    reference = _central(_ase_output(model_file, atoms, "polarization"))
    _assert_alpha(alpha, reference, f"ASE α vs ∂P/∂E ({boundary})")
    _assert_alpha(parts.sum(0), alpha, "Σ_i ∂P/∂E_i vs α")
    assert parts.shape == (len(atoms), 3, 3)
    assert np.abs(alpha - alpha.T).max() <= 1e-12 * np.abs(alpha).max()

    induced_dipoles = _ase_output(model_file, atoms, "induced_dipoles")
    dipole_part = _central(lambda field: induced_dipoles(field).sum(0))
    charge_part = alpha - dipole_part
    assert np.abs(charge_part).max() > 1e-3 * np.abs(alpha).max(), "no induced-charge part"


LAMMPS_RUN = """variable ex equal {ex}
variable ey equal {ey}
variable ez equal {ez}
compute P all pair polmlip
fix parts all pair 1 polmlip atomic_polarizability 0
compute sum all reduce sum {columns}
thermo_style custom step {thermo}
thermo_modify format float %.15g
run 0
"""


def _lammps_inputs(tmp_path, atoms, model_file, field):
    columns = " ".join(f"f_parts[{k}]" for k in range(1, 10))
    thermo = (
        " ".join(f"c_P[{k}]" for k in range(1, 13))
        + " "
        + " ".join(f"c_sum[{k}]" for k in range(1, 10))
    )
    run = LAMMPS_RUN.format(ex=field[0], ey=field[1], ez=field[2], columns=columns, thermo=thermo)
    shutil.copy(model_file, tmp_path / "model.pt")
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        ["H", "O"],
        field=("v_ex", "v_ey", "v_ez"),
        run=run,
        pair_extra="polarizability yes",
    )


@pytest.mark.skipif(not lammps_available(), reason="LAMMPS plugin not built")
@pytest.mark.parametrize("ranks", [1, 2])
def test_lammps_polarizability_is_dP_dE(model_file, tmp_path, ranks):
    """`pair_style polmlip ... polarizability yes`: compute pair c_P[4..12] is α (row-major),
    the central difference of c_P[1..3] in the field (efield variables), the same at 1 and
    2 ranks and equal to ASE's; the per-atom parts (fix pair) sum to it."""
    atoms = _frames()["periodic"]
    ase_alpha, _ = _ase_alpha(model_file, atoms)

    def run(field):
        _lammps_inputs(tmp_path, atoms, model_file, field)
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
        return np.array(read_thermo(tmp_path)[0][1:])

    row = run(FIELD)
    alpha = row[3:12].reshape(3, 3)
    reference = _central(lambda f: run(f)[0:3])
    _assert_alpha(alpha, reference, f"LAMMPS α vs ∂P/∂E ({ranks} ranks)")
    _assert_alpha(alpha, ase_alpha, f"LAMMPS α vs ASE ({ranks} ranks)")
    _assert_alpha(row[12:21].reshape(3, 3), alpha, "LAMMPS Σ_i ∂P/∂E_i vs α")


@pytest.mark.skipif(not lammps_available(), reason="LAMMPS plugin not built")
def test_lammps_polarizability_needs_its_keyword(model_file, tmp_path):
    """Asking for the per-atom parts or c_P[4] without `polarizability yes` is a clear error."""
    atoms = _frames()["periodic"]
    shutil.copy(model_file, tmp_path / "model.pt")
    run = "fix parts all pair 1 polmlip atomic_polarizability 0\nrun 0"
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], run=run)
    proc = run_lammps(tmp_path, 1)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "needs `polarizability yes`" in out, out[-1500:]
    run = "compute P all pair polmlip\nthermo_style custom step c_P[4]\nrun 0"
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], run=run)
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode != 0, (proc.stdout + proc.stderr)[-1500:]


def _openmm_context(model_file, atoms):
    openmm = pytest.importorskip("openmm")
    from openmm_helpers import openmm_plugin_built

    if not openmm_plugin_built():
        pytest.skip("OpenMM plugin not built")
    from polmlip.workflows.openmm_md import system_from_atoms

    system, _ = system_from_atoms(atoms, model_file, field=FIELD)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(atoms.positions / 10.0)
    return ctx


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_openmm_polarizability_is_dP_dE(model_file, boundary):
    """``polmlip.openmm.get_output(context, "polarizability")`` is the central difference of
    ``get_output(context, "polarization")`` in the field parameters, and equals ASE's."""
    from polmlip.openmm import FIELD_PARAMETERS, get_output

    atoms = _frames()[boundary]
    ctx = _openmm_context(model_file, atoms)
    alpha = get_output(ctx, "polarizability")

    def polarization(field):
        for name, value in zip(FIELD_PARAMETERS, field):
            ctx.setParameter(name, float(value))
        return get_output(ctx, "polarization")

    reference = _central(polarization)
    ase_alpha, ase_parts = _ase_alpha(model_file, atoms)
    _assert_alpha(alpha, reference, f"OpenMM α vs ∂P/∂E ({boundary})")
    _assert_alpha(alpha, ase_alpha, f"OpenMM α vs ASE ({boundary})")
    for name, value in zip(FIELD_PARAMETERS, FIELD):
        ctx.setParameter(name, value)
    parts = get_output(ctx, "atomic_polarizability")
    assert parts.shape == (len(atoms), 3, 3)
    _assert_alpha(parts, ase_parts, "OpenMM per-atom parts vs ASE")


def test_openmm_get_output_errors(model_file):
    """An unknown output name is an InputError that lists the outputs there are."""
    from polmlip.errors import InputError
    from polmlip.openmm import get_output

    ctx = _openmm_context(model_file, _frames()["open"])
    with pytest.raises(InputError, match="no output 'polarisability'.*polarizability"):
        get_output(ctx, "polarisability")
    with pytest.raises(InputError, match="forces: through the State"):
        get_output(ctx, "forces")


def test_openmm_get_output_needs_a_polmlip_force():
    """A context whose System has no PolMLIPForce is a clear InputError, not a crash."""
    openmm = pytest.importorskip("openmm")
    from openmm_helpers import openmm_plugin_built

    from polmlip.errors import InputError

    if not openmm_plugin_built():
        pytest.skip("OpenMM plugin not built")
    from polmlip.openmm import get_output

    system = openmm.System()
    system.addParticle(1.0)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    with pytest.raises(InputError, match="no PolMLIPForce"):
        get_output(ctx, "polarization")
    with pytest.raises(InputError, match="no force 3"):
        get_output(ctx, "polarization", force_index=3)
