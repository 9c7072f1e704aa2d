"""pair_style polmlip refuses overlapping atoms (closer than the model's min_distance, 0.1 Å)
with an error that names both atom IDs and the distance, as ASE and OpenMM do, at 1 rank
(images folded onto owners) and at 2 ranks (ghost atoms; the closest pair over all ranks is
reported through error->all, so the message is on the screen and in the log whichever rank
found it)."""

import re

import numpy as np
import pytest
import torch

from polmlip.export.io import export_model
from polmlip.model import ModelConfig, PolMLIP

from lammps_helpers import LAMMPS_MARKS, read_thermo, run_lammps, write_inputs
from model_helpers import water_cluster

pytestmark = LAMMPS_MARKS


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "model.pt"
    cfg = ModelConfig(
        elements=["H", "O"], channels=4, lmax=1, num_layers=1, cutoff=3.5, kspace_method="ewald"
    )
    export_model(PolMLIP(cfg).double(), path)
    return str(path)


def _overlapping(distance, far=False):
    """Water in a periodic box with atom ID 6 (an H) moved to ``distance`` Å from ID 5 (the
    other H of its molecule). ``far``: a 20 Å box with the pair near y = 15 Å, which on 2 ranks
    (split along y, ghosts to 3.5 + 0.5 Å) only rank 1 sees."""
    if far:
        atoms = water_cluster(3, seed=1, box=8.0)
        atoms.set_cell(np.diag([8.0, 20.0, 8.0]))
        atoms.positions += [0.0, 15.0 - atoms.positions[4, 1], 0.0]
    else:
        atoms = water_cluster(4, seed=1, box=8.0)
    pos = atoms.get_positions()
    pos[5] = pos[4] + [distance, 0.0, 0.0]
    atoms.set_positions(pos)
    atoms.wrap()
    return atoms


def _write(tmp_path, atoms, model_file):
    # skin 0.5: the ghost region (cutoff + skin) leaves part of the 20 Å box unseen by rank 0
    # (without the Ewald split, whose real-space pairs would widen it to 9.5 Å)
    write_inputs(
        tmp_path,
        atoms,
        model_file,
        ["H", "O"],
        field=None,
        extra="neighbor 0.5 bin",
        pair_extra="ewald_split no",
    )


@pytest.mark.parametrize("ranks", [1, 2])
@pytest.mark.parametrize("distance", [0.0, 0.01, 0.05])
def test_overlap_is_refused(tmp_path, model_file, distance, ranks):
    _write(tmp_path, _overlapping(distance), model_file)
    proc = run_lammps(tmp_path, ranks, timeout=300)
    out = proc.stdout + proc.stderr
    log = (tmp_path / "log.lammps").read_text() if (tmp_path / "log.lammps").is_file() else ""
    assert proc.returncode != 0, out[-1500:]
    expected = (
        f"pair_style polmlip: atoms 5 and 6 overlap (distance {distance:.3g} Å < 0.1 Å, "
        "the model's minimum distance)"
    )
    assert f"ERROR: {expected}" in out, out[-1500:]
    assert expected in log, log[-1500:]
    assert not re.search(r"\bnan\b", out + log, re.IGNORECASE), out[-1500:]
    assert not re.search(r"^\s*0\s", log, re.MULTILINE), log[-1500:]  # no thermo row printed


def test_overlap_seen_only_by_rank_1_is_reported(tmp_path, model_file):
    _write(tmp_path, _overlapping(0.02, far=True), model_file)
    proc = run_lammps(tmp_path, 2, timeout=300)
    out = proc.stdout + proc.stderr
    log = (tmp_path / "log.lammps").read_text()
    assert proc.returncode != 0, out[-1500:]
    assert "1 by 2 by 1 MPI processor grid" in log and "ghost atom cutoff = 4\n" in log, log
    expected = "ERROR: pair_style polmlip: atoms 5 and 6 overlap (distance 0.02 Å < 0.1 Å"
    assert expected in out and expected in log, out[-1500:]


@pytest.mark.parametrize("ranks", [1, 2])
def test_close_but_allowed_pair_runs(tmp_path, model_file, ranks):
    _write(tmp_path, _overlapping(0.3), model_file)
    proc = run_lammps(tmp_path, ranks, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-1500:]
    pe = read_thermo(tmp_path)[0, 1]
    assert np.isfinite(pe)
