"""Field-driven MD in LAMMPS with ``pair_style polmlip`` (used by the demo)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import ase.io
import numpy as np

from ..fileio import atomic_write, write_text
from .md import cumulative_field_work


def run_lammps_field_md(
    atoms,
    model: str,
    elements,
    workdir: pathlib.Path,
    steps: int = 200,
    ranks: int = 2,
    amplitude=(0.2, 0.0, 0.0),
    period_fs: float = 50.0,
    dt_fs: float = 0.5,
    temperature: float = 300.0,
) -> dict:
    """NVE MD of ``atoms`` (placed in a periodic box) on ``ranks`` MPI ranks under
    E(t) = amplitude·sin(2π t / period) V/Å, or the static field ``amplitude`` when
    ``period_fs`` is 0. ``amplitude`` is (3,) V/Å (a number means along x).

    The field components are LAMMPS equal-style variables, evaluated every step by
    ``pair_style polmlip``. Returns, one row per step from the thermo output: time (fs),
    total and potential energy (eV), the field (T, 3) V/Å, the polarization (T, 3) e·Å
    (``compute pair polmlip``) and ``field_work`` (T,) eV, the cumulative −∫ (dE/dt)·P dt
    (:func:`polmlip.workflows.md.cumulative_field_work`), so that etotal − etotal[0] −
    field_work is the integration error (dH/dt = −(dE/dt)·P).
    """
    bindir = pathlib.Path(sys.executable).parent
    lmp = bindir / "lmp"
    mpiexec = bindir / "mpiexec"
    workdir.mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    if not atoms.pbc.all():
        atoms.center(vacuum=8.0)
        atoms.set_pbc(True)
    atomic_write(
        workdir / "data.lmp",
        lambda tmp: ase.io.write(
            tmp, atoms, format="lammps-data", specorder=list(elements), masses=True
        ),
    )
    amp = np.broadcast_to(np.asarray(amplitude, dtype=float), (3,)) * (
        np.eye(3)[0] if np.ndim(amplitude) == 0 else 1.0
    )
    if period_fs > 0:
        var = [f"{float(a)!r}*sin(2*PI*step*dt*1000/{float(period_fs)!r})" for a in amp]
    else:
        var = [repr(float(a)) for a in amp]
    write_text(
        workdir / "in.field",
        f"""# polmlip: NVE under an applied field
units metal
atom_style atomic
boundary p p p
read_data data.lmp
variable ex equal {var[0]}
variable ey equal {var[1]}
variable ez equal {var[2]}
pair_style polmlip {pathlib.Path(model).resolve()} efield v_ex v_ey v_ez
pair_coeff * * {" ".join(elements)}
compute P all pair polmlip
velocity all create {temperature} 11 dist gaussian
fix nve all nve
timestep {dt_fs / 1000.0!r}
thermo 1
thermo_style custom step time etotal pe ke v_ex v_ey v_ez c_P[1] c_P[2] c_P[3]
thermo_modify format float %.15g
run {steps}
""",
    )
    cmd = [str(lmp), "-in", "in.field", "-log", "log.lammps"]
    if ranks > 1:
        cmd = [str(mpiexec), "-n", str(ranks)] + cmd
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-1500:]
        raise RuntimeError(f"LAMMPS failed (see {workdir / 'log.lammps'}):\n{tail}")
    data = read_thermo(workdir / "log.lammps")
    return {
        "time": data[:, 1] * 1000.0,
        "etotal": data[:, 2],
        "pe": data[:, 3],
        "field": data[:, 5:8],
        "polarization": data[:, 8:11],
        "field_work": cumulative_field_work(data[:, 5:8], data[:, 8:11]),
    }


def read_thermo(log_path: pathlib.Path) -> np.ndarray:
    """Numeric rows of the first thermo block of a LAMMPS log (one row per output step)."""
    lines = pathlib.Path(log_path).read_text().splitlines()
    start = [k for k, line in enumerate(lines) if line.strip().startswith("Step")][0] + 1
    rows = []
    for line in lines[start:]:
        parts = line.split()
        if not parts or not parts[0].lstrip("-").isdigit():
            break
        rows.append([float(v) for v in parts])
    return np.array(rows)
