"""The documented TorchForce route (docs/openmm.md), run exactly as written in a fresh process
with an empty environment: `import polmlip` alone registers the operators the file calls."""

import os
import pathlib
import re
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch

from polmlip.export.io import export_model
from polmlip.export.torchforce import export_torchforce
from polmlip.model import ModelConfig, PolMLIP
from polmlip.units import EV_TO_KJ_PER_MOL

from model_helpers import water_cluster

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "openmm.md"


def documented_snippet() -> str:
    text = DOC.read_text()
    section = text[text.index("## TorchForce convention") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def torchforce_files(tmp_path_factory):
    work = tmp_path_factory.mktemp("torchforce_route")
    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=4, lmax=1, num_layers=1, cutoff=3.5)
    export_model(PolMLIP(cfg).double(), work / "engine.pt")
    atoms = water_cluster(4, seed=2, box=7.0)
    ase.io.write(work / "water.pdb", atoms)
    atoms = ase.io.read(work / "water.pdb")  # what the snippet reads (PDB precision)
    export_torchforce(
        work / "engine.pt", atoms.get_chemical_symbols(), work / "water_torchforce.pt", True
    )
    return work, atoms


def test_documented_torchforce_snippet_runs_in_a_fresh_process(torchforce_files):
    work, atoms = torchforce_files
    script = work / "snippet.py"
    script.write_text(documented_snippet())
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, script.name], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    energy = float(re.search(r"energy \(kJ/mol\): (\S+)", proc.stdout).group(1))
    force0 = eval(re.search(r"force on atom 0 \(kJ/mol/nm\): (\[.*\])", proc.stdout).group(1))

    from polmlip.ase import PolMLIPCalculator

    atoms.calc = PolMLIPCalculator(str(work / "engine.pt"))
    ref_e = atoms.get_potential_energy() * EV_TO_KJ_PER_MOL
    ref_f0 = atoms.get_forces()[0] * EV_TO_KJ_PER_MOL * 10.0
    assert np.isfinite(energy)
    assert energy == pytest.approx(ref_e, rel=1e-9)
    np.testing.assert_allclose(force0, ref_f0, rtol=1e-7, atol=1e-7)


def test_without_polmlip_import_the_operators_are_missing(torchforce_files):
    """The control: the same load without `import polmlip` fails, so the test above proves
    that the import registers the operators."""
    work, _ = torchforce_files
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"}
    code = "import torch; torch.jit.load('water_torchforce.pt')"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "polmlip::" in proc.stderr
