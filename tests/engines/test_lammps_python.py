"""The LAMMPS-from-Python snippet of docs/lammps.md runs exactly as written from an empty
environment (only HOME and PATH=/usr/bin:/bin, no LD_LIBRARY_PATH or LAMMPS_PLUGIN_PATH), with
this environment's Python by full path (and its mpiexec for 2 ranks), and gives the ASE
calculator's energy."""

import os
import pathlib
import re
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch

from polmlip.ase import PolMLIPCalculator
from polmlip.export.io import export_model
from polmlip.model import ModelConfig, PolMLIP

from lammps_helpers import LAMMPS_MARKS, _tool
from model_helpers import water_cluster

pytestmark = LAMMPS_MARKS

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "lammps.md"


def doc_snippet(heading="## From Python"):
    """The first ```python block under ``heading`` in docs/lammps.md."""
    text = DOC.read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE).group(1)


@pytest.mark.parametrize("ranks", [1, 2])
def test_documented_python_snippet_runs_in_a_plain_environment(tmp_path, ranks):
    code = doc_snippet()
    assert "enable_autoload()" in code and "model.pt" in code and "data.lmp" in code
    torch.manual_seed(0)
    cfg = ModelConfig(
        elements=["H", "O"], channels=4, lmax=1, num_layers=1, cutoff=3.5, kspace_method="ewald"
    )
    export_model(PolMLIP(cfg).double(), tmp_path / "model.pt")
    atoms = water_cluster(4, seed=1, box=8.0)
    atoms.wrap()
    ase.io.write(
        tmp_path / "data.lmp", atoms, format="lammps-data", specorder=["H", "O"], masses=True
    )
    (tmp_path / "snippet.py").write_text(code)

    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "snippet.py"]
    if ranks > 1:
        cmd = [_tool("mpiexec"), "-n", str(ranks)] + cmd
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    assert out.count("Loaded 1 plugins") == 1, out[-2000:]  # the plugin folder is listed once
    printed = re.findall(r"^potential energy \(eV\): (\S+)$", proc.stdout, re.MULTILINE)
    assert len(printed) == ranks, out[-2000:]  # every rank prints
    energies = np.array([float(v) for v in printed])
    assert np.isfinite(energies).all()
    energy = energies[0]
    assert np.allclose(energies, energy, rtol=1e-12, atol=0)

    atoms.calc = PolMLIPCalculator(str(tmp_path / "model.pt"))
    reference = atoms.get_potential_energy()
    assert energy == pytest.approx(reference, rel=1e-6, abs=1e-9), (energy, reference)
