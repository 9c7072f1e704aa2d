"""Bad input gets a clear polmlip error, eager and scripted, never a deep torch traceback."""

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.errors import InputError, reraise_clean

from helpers import random_sites

CELL = torch.eye(3, dtype=torch.float64) * 6.0


def _sites():
    return random_sites(8, CELL, seed=0)


@pytest.mark.parametrize("scripted", [False, True])
@pytest.mark.parametrize(
    "cell,match",
    [
        (torch.tensor([[5.0, 0, 0], [10.0, 0, 0], [0, 0, 5.0]], dtype=torch.float64), "singular"),
        (torch.zeros(3, 3, dtype=torch.float64), "zero-length"),
        (torch.tensor([[5.0, 0, 0], [0, float("nan"), 0], [0, 0, 5]], dtype=torch.float64), "NaN"),
        (torch.eye(2, dtype=torch.float64), "shape"),
    ],
)
def test_bad_cells(scripted, cell, match):
    pos, q, mu, th = _sites()
    solver = MultipoleElectrostatics()
    if scripted:
        solver = torch.jit.script(solver)
    with pytest.raises(InputError, match=match):
        with reraise_clean():
            solver(pos, cell, True, q, mu, th)


@pytest.mark.parametrize("scripted", [False, True])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_positions(scripted, value):
    pos, q, mu, th = _sites()
    pos[3, 1] = value
    solver = MultipoleElectrostatics()
    if scripted:
        solver = torch.jit.script(solver)
    with pytest.raises(InputError, match="NaN or inf.*index 3"):
        with reraise_clean():
            solver(pos, CELL, True, q, mu, th)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan")])
def test_non_positive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma must be a positive width"):
        MultipoleElectrostatics(sigma=sigma)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "fmm"}, "method must be"),
        ({"spline_order": 3}, "spline_order"),
        ({"accuracy": 0.0}, "accuracy"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultipoleElectrostatics(**kwargs)


def test_mesh_request_exceeding_memory_is_refused_before_allocation():
    pos, q, mu, th = _sites()
    huge = torch.eye(3, dtype=torch.float64) * 5000.0
    solver = MultipoleElectrostatics(accuracy=1e-8)
    with pytest.raises(InputError, match="exceeds max_mesh_points"):
        with reraise_clean():
            solver(pos, huge, True, q, mu, th)


def test_non_neutral_cell_uses_neutralizing_background():
    """Documented behaviour: charged cells are summed with a uniform neutralizing background,
    so the energy is finite and translation invariant; adding a constant charge per site
    changes φ by a uniform shift only for the k≠0-free part (checked via forces)."""
    pos, q, _, _ = _sites()
    q = q + 0.3
    solver = MultipoleElectrostatics(method="ewald", accuracy=1e-10)
    e1 = solver(pos, CELL, True, q)[0].sum()
    e2 = solver(pos + torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64), CELL, True, q)[0].sum()
    assert torch.isfinite(e1)
    assert float(e1) == pytest.approx(float(e2), rel=1e-10)
