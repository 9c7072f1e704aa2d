"""The k-space settings as their own step (:class:`KSpaceTuner`): the solver's settings are
the tuner's, and multipoles that are not finite get a message that says so."""

import math

import pytest
import torch

from polmlip.electrostatics import MultipoleElectrostatics


def test_solver_settings_are_the_tuners():
    solver = MultipoleElectrostatics(sigma=0.8, real_cutoff=5.0, accuracy=1e-5)
    cell = torch.eye(3, dtype=torch.float64) * 12.0
    mags = [40.0, 3.0, 0.5]
    width, kcut, shape = solver.tuner.choose(cell, mags, ewald=False)
    assert width == solver.kspace_width(mags) > 0.8  # split on: a wider k-space Gaussian
    assert kcut == 0.0 and shape == solver.mesh_shape(cell, mags)
    _, kcut, shape = solver.tuner.choose(cell, mags, ewald=True)
    assert kcut == solver.kspace_cutoff(mags) > 0 and shape == []
    solver.set_split(False)
    assert solver.tuner.choose(cell, mags, ewald=False)[0] == 0.8
    solver.set_accuracy(1e-3)
    assert solver.tuner.accuracy == 1e-3
    coarse = math.prod(solver.mesh_shape(cell, mags))
    solver.set_accuracy(1e-7)
    assert math.prod(solver.mesh_shape(cell, mags)) > coarse


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_multipoles_are_named(bad):
    """Not 'the PME mesh exceeds max_mesh_points', which NaN magnitudes used to give."""
    solver = MultipoleElectrostatics()
    cell = torch.eye(3, dtype=torch.float64) * 10.0
    with pytest.raises(ValueError, match="multipoles are not finite"):
        solver.tuner.choose(cell, [bad, 0.0, 0.0], ewald=False)
    q = torch.tensor([1.0, bad], dtype=torch.float64)
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="multipoles are not finite"):
        solver(pos, cell, True, q)
