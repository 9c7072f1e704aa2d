"""Field-driven MD in LAMMPS with ``pair_style polmlip`` (used by the demo)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import ase.io
import numpy as np


def run_lammps_field_md(
    atoms,
    model: str,
    elements,
    workdir: pathlib.Path,
    steps: int = 200,
    ranks: int = 2,
    amplitude: float = 0.2,
    period_fs: float = 50.0,
) -> dict:
    """NVE MD of ``atoms`` (placed in a periodic box) under E_x = A sin(2π t / T) on ``ranks``.

    Returns time (fs), total energy (eV) and potential energy (eV) arrays from the thermo output.
    """
    bindir = pathlib.Path(sys.executable).parent
    lmp = bindir / "lmp"
    mpiexec = bindir / "mpiexec"
    workdir.mkdir(parents=True, exist_ok=True)
    atoms = atoms.copy()
    if not atoms.pbc.all():
        atoms.center(vacuum=8.0)
        atoms.set_pbc(True)
    ase.io.write(
        workdir / "data.lmp", atoms, format="lammps-data", specorder=list(elements), masses=True
    )
    (workdir / "in.field").write_text(f"""# polmlip demo: NVE under an AC field
units metal
atom_style atomic
boundary p p p
read_data data.lmp
variable ex equal {amplitude}*sin(2*PI*step*dt*1000/{period_fs})
pair_style polmlip {pathlib.Path(model).resolve()} efield v_ex 0 0
pair_coeff * * {" ".join(elements)}
velocity all create 300 11 dist gaussian
fix nve all nve
timestep 0.0005
thermo 10
thermo_style custom step time etotal pe ke v_ex
thermo_modify format float %.10g
run {steps}
""")
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
        "field": data[:, 5],
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
