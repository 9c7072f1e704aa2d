"""IR spectra (polmlip ir): spectrum math, dP/dt routes, trajectory I/O, CLI, reporter, example."""

import argparse
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from polmlip.cli import ir as cli_ir
from polmlip.cli.main import main
from polmlip.errors import InputError
from polmlip.workflows import ir

ROOT = Path(__file__).resolve().parents[2]
C_CM_PER_FS = 2.99792458e-5


def _sinusoids(n, dt, bands=((1640.0, 1.0), (3400.0, 0.7)), noise=0.3, seed=0):
    """(n, 3) signal: cosines at the given wavenumbers (cm⁻¹) plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * dt
    x = noise * rng.standard_normal((n, 3))
    for k, (nu, amp) in enumerate(bands):
        w = 2 * np.pi * C_CM_PER_FS * nu
        x[:, 0] += amp * np.cos(w * t + 0.3 * k)
        x[:, 2] += 0.5 * amp * np.sin(w * t + 1.1)
    return x


@pytest.mark.parametrize("qc", [None, "harmonic"])
def test_band_positions_of_two_sinusoids(qc):
    wn, inten = ir.ir_spectrum(_sinusoids(4000, 0.5), 0.5, quantum_correction=qc)
    assert wn[0] == 0 and wn[-1] <= 4500 and inten.max() == pytest.approx(1.0)
    bands = ir.band_positions(wn, inten)
    assert bands["bend"] == pytest.approx(1640.0, rel=0.01)
    assert bands["stretch"] == pytest.approx(3400.0, rel=0.01)
    assert np.isnan(ir.band_positions(wn, inten, {"none": (5000.0, 6000.0)})["none"])


def test_quantum_correction_factor():
    assert ir.quantum_correction_factor(np.array([0.0, 1e-3]), 300.0) == pytest.approx(
        1.0, abs=1e-5
    )
    # x = h c ν̃ / (k_B T) from CODATA values in ase.units, ν̃ = 1000 cm⁻¹, T = 250 K
    x = units._hplanck * units._c * 100.0 * 1000.0 / (units._k * 250.0)
    got = ir.quantum_correction_factor(1000.0, 250.0, "harmonic")
    assert got == pytest.approx(x / (1 - np.exp(-x)), rel=1e-6)
    assert ir.quantum_correction_factor(1000.0, 250.0, "standard") == pytest.approx(
        2 / (1 + np.exp(-x)), rel=1e-6
    )
    with pytest.raises(InputError, match="quantum correction"):
        ir.quantum_correction_factor(1000.0, 300.0, "bogus")


def test_spectrum_input_errors():
    x = _sinusoids(100, 0.5)
    with pytest.raises(InputError, match="at least"):
        ir.ir_spectrum(x[:5], 0.5)
    with pytest.raises(InputError, match="window"):
        ir.ir_spectrum(x, 0.5, window="kaiser")
    with pytest.raises(InputError, match="max lag"):
        ir.ir_spectrum(x, 0.5, max_lag_fs=1000.0)
    with pytest.raises(InputError, match="time step"):
        ir.ir_spectrum(x, 0.0)
    with pytest.raises(InputError, match="Born charges must be"):
        ir.dipole_derivative_from_bec(np.zeros((4, 2, 3, 3)), np.zeros((4, 3, 3)))


class ToyDipole(Calculator):
    """P = Σ q_i r_i + ε Σ_i sin(k·r_i) d, so Z*_i = q_i I + ε cos(k·r_i) d ⊗ k (not symmetric)."""

    implemented_properties = ["polarization", "dipole", "bec"]
    q = np.array([-0.8, 0.4, 0.4])
    k = np.array([0.9, -0.4, 0.3])
    d = np.array([0.2, 0.7, -0.5])

    def calculate(self, atoms=None, properties=("bec",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.atoms.positions
        s = r @ self.k
        p = self.q @ r + 0.8 * np.sin(s).sum() * self.d
        z = self.q[:, None, None] * np.eye(3) + 0.8 * np.cos(s)[:, None, None] * np.outer(
            self.d, self.k
        )
        self.results = {"polarization": p, "dipole": p, "bec": z}


def _toy_frames(n=40, dt=0.25):
    """Atoms on analytic paths r(t) = r0 + A sin(ωt + φ) with exact velocities (Å/fs)."""
    rng = np.random.default_rng(3)
    r0, amp = rng.normal(size=(3, 3)), 0.3 * rng.normal(size=(3, 3))
    w, ph = rng.uniform(0.1, 0.4, size=(3, 3)), rng.uniform(0, 6, size=(3, 3))
    frames = []
    for t in np.arange(n) * dt:
        a = Atoms("OHH", positions=r0 + amp * np.sin(w * t + ph))
        a.set_velocities(amp * w * np.cos(w * t + ph) / units.fs)  # Å/fs → ASE units
        frames.append(a)
    return frames


def test_bec_route_matches_finite_differences_analytic():
    frames, dt, calc = _toy_frames(), 0.25, ToyDipole()
    bec, route = ir.trajectory_dipole_derivative(frames, dt, calc, progress=False)
    assert route == "bec" and bec.shape == (40, 3)
    fd, route = ir.trajectory_dipole_derivative(frames, dt, calc, source="dipole", progress=False)
    assert route == "model-dipole" and fd.shape == (38, 3)
    rel = np.linalg.norm(bec[1:-1] - fd) / np.linalg.norm(fd)
    assert rel < 5e-3
    z = np.stack([calc.get_property("bec", a) for a in frames])
    v = np.stack([a.get_velocities() * units.fs for a in frames])
    wrong = ir.dipole_derivative_from_bec(z.transpose(0, 1, 3, 2), v)[1:-1]
    assert np.linalg.norm(wrong - fd) / np.linalg.norm(fd) > 10 * rel


def _two_waters() -> Atoms:
    from ase.build import molecule

    a, b = molecule("H2O"), molecule("H2O")
    b.rotate(70, "z")
    b.translate([2.9, 0.3, 0.2])
    return a + b


def test_bec_route_matches_finite_differences_model(tiny_model):
    from ase.md.verlet import VelocityVerlet

    from polmlip.ase import PolMLIPCalculator

    atoms, dt = _two_waters(), 0.25
    calc = PolMLIPCalculator(str(tiny_model))
    atoms.calc = calc
    rng = np.random.default_rng(0)
    atoms.set_momenta(rng.normal(size=(6, 3)) * np.sqrt(atoms.get_masses()[:, None] * 0.026))
    dyn = VelocityVerlet(atoms, timestep=dt * units.fs)
    frames = []
    for _ in range(24):
        frame = atoms.copy()
        frame.info["dipole"] = np.array(calc.get_property("dipole", atoms))
        frames.append(frame)
        dyn.run(1)
    bec, route = ir.trajectory_dipole_derivative(frames, dt, calc, progress=False)
    fd, route_fd = ir.trajectory_dipole_derivative(frames, dt, None, progress=False)
    assert (route, route_fd) == ("bec", "dipole")
    # with exact ∂P/∂r (autograd of P) this is ~1.2e-2 (velocity-Verlet + central differences),
    # and ~1.2 with the Born charges transposed
    rel = np.linalg.norm(bec[1:-1] - fd) / np.linalg.norm(fd)
    assert rel < 5e-2


def test_trajectory_input_errors():
    frames = _toy_frames(n=12)
    with pytest.raises(InputError, match="at least"):
        ir.trajectory_dipole_derivative(frames[:5], 0.5, ToyDipole())
    for a in frames:
        a.set_momenta(None)
    with pytest.raises(InputError, match="neither velocities nor dipoles"):
        ir.trajectory_dipole_derivative(frames, 0.5)
    with pytest.raises(InputError, match="velocities"):
        ir.trajectory_dipole_derivative(frames, 0.5, ToyDipole(), source="bec")
    for a in frames:
        a.cell, a.pbc = np.eye(3) * 9.0, True
    with pytest.raises(InputError, match="periodic"):
        ir.trajectory_dipole_derivative(frames, 0.5, ToyDipole())


DUMP_FRAME = """ITEM: TIMESTEP
{step}
ITEM: NUMBER OF ATOMS
3
ITEM: BOX BOUNDS pp pp pp
0.0 10.0
0.0 10.0
0.0 10.0
ITEM: ATOMS id type x y z vx vy vz
2 2 0.76 0.59 0.0 1.0 2.0 3.0
1 1 0.0 0.0 0.0 -4.0 0.5 0.0
3 2 -0.76 0.59 0.0 0.0 0.0 10.0
"""


def test_read_lammps_dump_with_velocities(tmp_path):
    path = tmp_path / "dump.lammpstrj"
    path.write_text(DUMP_FRAME.format(step=0) + DUMP_FRAME.format(step=10))
    frames = ir.read_trajectory(path, elements=["O", "H"])
    assert len(frames) == 2
    a = frames[1]
    assert a.get_chemical_symbols() == ["O", "H", "H"]  # sorted by id, type 1 → O
    # metal units: Å/ps in the file → Å/fs after get_velocities() * ase.units.fs
    v = a.get_velocities() * units.fs
    assert v == pytest.approx(1e-3 * np.array([[-4, 0.5, 0], [1, 2, 3], [0, 0, 10]]), rel=1e-9)
    assert a.cell.lengths() == pytest.approx([10, 10, 10])
    real = ir.read_trajectory(path, elements=["O", "H"], lammps_units="real")[0]
    assert real.get_velocities()[0] * units.fs == pytest.approx([-4, 0.5, 0])  # Å/fs
    with pytest.raises(InputError, match="--elements"):
        ir.read_trajectory(path)
    with pytest.raises(InputError, match="does not exist"):
        ir.read_trajectory(tmp_path / "missing.lammpstrj")
    bad = tmp_path / "bad.xyz"
    bad.write_text("not a trajectory\n")
    with pytest.raises(InputError, match="cannot read"):
        ir.read_trajectory(bad)


def _cli(argv):
    """Run ``ir`` through a local parser built with add_parser, as polmlip's main does."""
    parser = argparse.ArgumentParser(prog="polmlip")
    cli_ir.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ir", *argv])
    return args.func(args)


