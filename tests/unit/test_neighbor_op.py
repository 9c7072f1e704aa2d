"""polmlip::neighbor_pairs (C++ cell list) against vesin, and the CLI's TorchForce export."""

import numpy as np
import pytest
import torch

from polmlip import ops
from polmlip.data.graph import neighbor_list

pytestmark = pytest.mark.skipif(
    ops.backend() != "native",
    reason="libpolmlip_ops is not built (run scripts/bootstrap.sh or cmake; see README)",
)


def _canonical(i, j, s):
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, s.tolist())))


@pytest.mark.parametrize("seed", range(40))
def test_cell_list_matches_vesin(seed):
    """Random triclinic cells (some smaller than the cutoff), positions outside the cell,
    open boundaries: the same ordered pairs and lattice shifts."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    cell = np.diag(rng.uniform(2, 12, 3))
    if rng.random() < 0.7:
        cell = cell + rng.uniform(-2, 2, (3, 3))
    pos = rng.uniform(-5, 15, (n, 3))
    periodic = bool(rng.random() < 0.8)
    cutoff = float(rng.uniform(1, 8))
    index, shifts = torch.ops.polmlip.neighbor_pairs(
        torch.tensor(pos), torch.tensor(cell), periodic, cutoff
    )
    i, j, s = neighbor_list(pos, cell, periodic, cutoff)
    assert _canonical(index[0], index[1], shifts.numpy()) == _canonical(i, j, s.reshape(-1, 3))


def test_bad_positions_raise():
    pos = torch.zeros(3, 3, dtype=torch.float64)
    pos[1, 2] = float("nan")
    with pytest.raises(RuntimeError, match="NaN"):
        torch.ops.polmlip.neighbor_pairs(pos, torch.eye(3, dtype=torch.float64) * 5, True, 3.0)
    with pytest.raises(RuntimeError, match="degenerate"):
        torch.ops.polmlip.neighbor_pairs(pos.nan_to_num(), torch.zeros(3, 3).double(), True, 3.0)
