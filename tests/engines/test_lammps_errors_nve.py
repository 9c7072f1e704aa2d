"""pair_style polmlip: small boxes run; NVE conserves energy; the field-MD example on 2 ranks."""

import numpy as np
import pytest
import torch

from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP

from lammps_helpers import LAMMPS_MARKS, read_thermo, run_lammps, write_inputs
from model_helpers import water_cluster

pytestmark = LAMMPS_MARKS


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "model.pt"
    cfg = ModelConfig(elements=["H", "O"], channels=6, cutoff=3.5, num_layers=2)
    export_model(PolMLIP(cfg).double(), path)
    return path


# Bad input through pair_style polmlip (missing element, units, newton, missing, corrupted,
# foreign and newer model files, overlapping atoms...) is a row of tests/robustness.


def test_small_box_is_handled(tmp_path, model_file):
    """A box smaller than the ghost cutoff (7 Å) still runs: LAMMPS supplies several images."""
    atoms = water_cluster(1, seed=1, box=4.0)
    write_inputs(tmp_path, atoms, str(model_file), ["H", "O"])
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode == 0 or "ERROR" in proc.stdout, proc.stdout[-1500:]


def test_nve_energy_conservation(tmp_path, trained_water_model):
    """Water box, 0.25 fs steps, field off, trained model: total-energy drift stays small."""
    atoms = water_cluster(8, seed=2, box=9.0)
    atoms.wrap()
    steps = 400
    write_inputs(
        tmp_path,
        atoms,
        trained_water_model,
        ["H", "O"],
        field=None,
        extra="velocity all create 300 7 dist gaussian\nfix nve all nve\n"
        "timestep 0.00025\nthermo 20",
        run=f"thermo_style custom step etotal pe ke\nthermo_modify format float %.15g\nrun {steps}",
    )
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-2000:]
    rows = read_thermo(tmp_path)
    etot = rows[:, 1]
    time_ps = rows[:, 0] * 0.25e-3
    slope = np.polyfit(time_ps, etot, 1)[0] / len(atoms)
    fluctuation = float(np.std(etot - np.polyval(np.polyfit(time_ps, etot, 1), time_ps)))
    print(f"NVE drift {slope:.3e} eV/atom/ps, fluctuation {fluctuation:.2e} eV over {steps} steps")
    assert abs(slope) < 5e-3
    assert fluctuation < 1e-3 * len(atoms)


def test_field_md_example_two_ranks(model_file, tmp_path):
    """examples/lammps_field_md.py in reduced form: static and AC runs on 2 MPI ranks."""
    import pathlib
    import re
    import subprocess
    import sys

    import numpy as np

    from polmlip.workflows.lammps_md import read_thermo

    root = pathlib.Path(__file__).resolve().parents[2]
    cmd = [sys.executable, str(root / "examples" / "lammps_field_md.py"), "--model"]
    cmd += [str(model_file), "--molecules", "8", "--steps", "10", "--dt", "0.25"]
    proc = subprocess.run(
        cmd + ["--output", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    static = read_thermo(tmp_path / "static" / "log.lammps")
    ac = read_thermo(tmp_path / "ac" / "log.lammps")
    assert np.allclose(static[:, 5:8], [0.0, 0.0, 0.1])  # v_ex v_ey v_ez columns
    t = ac[:, 1] * 1000.0  # ps -> fs
    assert np.allclose(ac[:, 5], 0.1 * np.sin(2 * np.pi * t / 20.0), atol=1e-9)
    grid = re.search(
        r"(\d+) by (\d+) by (\d+) MPI processor grid", (tmp_path / "ac" / "log.lammps").read_text()
    )
    assert grid and np.prod([int(g) for g in grid.groups()]) == 2
    assert (tmp_path / "field_md.png").stat().st_size > 1000