def test_cli_missing_file(tmp_path, capsys):
    with pytest.raises(InputError, match="does not exist"):
        _cli([str(tmp_path / "none.xyz"), "--timestep", "0.5"])
    assert main(["ir", str(tmp_path / "none.xyz"), "--timestep", "0.5"]) == 2
    assert "does not exist" in capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "polmlip.cli.main", "ir", str(tmp_path / "none.xyz"), "-t", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_spectrum_from_stored_dipoles(tmp_path, capsys):
    dt, n = 0.5, 1200
    # integrate the dP/dt test signal (no noise) to a dipole trajectory
    dip = np.cumsum(_sinusoids(n, dt, noise=0.0), axis=0) * dt
    frames = []
    for k in range(n):
        a = Atoms("OHH", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        a.info["dipole"], a.info["time_fs"] = dip[k], k * dt
        frames.append(a)
    traj = tmp_path / "traj.extxyz"
    ase.io.write(traj, frames, format="extxyz")
    out = tmp_path / "out" / "spec"
    assert _cli([str(traj), "--timestep", "0.5", "--stride", "1", "-o", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "dP/dt from dipole" in text and "spec.png" in text
    data = np.loadtxt(out.with_suffix(".dat"))
    assert data.shape[1] == 2 and data[:, 1].max() == pytest.approx(1.0, abs=1e-5)
    assert "wavenumber [cm^-1]" in out.with_suffix(".dat").read_text()
    assert out.with_suffix(".png").stat().st_size > 1000
    bands = ir.band_positions(data[:, 0], data[:, 1])
    assert bands["bend"] == pytest.approx(1640, rel=0.02)
    assert bands["stretch"] == pytest.approx(3400, rel=0.02)
    with pytest.raises(InputError, match="time between stored frames"):
        _cli([str(traj), "--timestep", "1.0", "-o", str(out), "--quiet"])


def test_extxyz_reporter_round_trip(tmp_path):
    openmm = pytest.importorskip("openmm")
    from openmm import app, unit

    from polmlip.integrations.openmm_reporter import ExtxyzReporter

    top = app.Topology()
    res = top.addResidue("HOH", top.addChain())
    for name, el in (("O", "O"), ("H1", "H"), ("H2", "H")):
        top.addAtom(name, app.Element.getBySymbol(el), res)
    system = openmm.System()
    for m in (15.999, 2.014, 1.008):  # one deuterium: masses must come from the System
        system.addParticle(m)
    bonds = openmm.HarmonicBondForce()
    bonds.addBond(0, 1, 0.0957, 4.0e5)
    bonds.addBond(0, 2, 0.0957, 4.0e5)
    system.addForce(bonds)
    sim = app.Simulation(top, system, openmm.VerletIntegrator(0.5 * unit.femtosecond))
    sim.context.setPositions(np.array([[0, 0, 0], [0.1, 0, 0], [-0.02, 0.09, 0]]) * unit.nanometer)
    sim.context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    path = tmp_path / "traj.extxyz"
    rep = ExtxyzReporter(str(path), 2)
    sim.reporters.append(rep)
    sim.step(6)
    rep.close()
    state = sim.context.getState(getPositions=True, getVelocities=True)
    frames = ase.io.read(path, index=":")
    assert len(frames) == 3 and frames[-1].get_chemical_symbols() == ["O", "H", "H"]
    last = frames[-1]
    pos = state.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    vel = state.getVelocities(asNumpy=True).value_in_unit(unit.angstrom / unit.femtosecond)
    assert last.positions == pytest.approx(np.asarray(pos), abs=1e-6)
    assert last.get_velocities() * units.fs == pytest.approx(np.asarray(vel), rel=1e-6, abs=1e-9)
    assert last.get_masses() == pytest.approx([15.999, 2.014, 1.008])
    assert [f.info["time_fs"] for f in frames] == pytest.approx([1.0, 2.0, 3.0])
    assert not last.pbc.any()
    ir.check_timestep(frames, 1.0)


def test_example_quick(tiny_model, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "ir_water.py"),
            "--model",
            str(tiny_model),
            "--quick",
            "-o",
            str(tmp_path / "water_ir"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "stretch" in proc.stdout
    for suffix in (".dat", ".png", "_traj.extxyz"):
        assert (tmp_path / f"water_ir{suffix}").is_file()
    frames = ase.io.read(tmp_path / "water_ir_traj.extxyz", index=":")
    assert len(frames) == 25 and np.abs(frames[-1].get_velocities()).max() > 0
